//! `--once`: one snapshot, printed for a pipe or a report.

use crate::api::{ApiClient, FetchError, Snapshot};
use crate::app::{human_bytes, plural};
use crate::ui::VIOLATION_MARKER;
use crate::OutputFormat;

/// Fetch once and render in `format`: an aligned text table, the API's JSON
/// (pretty-printed) or the server's CSV export.
pub async fn render(client: &ApiClient, format: OutputFormat) -> Result<String, FetchError> {
    match format {
        OutputFormat::Table => Ok(table(&client.conversations().await?)),
        OutputFormat::Json => {
            let snapshot = client.conversations().await?;
            serde_json::to_string_pretty(&snapshot)
                .map(|mut text| {
                    text.push('\n');
                    text
                })
                .map_err(|e| FetchError::Decode(e.to_string()))
        }
        OutputFormat::Csv => client.conversations_csv().await,
    }
}

/// Plain text: a totals line, then one line per conversation; violations
/// start with `!` and end with their rule.
pub fn table(snapshot: &Snapshot) -> String {
    let t = snapshot.totals;
    let mut out = format!(
        "{}, {}, {}, {}, {}\n",
        plural(t.conversations, "conversation"),
        plural(t.flows, "flow"),
        plural(t.packets, "packet"),
        human_bytes(t.bytes),
        plural(t.violations, "violation")
    );
    let header = [
        "",
        "SOURCE → DESTINATION",
        "ZONES",
        "SERVICE",
        "BYTES",
        "PACKETS",
        "VERDICT",
        "SAME HOST",
        "RULE",
    ];
    let mut rows: Vec<[String; 9]> = vec![header.map(String::from)];
    for c in &snapshot.conversations {
        rows.push([
            if c.is_violation() {
                VIOLATION_MARKER
            } else {
                ""
            }
            .to_string(),
            format!("{} → {}", c.source(), c.destination()),
            format!("{} → {}", c.src_zone, c.dst_zone),
            c.service(),
            human_bytes(c.bytes),
            c.packets.to_string(),
            c.verdict.clone(),
            if c.same_host { "yes" } else { "no" }.to_string(),
            c.rule.clone(),
        ]);
    }
    let mut widths = [0usize; 9];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            let pad = width - cell.chars().count();
            // Bytes and packets are right-aligned, the rest left-aligned.
            if i == 4 || i == 5 {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
            line.push(' ');
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tests::snapshot;

    #[test]
    fn table_marks_violations_and_aligns() {
        let text = table(&snapshot());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "3 conversations, 6 flows, 60 packets, 3.87 MiB, 1 violation"
        );
        assert!(lines[1].starts_with("  SOURCE → DESTINATION"));
        let violation = lines.iter().find(|l| l.contains("payroll-01")).unwrap();
        assert!(
            violation.starts_with("! payroll-01 → fin-web-01"),
            "{violation}"
        );
        assert!(
            violation
                .ends_with("violation yes       payroll must never talk to the finance front end"),
            "{violation}"
        );
        // Columns line up: every row puts the service at the same offset.
        let at: Vec<usize> = lines[2..]
            .iter()
            .map(|l| l.find("TCP/443").unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] == w[1]), "{text}");
    }
}
