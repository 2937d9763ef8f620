//! Errors and helpers shared by the TOML files `core` reads (the inventory
//! and the policy).
//!
//! Every problem in such a file, whether TOML syntax, a wrong type, an
//! unknown key or a semantic check after parsing, becomes one
//! [`ConfigError`] naming the file, the 1-based line and the field, so an
//! operator can go straight to it: `lab/policy.toml:47: rule.to: unknown zone "dbs"`.

use std::ops::Range;
use std::path::Path;

/// A problem in a configuration file, located by file, line and field.
///
/// `line` is 1-based; 0 means the problem is not inside the text (the file
/// could not be read). `field` is the key path in the file's own words, such
/// as `vm.macs` or `rule.ports`; empty when no key is involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl ConfigError {
    /// An error at a byte offset of `text`.
    pub(crate) fn at(
        origin: &str,
        text: &str,
        offset: usize,
        field: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: origin.to_string(),
            line: line_of(text, offset),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Turn a `toml` deserialization error into a located error.
    ///
    /// The line comes from the error's span. The field is the key named in
    /// the message (`missing field`, `unknown field`, `duplicate key`), or
    /// else the key written on the line the span starts in.
    pub(crate) fn from_toml(origin: &str, text: &str, err: &toml::de::Error) -> ConfigError {
        let span = err.span().unwrap_or(0..0);
        let message = err.message().trim().to_string();
        let field = quoted_key(&message)
            .or_else(|| key_on_line(text, &span))
            .unwrap_or_default();
        ConfigError::at(origin, text, span.start, &field, message)
    }
}

/// Read a configuration file; an unreadable file is an error at line 0.
pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|err| ConfigError {
        file: path.display().to_string(),
        line: 0,
        field: String::new(),
        message: format!("cannot read: {err}"),
    })
}

/// 1-based line of a byte offset (offsets past the end count as the last line).
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key in backquotes of messages such as "missing field `name`".
fn quoted_key(message: &str) -> Option<String> {
    const MARKERS: [&str; 3] = ["missing field `", "unknown field `", "duplicate key `"];
    MARKERS.iter().find_map(|marker| {
        let start = message.find(marker)? + marker.len();
        let len = message[start..].find('`')?;
        Some(message[start..start + len].to_string())
    })
}

/// The bare key written before `=` on the line where `span` starts.
fn key_on_line(text: &str, span: &Range<usize>) -> Option<String> {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let (key, _) = text.get(line_start..line_end)?.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    bare.then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        count: u32,
    }

    fn parse(text: &str) -> ConfigError {
        match toml::from_str::<Sample>(text) {
            Ok(sample) => panic!("parsed {sample:?}"),
            Err(err) => ConfigError::from_toml("t.toml", text, &err),
        }
    }

    #[test]
    fn line_of_counts_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }

    #[test]
    fn wrong_type_names_the_key_on_its_line() {
        let err = parse("name = \"x\"\n\ncount = \"three\"\n");
        assert_eq!((err.line, err.field.as_str()), (3, "count"), "{err}");
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let err = parse("name = \"x\"\ncount = 1\ncolour = 2\n");
        assert_eq!((err.line, err.field.as_str()), (3, "colour"), "{err}");
        let err = parse("name = \"x\"\n");
        assert_eq!(err.field, "count", "{err}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let err = parse("name = \"x\"\ncount = = 1\n");
        assert_eq!(err.line, 2, "{err}");
        assert!(err.to_string().starts_with("t.toml:2: "), "{err}");
    }

    #[test]
    fn unreadable_file_is_line_zero() {
        let err = read(Path::new("/nonexistent/eastwest/inventory.toml"))
            .expect_err("file does not exist");
        assert_eq!(err.line, 0);
        assert!(err.file.ends_with("inventory.toml"));
    }
}
