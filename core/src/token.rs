//! Bearer tokens kept as SHA-256 digests: what a config file holds instead
//! of the token (the dashboard's `auth.tokens.sha256`, the exporter's
//! `evidence.token_sha256`), and the check of a presented token against
//! them.

use sha2::{Digest, Sha256};

/// SHA-256 of a token.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// SHA-256 of a token, as lower-case hex (what a config file holds).
pub fn digest_hex(token: &str) -> String {
    digest(token).iter().map(|b| format!("{b:02x}")).collect()
}

/// Parse 64 hex digits into a digest.
pub fn parse_digest_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The bearer token of an `Authorization` header value, if any.
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The index of the first of `digests` that is `token`'s. Every entry is
/// compared, byte by byte without branching on the content, so the time
/// taken does not tell how much of a digest matched.
pub fn find<'a>(digests: impl IntoIterator<Item = &'a [u8; 32]>, token: &str) -> Option<usize> {
    let presented = digest(token);
    let mut found = None;
    for (i, entry) in digests.into_iter().enumerate() {
        let diff = entry
            .iter()
            .zip(presented.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 && found.is_none() {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(parse_digest_hex(&digest_hex("abc")), Some(digest("abc")));
        assert!(parse_digest_hex("ba78").is_none());
        assert!(parse_digest_hex(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn finds_the_matching_digest() {
        let digests = [digest("one"), digest("two")];
        assert_eq!(find(&digests, "two"), Some(1));
        assert_eq!(find(&digests, "three"), None);
        assert_eq!(bearer(Some("Bearer  two ")), Some("two"));
        assert_eq!(bearer(Some("Basic two")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
