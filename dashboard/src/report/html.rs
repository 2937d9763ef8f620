//! The report as a standalone HTML page (no scripts, nothing loaded), a
//! `maud` template: every value is escaped when the page is built, the
//! markup is checked when the crate compiles.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::Report;

const REPORT_CSS: &str = "body{font:11pt/1.4 sans-serif;margin:2em;color:#111}\
h1{font-size:18pt;margin:0 0 .2em}h2{font-size:13pt;margin:1.4em 0 .4em;border-bottom:1px solid #999}\
table{border-collapse:collapse;width:100%;font-size:9.5pt}th,td{border:1px solid #bbb;padding:3px 6px;text-align:left}\
th{background:#eee}.summary{font-size:12pt;padding:.6em;border:2px solid #333;margin:1em 0}\
.bad{color:#b00;font-weight:bold}.none{color:#555;font-style:italic}.meta{color:#444}";

/// A table of `rows` under `headers`, or the sentence `empty` when there
/// are none.
fn table(headers: &[&str], rows: Vec<Vec<String>>, empty: &str) -> Markup {
    if rows.is_empty() {
        return html! { p.none { (empty) } };
    }
    html! {
        table {
            thead { tr { @for h in headers { th { (h) } } } }
            tbody {
                @for row in &rows {
                    tr { @for cell in row { td { (cell) } } }
                }
            }
        }
    }
}

/// The report as a standalone HTML page (no scripts, nothing loaded).
pub fn to_html(report: &Report) -> String {
    let bad = report.summary.violations > 0 || !report.summary.hosts_incomplete.is_empty();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "eastwest compliance report" }
                style { (PreEscaped(REPORT_CSS)) }
            }
            body {
                h1 { "East-west segmentation compliance report" }
                p.meta {
                    "Period: " (time_text(report.from_ms).replace('—', "the first flow"))
                    " to " (time_text(report.to_ms).replace('—', "the last flow"))
                    " · flows from " (time_text(report.first_flow_ms))
                    " to " (time_text(report.last_flow_ms))
                    " · dataset: " (report.dataset.as_deref().unwrap_or("every dataset"))
                    " · generated " (time_text(Some(report.generated_ms)))
                }
                p.summary.bad[bad] { (report.summary.statement) }
                h2 { "Violations by zone pair and severity" }
                (violations(report))
                h2 { "Violating conversations and their evidence" }
                (evidence(report))
                h2 { "Intra-host cross-zone traffic" }
                (intra_host(report))
                h2 { "Co-residency periods" }
                (coresidency(report))
                h2 { "Policy revisions in force" }
                (revisions(report))
                h2 { "Mirror coverage per host" }
                (coverage(report))
            }
        }
    };
    page.into_string()
}

/// One row per violating conversation, with links to its flows and, when
/// an exporter that saw it keeps a packet store, its packets.
fn evidence(report: &Report) -> Markup {
    if report.violating_conversations.is_empty() {
        return html! { p.none { "No violating conversations." } };
    }
    html! {
        table {
            thead { tr {
                @for h in ["client", "server", "protocol/port", "rule", "severity", "first seen", "last seen", "flows", "evidence"] {
                    th { (h) }
                }
            } }
            tbody {
                @for v in &report.violating_conversations {
                    tr {
                        td { (v.client_vm) " (" (v.client_zone) ")" }
                        td { (v.server_vm) " (" (v.server_zone) ")" }
                        td { (v.proto) "/" (v.server_port) }
                        td { (v.rule) }
                        td { (v.severity) }
                        td { (time_text(Some(v.first_ms))) }
                        td { (time_text(Some(v.last_ms))) }
                        td { (v.flows) }
                        td {
                            a.flows href=(v.flows_url) { "flows" }
                            @if let Some(url) = &v.packets_url {
                                " · " a.packets href=(url) { "packets" }
                            } @else {
                                " · " span.none { "no packet store" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn violations(report: &Report) -> Markup {
    table(
        &[
            "client zone",
            "server zone",
            "severity",
            "conversations",
            "flows",
            "bytes",
            "first seen",
            "last seen",
        ],
        report
            .violations_by_zone_pair
            .iter()
            .map(|v| {
                vec![
                    v.client_zone.clone(),
                    v.server_zone.clone(),
                    v.severity.clone(),
                    v.conversations.to_string(),
                    v.flows.to_string(),
                    v.bytes.to_string(),
                    time_text(Some(v.first_ms)),
                    time_text(Some(v.last_ms)),
                ]
            })
            .collect(),
        "No violating conversations in the period.",
    )
}

fn intra_host(report: &Report) -> Markup {
    table(
        &[
            "host",
            "client VM",
            "client zone",
            "server VM",
            "server zone",
            "verdict",
            "flows",
            "bytes",
        ],
        report
            .intra_host_cross_zone
            .iter()
            .map(|c| {
                vec![
                    c.host.clone(),
                    c.client_vm.clone(),
                    c.client_zone.clone(),
                    c.server_vm.clone(),
                    c.server_zone.clone(),
                    c.verdict.clone(),
                    c.flows.to_string(),
                    c.bytes.to_string(),
                ]
            })
            .collect(),
        "No traffic between zones was switched inside a host.",
    )
}

fn coresidency(report: &Report) -> Markup {
    let Some(periods) = &report.coresidency else {
        return html! {
            p.none { "Not available from this dashboard: see GET /api/v1/coresidency." }
        };
    };
    table(
        &["host", "zones", "VMs", "since", "until"],
        periods
            .iter()
            .map(|p| {
                vec![
                    p.host.clone(),
                    p.zones.join(" and "),
                    p.vms.join(" and "),
                    match p.since_ms {
                        0 => "inventory start".into(),
                        since => time_text(Some(since)),
                    },
                    match p.until_ms {
                        None => "still".into(),
                        until => time_text(until),
                    },
                ]
            })
            .collect(),
        "No zones that must stay apart shared a host.",
    )
}

fn revisions(report: &Report) -> Markup {
    table(
        &["revision", "first flow judged", "last flow judged", "flows"],
        report
            .policy_revisions
            .iter()
            .map(|r| {
                vec![
                    r.revision.clone(),
                    time_text(Some(r.first_ms)),
                    time_text(Some(r.last_ms)),
                    r.flows.to_string(),
                ]
            })
            .collect(),
        "No flows were judged in the period.",
    )
}

fn coverage(report: &Report) -> Markup {
    table(
        &[
            "host",
            "exporters",
            "flows observed",
            "first",
            "last",
            "sequence gaps",
            "drops",
            "complete",
        ],
        report
            .coverage
            .iter()
            .map(|c| {
                vec![
                    c.host.clone(),
                    c.exporters.join(" "),
                    c.flows.to_string(),
                    time_text(c.first_ms),
                    time_text(c.last_ms),
                    c.sequence_gaps.to_string(),
                    c.drops.to_string(),
                    if c.complete { "yes" } else { "NO" }.to_string(),
                ]
            })
            .collect(),
        "No host observed any traffic in the period.",
    )
}

/// Milliseconds as `2026-11-02 09:00:00.200Z`, or `—`.
pub(super) fn time_text(ms: Option<u64>) -> String {
    let Some(ms) = ms else {
        return "—".into();
    };
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.millisecond()
            )
        })
        .unwrap_or_else(|| ms.to_string())
}
