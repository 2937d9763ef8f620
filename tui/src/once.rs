//! `--once`: one snapshot of the conversations, printed for a pipe or a
//! report.

use crate::api::{ConversationsPage, FetchError, HttpClient, Query};
use crate::app::{human_bytes, plural, Filter};
use crate::ui::{UNKNOWN_MARKER, VIOLATION_MARKER};
use crate::OutputFormat;

/// Fetch once and render in `format`: an aligned text table, the API's JSON
/// (pretty-printed) or the server's CSV export. The filter's structured
/// terms go to the server; its free words filter the table and the JSON
/// (the CSV is the server's, unchanged).
pub async fn render(
    client: &HttpClient,
    query: &Query,
    filter: &Filter,
    format: OutputFormat,
) -> Result<String, FetchError> {
    if format == OutputFormat::Csv {
        return client.conversations_csv(query).await;
    }
    let mut page = client.conversations(query).await?;
    page.conversations.retain(|c| filter.matches(c));
    match format {
        OutputFormat::Table | OutputFormat::Csv => Ok(table(&page)),
        OutputFormat::Json => serde_json::to_string_pretty(&page)
            .map(|mut text| {
                text.push('\n');
                text
            })
            .map_err(|e| FetchError::Decode {
                path: "/api/v1/conversations".into(),
                reason: e.to_string(),
            }),
    }
}

/// Plain text: a totals line, then one line per conversation; violations
/// start with `!` and end with their rule.
pub fn table(page: &ConversationsPage) -> String {
    let t = page.totals;
    let mut out = format!(
        "{}, {}, {}, {}, {}\n",
        plural(t.conversations, "conversation"),
        plural(t.flows, "flow"),
        plural(t.packets, "packet"),
        human_bytes(t.bytes),
        plural(t.violations, "violation")
    );
    const COLUMNS: usize = 10;
    let header = [
        "",
        "CLIENT → SERVER",
        "ZONES",
        "HOST",
        "SERVICE",
        "BYTES →",
        "BYTES ←",
        "PACKETS",
        "VERDICT",
        "RULE",
    ];
    let mut rows: Vec<[String; COLUMNS]> = vec![header.map(String::from)];
    for c in &page.conversations {
        let marker = if c.is_violation() {
            VIOLATION_MARKER
        } else if c.verdict == crate::api::VerdictKind::Unknown {
            UNKNOWN_MARKER
        } else {
            ""
        };
        rows.push([
            marker.to_string(),
            format!("{} → {}", c.client(), c.server()),
            format!("{} → {}", c.client_zone, c.server_zone),
            if c.same_host {
                format!("{}*", c.host())
            } else {
                c.host()
            },
            c.service(),
            human_bytes(c.bytes_fwd),
            human_bytes(c.bytes_rev),
            c.packets().to_string(),
            c.verdict.to_string(),
            c.rule.clone(),
        ]);
    }
    let mut widths = [0usize; COLUMNS];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            let pad = width - cell.chars().count();
            // Byte and packet counts are right-aligned, the rest left-aligned.
            if (5..=7).contains(&i) {
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
    use crate::app::tests::{lab, page, RULE};

    #[test]
    fn table_marks_violations_and_aligns() {
        let text = table(&page(lab()));
        insta::assert_snapshot!(text);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("  CLIENT → SERVER"));
        let violation = lines.iter().find(|l| l.contains("payroll-01")).unwrap();
        assert!(
            violation.starts_with("! fin-fe-01 → payroll-01"),
            "{violation}"
        );
        assert!(violation.ends_with(RULE), "{violation}");
        // Columns line up: every row puts the service at the same offset.
        let at: Vec<usize> = lines[2..]
            .iter()
            .map(|l| l[..l.find("TCP/").unwrap()].chars().count())
            .collect();
        assert!(at.windows(2).all(|w| w[0] == w[1]), "{text}");
    }
}
