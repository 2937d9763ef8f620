//! Errors and helpers shared by the TOML files `core` reads (the inventory
//! and the policy).
//!
//! Every problem in such a file, whether TOML syntax, a wrong type, an
//! unknown key or a semantic check after parsing, becomes one
//! [`ConfigError`] naming the file, the 1-based line and the field, so an
//! operator can go straight to it: `lab/policy.toml:47: rule.to: unknown zone "dbs"`.

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
    /// the message (`missing field`, `unknown field`, `duplicate key`), a
    /// broken table header as written, or else the key written on the line
    /// the span starts in.
    pub(crate) fn from_toml(origin: &str, text: &str, err: &toml::de::Error) -> ConfigError {
        let span = err.span().unwrap_or(0..0);
        let message = err.message().trim().to_string();
        let (table, key_above) = locate(text, span.start);
        let key = quoted_key(&message).or(key_above);
        let field = match (table, key) {
            (Some(table), Some(key)) => format!("{table}.{key}"),
            (None, Some(key)) => key,
            (Some(table), None) => table,
            (None, None) => String::new(),
        };
        ConfigError::at(origin, text, span.start, &field, message)
    }
}

/// Read a configuration file; an unreadable file is an error at line 0.
/// Read an inventory or policy file whole. An empty file is an error, not
/// an empty inventory or policy: it is what a reload sees in the moment a
/// file is being rewritten in place (truncated, then written), and taking it
/// would judge every flow `unknown` until the next reload. Replace such files
/// by renaming a new one over them.
pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    let error = |message: String| ConfigError {
        file: path.display().to_string(),
        line: 0,
        field: String::new(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|err| error(format!("cannot read: {err}")))?;
    if text.trim().is_empty() {
        return Err(error(
            "the file is empty (still being written? replace it by renaming a new file over it)"
                .into(),
        ));
    }
    Ok(text)
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

/// Line numbers of byte offsets in one text: the line starts, found once,
/// then a binary search per offset ([`line_of`] scans the text each time,
/// which is quadratic over an inventory of thousands of VMs).
pub(crate) struct Lines {
    newlines: Vec<usize>,
}

impl Lines {
    pub(crate) fn new(text: &str) -> Lines {
        let newlines = text
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i)
            .collect();
        Lines { newlines }
    }

    /// [`line_of`] the text this was built from.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&n| n < offset) + 1
    }
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

/// The table header (`[[vm]]` → `vm`) and the key (`vlan = ...`) in force
/// at byte `offset`: scanning up from its line, the first `key =` line
/// before any header, and the first header.
fn locate(text: &str, offset: usize) -> (Option<String>, Option<String>) {
    let offset = offset.min(text.len());
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let own_line = text[..line_end].lines().next_back().unwrap_or("").trim();
    if own_line.starts_with('[') && header(own_line).is_none() {
        // A broken header (`[[zone]`): name it, not a key of the table above.
        return (None, Some(own_line.to_string()));
    }
    let mut key = None;
    for line in text[..line_end].lines().rev() {
        let line = line.trim();
        if let Some(table) = header(line) {
            return (Some(table.to_string()), key);
        }
        if key.is_none() {
            key = line
                .split_once('=')
                .and_then(|(k, _)| bare_key(k.trim()))
                .map(str::to_string);
        }
    }
    (None, key)
}

/// `vm` of a `[[vm]]` or `[vm]` header line.
fn header(line: &str) -> Option<&str> {
    let inner = line
        .strip_prefix("[[")
        .and_then(|l| l.strip_suffix("]]"))
        .or_else(|| line.strip_prefix('[').and_then(|l| l.strip_suffix(']')))?;
    bare_key(inner.trim())
}

/// A bare (or fully quoted) TOML key, dotted parts allowed.
fn bare_key(key: &str) -> Option<&str> {
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .unwrap_or(key);
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    bare.then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_refused_with_its_name() {
        let path = std::env::temp_dir().join(format!("eastwest-empty-{}.toml", std::process::id()));
        std::fs::write(&path, " \n").unwrap();
        let err = read(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(err.file, path.display().to_string());
        assert!(err.message.contains("the file is empty"), "{err}");
        let policy = crate::policy::Policy::load(&path);
        assert!(policy.is_err(), "a missing file is an error too");
    }

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

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Tables {
        item: Vec<Sample>,
    }

    fn parse_tables(text: &str) -> ConfigError {
        match toml::from_str::<Tables>(text) {
            Ok(tables) => panic!("parsed {tables:?}"),
            Err(err) => ConfigError::from_toml("t.toml", text, &err),
        }
    }

    #[test]
    fn fields_inside_tables_carry_the_table_name() {
        let text = "[[item]]\nname = \"a\"\ncount = 1\n\n[[item]]\nname = \"b\"\ncount = -1\n";
        let err = parse_tables(text);
        assert_eq!((err.line, err.field.as_str()), (7, "item.count"), "{err}");
        let text = "[[item]]\nname = \"a\"\ncount = 1\nsize = 2\n";
        let err = parse_tables(text);
        assert_eq!((err.line, err.field.as_str()), (4, "item.size"), "{err}");
        let text = "[[item]]\nname = \"a\"\n";
        let err = parse_tables(text);
        assert_eq!(err.field, "item.count", "{err}");
    }

    #[test]
    fn key_of_a_multiline_value_is_found_above() {
        let text = "count = 1\nname = [\n  \"a=b\",\n  2,\n]\n";
        let err = parse(text);
        assert_eq!((err.line, err.field.as_str()), (2, "name"), "{err}");
        assert_eq!(
            locate("x = [\n \"a=b\",\n 3]", 17),
            (None, Some("x".into()))
        );
        assert_eq!(header("[[vm]]"), Some("vm"));
        assert_eq!(header("[\"a\", \"b\"]]"), None);
    }

    #[test]
    fn broken_header_is_named_not_the_key_above_it() {
        let text = "[[item]]\nname = \"a\"\ncount = 1\n[[item]\nname = \"b\"\n";
        let err = parse_tables(text);
        assert_eq!((err.line, err.field.as_str()), (4, "[[item]"), "{err}");
        let err = parse("name = \"x\"\n[item\n");
        assert_eq!((err.line, err.field.as_str()), (2, "[item"), "{err}");
    }

    #[test]
    fn line_of_counts_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a\nb\nc", 99), 3);
        let text = "a\nb\n\nc\n";
        let lines = Lines::new(text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(lines.line(offset), line_of(text, offset), "offset {offset}");
        }
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
