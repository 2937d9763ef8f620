//! Errors on one line with their causes.

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its causes, `err: cause: cause`
/// (a cause whose text the line already ends with is left out). A TLS
/// failure under `client error (Connect)` thus says why, e.g. `invalid
/// peer certificate: UnknownIssuer`.
#[derive(Debug)]
pub struct Chain<'a>(pub &'a dyn Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !line.ends_with(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            source = cause.source();
        }
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for E {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    #[test]
    fn causes_follow_on_one_line_without_repeats() {
        let err = E(
            "client error (Connect)",
            Some(Box::new(E(
                "invalid peer certificate: UnknownIssuer",
                Some(Box::new(E("UnknownIssuer", None))),
            ))),
        );
        assert_eq!(
            Chain(&err).to_string(),
            "client error (Connect): invalid peer certificate: UnknownIssuer"
        );
    }
}
