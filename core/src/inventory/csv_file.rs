//! VM records from a CSV file the inventory file imports.

use super::record::{At, RawRecord};
use crate::config::ConfigError;

/// Columns a VM CSV file may have (`name` is required).
pub const CSV_COLUMNS: [&str; 10] = [
    "name",
    "host",
    "macs",
    "ips",
    "port_group",
    "vlan",
    "vni",
    "tags",
    "since",
    "removed",
];

/// Split one CSV line (RFC 4180 quoting: `"a, b"`, `""` for a quote).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, '"') => return Err("a quote inside an unquoted field".into()),
            (false, ',') => {
                fields.push(std::mem::take(&mut field).trim().to_string());
                was_quoted = false;
            }
            (false, c) => {
                if was_quoted && !c.is_whitespace() {
                    return Err("text after a closing quote".into());
                }
                field.push(c);
            }
        }
    }
    if quoted {
        return Err("unterminated quote (a field cannot span lines)".into());
    }
    fields.push(field.trim().to_string());
    Ok(fields)
}

/// The VM placements of a CSV file: a header line naming the columns
/// ([`CSV_COLUMNS`], any order), then one placement per line. Lists
/// (`macs`, `ips`, `tags`) are separated by spaces or `;`. An empty cell is
/// not given: inherited from the VM's previous placement, else the default.
/// Blank lines and lines starting with `#` are skipped.
pub(super) fn csv_records(text: &str, origin: &str) -> Result<Vec<RawRecord>, ConfigError> {
    let err = |line: usize, field: &str, message: String| ConfigError {
        file: origin.to_string(),
        line,
        field: field.to_string(),
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let header = csv_fields(header).map_err(|m| err(header_line, "", m))?;
    let mut columns = Vec::with_capacity(header.len());
    for name in &header {
        let Some(&column) = CSV_COLUMNS.iter().find(|c| **c == name.as_str()) else {
            return Err(err(
                header_line,
                name,
                format!(
                    "unknown column {name:?} (columns: {})",
                    CSV_COLUMNS.join(", ")
                ),
            ));
        };
        if columns.contains(&column) {
            return Err(err(header_line, name, format!("column {name:?} twice")));
        }
        columns.push(column);
    }
    if !columns.contains(&"name") {
        return Err(err(
            header_line,
            "name",
            "the header has no name column".into(),
        ));
    }
    let mut records = Vec::new();
    for (line, text) in lines {
        let fields = csv_fields(text).map_err(|m| err(line, "", m))?;
        if fields.len() != columns.len() {
            return Err(err(
                line,
                "",
                format!(
                    "{} fields, the header has {} columns",
                    fields.len(),
                    columns.len()
                ),
            ));
        }
        let mut record = RawRecord::default();
        for (&column, value) in columns.iter().zip(fields) {
            let at = |value: String| At { value, line };
            let list = |value: &str| -> Vec<String> {
                value
                    .split(|c: char| c == ';' || c.is_whitespace())
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            let number = |value: &str| -> Result<At<u64>, ConfigError> {
                value
                    .parse::<u64>()
                    .map(|v| At { value: v, line })
                    .map_err(|_| err(line, column, format!("{value:?} is not a number")))
            };
            if column == "name" {
                record.name = at(value);
                continue;
            }
            if value.is_empty() {
                continue;
            }
            match column {
                "host" => record.host = Some(at(value)),
                "macs" => record.macs = Some(list(&value).into_iter().map(at).collect()),
                "ips" => record.ips = Some(list(&value).into_iter().map(at).collect()),
                "port_group" => record.port_group = Some(value),
                "vlan" => record.vlan = Some(number(&value)?),
                "vni" => record.vni = Some(number(&value)?),
                "tags" => record.tags = Some(list(&value)),
                "since" => record.since = Some(at(value)),
                _ => {
                    record.removed = match value.as_str() {
                        "true" | "yes" | "1" => true,
                        "false" | "no" | "0" => false,
                        _ => {
                            let msg = format!("{value:?} is not true or false");
                            return Err(err(line, column, msg));
                        }
                    }
                }
            }
        }
        if record.name.value.is_empty() {
            return Err(err(line, "name", "empty VM name".into()));
        }
        records.push(record);
    }
    Ok(records)
}
