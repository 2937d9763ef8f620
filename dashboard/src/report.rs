//! The compliance report of a period: violations by zone pair and severity,
//! intra-host cross-zone traffic, the policy revisions in force and mirror
//! coverage per host, so that "no violations" is only claimed where every
//! mirror reported; each violating conversation with a link to its packets
//! (`/api/v1/packets`) when an exporter that observed it serves a packet
//! store. Rendered as JSON, CSV (one file, a `section` column
//! first), HTML (a printable page) and PDF (that page printed by headless
//! Chromium).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::model::{csv_field, ExporterStatus, Violation};

mod html;

pub use html::to_html;

/// A policy revision and the flows it judged in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct Revision {
    pub revision: String,
    pub first_ms: u64,
    pub last_ms: u64,
    pub flows: u64,
}

/// Violating conversations of one zone pair and severity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct ZonePairViolations {
    pub client_zone: String,
    pub server_zone: String,
    pub severity: String,
    pub conversations: u64,
    pub flows: u64,
    pub bytes: u64,
    pub first_ms: u64,
    pub last_ms: u64,
}

/// A conversation switched inside one host between two zones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct IntraHost {
    pub host: String,
    pub client_vm: String,
    pub client_zone: String,
    pub server_vm: String,
    pub server_zone: String,
    pub verdict: String,
    pub flows: u64,
    pub bytes: u64,
}

/// The flows one policy revision judged at one observation point, as
/// ClickHouse returns them (from the raw flows: exact).
#[derive(Debug, Clone, Deserialize, Row)]
pub struct PointRow {
    pub revision: String,
    pub observer: String,
    pub flows: u64,
    pub first_ms: u64,
    pub last_ms: u64,
}

/// Losses an exporter counted in the period, as ClickHouse returns them.
#[derive(Debug, Clone, Deserialize, Row)]
pub struct LossRow {
    pub name: String,
    pub exporter: [u8; 16],
    pub source_id: u32,
    pub sequence_gaps: i64,
    pub drops: i64,
}

/// Mirror coverage of one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub host: String,
    /// `address/source id` of the exporters that announced this host.
    pub exporters: Vec<String>,
    /// Flows observed at this host (0: VMs ran here but nothing mirrored it).
    pub flows: u64,
    pub first_ms: Option<u64>,
    pub last_ms: Option<u64>,
    pub sequence_gaps: u64,
    pub drops: u64,
    /// Observed, reported by an exporter snapshot, with no sequence gaps
    /// and no drops.
    pub complete: bool,
}

/// Most violating conversations the report lists one by one (in the order
/// of `/api/v1/violations`); the zone-pair section counts them all.
pub const MAX_VIOLATING_CONVERSATIONS: u64 = 1000;

/// A violating conversation and where its evidence is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationEvidence {
    pub client_vm: String,
    pub client_zone: String,
    pub server_vm: String,
    pub server_zone: String,
    pub proto: u8,
    pub server_port: u16,
    pub rule: String,
    pub severity: String,
    pub first_ms: u64,
    pub last_ms: u64,
    pub flows: u64,
    /// Its raw flows (`GET` it with the same token).
    pub flows_url: String,
    /// Its packets as pcapng (`GET` it with a `responder` token): the
    /// flows' filters and window; `null` when no exporter that observed it
    /// announces a packet store (an evidence URL).
    pub packets_url: Option<String>,
}

/// The violating conversations of `violations` with their links: a packets
/// link when one of the hosts that observed it has an exporter with an
/// evidence URL among `exporters`; `dataset` added to the link.
pub fn evidence(
    violations: Vec<Violation>,
    exporters: &[ExporterStatus],
    dataset: Option<&str>,
) -> Vec<ViolationEvidence> {
    let served: std::collections::BTreeSet<&str> = exporters
        .iter()
        .filter(|e| !e.evidence_url.is_empty())
        .map(|e| e.name.as_str())
        .collect();
    violations
        .into_iter()
        .map(|v| {
            let observed = v
                .observation_points
                .iter()
                .any(|p| served.contains(p.observer.as_str()));
            let packets_url = observed.then(|| {
                let query = v.flows_url.split_once('?').map_or("", |(_, q)| q);
                let dataset = dataset
                    .map(|d| format!("&dataset={}", crate::model::percent_encode(d)))
                    .unwrap_or_default();
                format!("/api/v1/packets?{query}{dataset}")
            });
            ViolationEvidence {
                client_vm: v.client_vm,
                client_zone: v.client_zone,
                server_vm: v.server_vm,
                server_zone: v.server_zone,
                proto: v.proto,
                server_port: v.server_port,
                rule: v.rule,
                severity: v
                    .severity
                    .map_or_else(String::new, |s| s.as_str().to_string()),
                first_ms: v.first_ms,
                last_ms: v.last_ms,
                flows: v.flows,
                flows_url: v.flows_url,
                packets_url,
            }
        })
        .collect()
}

/// The conclusion an auditor reads first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub violations: u64,
    pub hosts_complete: Vec<String>,
    pub hosts_incomplete: Vec<String>,
    pub statement: String,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    pub generated_ms: u64,
    /// The coarsest table that answered part of the conversation sections
    /// (`violations_by_zone_pair`, `intra_host_cross_zone`), as other
    /// endpoints give it: their counts are exact at any resolution, their
    /// `first_ms`/`last_ms` are bucket bounds of it. The policy revisions,
    /// the coverage and `first_flow_ms`/`last_flow_ms` come from the raw
    /// flows, to the millisecond.
    pub resolution: String,
    /// The first and last packet of the flows the report covers (what an
    /// all-time report spans); `null` when it covers none.
    pub first_flow_ms: Option<u64>,
    pub last_flow_ms: Option<u64>,
    /// The dataset it covers; `null`: every dataset.
    pub dataset: Option<String>,
    pub policy_revisions: Vec<Revision>,
    pub violations_by_zone_pair: Vec<ZonePairViolations>,
    /// The violating conversations (as `/api/v1/violations` lists them, at most
    /// [`MAX_VIOLATING_CONVERSATIONS`]) with links to their flows and
    /// packets.
    pub violating_conversations: Vec<ViolationEvidence>,
    pub intra_host_cross_zone: Vec<IntraHost>,
    /// Co-residency periods; `null` until the policy module provides them.
    pub coresidency: Option<Vec<serde_json::Value>>,
    pub coverage: Vec<Coverage>,
    pub summary: Summary,
}

/// What the store found for a report.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// Flows per policy revision and observation point.
    pub points: Vec<PointRow>,
    /// Hosts where a VM of the window's conversations ran.
    pub vm_hosts: Vec<String>,
    pub violations: Vec<ZonePairViolations>,
    pub intra_host: Vec<IntraHost>,
    pub losses: Vec<LossRow>,
}

/// What was observed at a host (nothing: VMs ran there, no mirror saw them).
struct Observed {
    host: String,
    flows: u64,
    first_ms: u64,
    last_ms: u64,
}

/// The points summed per policy revision (in order of first flow), and per
/// observer with every host that ran a VM (in host order).
fn revisions_and_observed(
    points: &[PointRow],
    vm_hosts: &[String],
) -> (Vec<Revision>, Vec<Observed>) {
    use std::collections::BTreeMap;
    let mut revisions: BTreeMap<&str, Revision> = BTreeMap::new();
    let mut observed: BTreeMap<&str, Observed> = BTreeMap::new();
    for p in points {
        let r = revisions.entry(&p.revision).or_insert_with(|| Revision {
            revision: p.revision.clone(),
            first_ms: p.first_ms,
            last_ms: p.last_ms,
            flows: 0,
        });
        r.first_ms = r.first_ms.min(p.first_ms);
        r.last_ms = r.last_ms.max(p.last_ms);
        r.flows += p.flows;
        if p.observer.is_empty() {
            continue;
        }
        let o = observed.entry(&p.observer).or_insert_with(|| Observed {
            host: p.observer.clone(),
            flows: 0,
            first_ms: p.first_ms,
            last_ms: p.last_ms,
        });
        o.first_ms = o.first_ms.min(p.first_ms);
        o.last_ms = o.last_ms.max(p.last_ms);
        o.flows += p.flows;
    }
    for host in vm_hosts.iter().filter(|h| !h.is_empty()) {
        observed.entry(host).or_insert_with(|| Observed {
            host: host.clone(),
            flows: 0,
            first_ms: 0,
            last_ms: 0,
        });
    }
    let mut revisions: Vec<Revision> = revisions.into_values().collect();
    revisions.sort_by(|a, b| (a.first_ms, &a.revision).cmp(&(b.first_ms, &b.revision)));
    (revisions, observed.into_values().collect())
}

/// Coverage per host (every host that ran a VM or observed a flow) and the
/// summary; `resolution`: what answered the conversation sections.
pub fn assemble(
    data: ReportData,
    from_ms: Option<u64>,
    to_ms: Option<u64>,
    dataset: Option<String>,
    resolution: &str,
    generated_ms: u64,
) -> Report {
    let (revisions, observed) = revisions_and_observed(&data.points, &data.vm_hosts);
    let mut coverage: Vec<Coverage> = observed
        .iter()
        .map(|o| {
            let losses: Vec<&LossRow> = data.losses.iter().filter(|l| l.name == o.host).collect();
            let gaps: u64 = losses
                .iter()
                .map(|l| u64::try_from(l.sequence_gaps).unwrap_or(0))
                .sum();
            let drops: u64 = losses
                .iter()
                .map(|l| u64::try_from(l.drops).unwrap_or(0))
                .sum();
            let observed = o.flows > 0;
            Coverage {
                host: o.host.clone(),
                exporters: losses
                    .iter()
                    .map(|l| {
                        format!(
                            "{}/{}",
                            eastwest_clickhouse::schema::addr_from_bytes(l.exporter),
                            l.source_id
                        )
                    })
                    .collect(),
                flows: o.flows,
                first_ms: observed.then_some(o.first_ms),
                last_ms: observed.then_some(o.last_ms),
                sequence_gaps: gaps,
                drops,
                // Gaps and drops are only known from exporter snapshots:
                // without one, completeness is not claimed.
                complete: observed && !losses.is_empty() && gaps == 0 && drops == 0,
            }
        })
        .collect();
    coverage.sort_by(|a, b| a.host.cmp(&b.host));
    let violations: u64 = data.violations.iter().map(|v| v.conversations).sum();
    let (complete, incomplete): (Vec<&Coverage>, Vec<&Coverage>) =
        coverage.iter().partition(|c| c.complete);
    let hosts_complete: Vec<String> = complete.iter().map(|c| c.host.clone()).collect();
    let hosts_incomplete: Vec<String> = incomplete.iter().map(|c| c.host.clone()).collect();
    let coverage_text = format!(
        "Coverage complete on {} of {} hosts",
        hosts_complete.len(),
        coverage.len()
    );
    let statement = match (violations, hosts_incomplete.is_empty()) {
        (0, true) if !coverage.is_empty() => format!(
            "No violating conversations. {coverage_text}: the absence of violations holds for every host."
        ),
        (0, _) => format!(
            "No violating conversations observed. {coverage_text}; no claim is made for: {}.",
            if hosts_incomplete.is_empty() {
                "any host (no traffic observed)".to_string()
            } else {
                hosts_incomplete.join(", ")
            }
        ),
        (n, true) => format!("{n} violating conversation{}. {coverage_text}.", plural(n)),
        (n, false) => format!(
            "{n} violating conversation{}. {coverage_text}; traffic at {} may be missing.",
            plural(n),
            hosts_incomplete.join(", ")
        ),
    };
    Report {
        from_ms,
        to_ms,
        generated_ms,
        resolution: resolution.to_string(),
        first_flow_ms: revisions.iter().map(|r| r.first_ms).min(),
        last_flow_ms: revisions.iter().map(|r| r.last_ms).max(),
        dataset,
        policy_revisions: revisions,
        violations_by_zone_pair: data.violations,
        violating_conversations: Vec::new(),
        intra_host_cross_zone: data.intra_host,
        coresidency: None,
        coverage,
        summary: Summary {
            violations,
            hosts_complete,
            hosts_incomplete,
            statement,
        },
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Milliseconds as `2026-11-02 09:00:00.200Z`, or `—`.
fn time_text(ms: Option<u64>) -> String {
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

/// The report as one CSV: `section` first, then that section's fields
/// (`key=value` pairs), so every row stands on its own.
pub fn to_csv(report: &Report) -> String {
    let mut out = String::from("section,item,details\r\n");
    let mut row = |section: &str, item: &str, details: Vec<(&str, String)>| {
        let details: Vec<String> = details
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push_str(&format!(
            "{},{},{}\r\n",
            csv_field(section),
            csv_field(item),
            csv_field(&details.join(" "))
        ));
    };
    row(
        "summary",
        "statement",
        vec![
            ("violations", report.summary.violations.to_string()),
            (
                "from_ms",
                report.from_ms.map(|v| v.to_string()).unwrap_or_default(),
            ),
            (
                "to_ms",
                report.to_ms.map(|v| v.to_string()).unwrap_or_default(),
            ),
            (
                "first_flow_ms",
                report
                    .first_flow_ms
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            ),
            (
                "last_flow_ms",
                report
                    .last_flow_ms
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            ),
            (
                "dataset",
                report
                    .dataset
                    .clone()
                    .unwrap_or_else(|| "every dataset".into()),
            ),
            ("text", report.summary.statement.clone()),
        ],
    );
    for p in report.coresidency.iter().flatten() {
        let field = |key: &str| match &p[key] {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            serde_json::Value::Null => String::new(),
            other => other.to_string().trim_matches('"').to_string(),
        };
        row(
            "coresidency",
            &field("host"),
            vec![
                ("zones", field("zones")),
                ("vms", field("vms")),
                ("since_ms", field("since_ms")),
                ("until_ms", field("until_ms")),
            ],
        );
    }
    for v in &report.violations_by_zone_pair {
        row(
            "violations_by_zone_pair",
            &format!("{}>{}", v.client_zone, v.server_zone),
            vec![
                ("severity", v.severity.clone()),
                ("conversations", v.conversations.to_string()),
                ("flows", v.flows.to_string()),
                ("bytes", v.bytes.to_string()),
                ("first_ms", v.first_ms.to_string()),
                ("last_ms", v.last_ms.to_string()),
            ],
        );
    }
    for v in &report.violating_conversations {
        row(
            "violating_conversations",
            &format!("{}>{}", v.client_vm, v.server_vm),
            vec![
                ("proto", v.proto.to_string()),
                ("server_port", v.server_port.to_string()),
                ("rule", v.rule.clone()),
                ("severity", v.severity.clone()),
                ("first_ms", v.first_ms.to_string()),
                ("last_ms", v.last_ms.to_string()),
                ("flows", v.flows.to_string()),
                ("flows_url", v.flows_url.clone()),
                ("packets_url", v.packets_url.clone().unwrap_or_default()),
            ],
        );
    }
    for c in &report.intra_host_cross_zone {
        row(
            "intra_host_cross_zone",
            &c.host,
            vec![
                ("client_vm", c.client_vm.clone()),
                ("client_zone", c.client_zone.clone()),
                ("server_vm", c.server_vm.clone()),
                ("server_zone", c.server_zone.clone()),
                ("verdict", c.verdict.clone()),
                ("flows", c.flows.to_string()),
                ("bytes", c.bytes.to_string()),
            ],
        );
    }
    for r in &report.policy_revisions {
        row(
            "policy_revisions",
            &r.revision,
            vec![
                ("first_ms", r.first_ms.to_string()),
                ("last_ms", r.last_ms.to_string()),
                ("flows", r.flows.to_string()),
            ],
        );
    }
    for c in &report.coverage {
        row(
            "coverage",
            &c.host,
            vec![
                ("exporters", c.exporters.join("+")),
                ("flows", c.flows.to_string()),
                ("sequence_gaps", c.sequence_gaps.to_string()),
                ("drops", c.drops.to_string()),
                ("complete", u8::from(c.complete).to_string()),
            ],
        );
    }
    out
}

/// Why a PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("cannot write the report page: {0}")]
    Io(#[from] std::io::Error),
    #[error("{program} failed: {detail}")]
    Renderer { program: String, detail: String },
    #[error("{program} did not finish within {seconds} s")]
    Timeout { program: String, seconds: u64 },
}

/// Print `html` to PDF with headless Chromium (`program`).
pub async fn to_pdf(html: &str, program: &str, timeout: Duration) -> Result<Vec<u8>, PdfError> {
    let dir = TempDir::new()?;
    let page = dir.0.join("report.html");
    let pdf = dir.0.join("report.pdf");
    tokio::fs::write(&page, html).await?;
    let run = tokio::process::Command::new(program)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.0.join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| PdfError::Timeout {
            program: program.to_string(),
            seconds: timeout.as_secs(),
        })?
        .map_err(|e| PdfError::Renderer {
            program: program.to_string(),
            detail: e.to_string(),
        })?;
    let bytes = tokio::fs::read(&pdf).await.ok();
    match bytes {
        Some(bytes) if output.status.success() && bytes.starts_with(b"%PDF") => Ok(bytes),
        _ => Err(PdfError::Renderer {
            program: program.to_string(),
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }),
    }
}

/// A private temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "eastwest-report-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(client: &str, server: &str, observers: &[&str]) -> Violation {
        Violation {
            client_vm: client.into(),
            client_addr: None,
            client_zone: "finance-frontend".into(),
            server_vm: server.into(),
            server_addr: None,
            server_zone: "payroll".into(),
            proto: 6,
            server_port: 443,
            rule: "no-fin-payroll".into(),
            severity: Some(eastwest_api::Severity::High),
            same_host: false,
            policy_revision: "r1".into(),
            first_ms: 1_000,
            last_ms: 2_000,
            flows: 2,
            packets: 10,
            bytes: 1_000,
            observation_points: observers
                .iter()
                .map(|o| crate::model::ObservationPoint {
                    observer: (*o).into(),
                    encap: Some(eastwest_api::Encap::ErspanII),
                    flows: 2,
                    bytes: 1_000,
                })
                .collect(),
            flows_url: format!(
                "/api/v1/flows?from=1&to=3&vm={client}&peer={server}&proto=6&port=443&verdict=violation&rule=no-fin-payroll"
            ),
        }
    }

    fn exporter(name: &str, evidence_url: &str) -> ExporterStatus {
        ExporterStatus {
            exporter: "192.0.2.3".into(),
            source_id: 3,
            name: name.into(),
            last_seen_ms: 0,
            packets: 0,
            flows: 0,
            sequence_gaps: 0,
            templates: 0,
            drops: 0,
            stale: false,
            evidence_url: evidence_url.into(),
        }
    }

    #[test]
    fn a_violation_links_to_its_packets_only_where_a_store_saw_it() {
        let listed = evidence(
            vec![
                violation("fin-fe-01", "payroll-01", &["esx-03"]),
                violation("web-01", "db-02", &["esx-01", "esx-04"]),
                violation("web-02", "db-01", &["esx-02"]),
            ],
            &[
                exporter("esx-03", "https://esx-03:9181"),
                exporter("esx-04", "http://esx-04:9181"),
                exporter("esx-02", ""),
            ],
            Some("lab 2"),
        );
        assert_eq!(
            listed[0].packets_url.as_deref(),
            Some("/api/v1/packets?from=1&to=3&vm=fin-fe-01&peer=payroll-01&proto=6&port=443&verdict=violation&rule=no-fin-payroll&dataset=lab%202")
        );
        assert!(listed[1].packets_url.is_some(), "esx-04 keeps packets");
        assert_eq!(listed[2].packets_url, None, "esx-02 announces no store");
        let mut report = assemble(data(), Some(0), Some(10_000), None, "raw", 0);
        report.violating_conversations = listed;
        let html = to_html(&report);
        assert_eq!(
            html.matches("class=\"packets\" href=\"/api/v1/packets?")
                .count(),
            2,
            "{html}"
        );
        assert!(html.contains("no packet store"));
        let csv = to_csv(&report);
        assert!(
            csv.contains("packets_url=/api/v1/packets?from=1&to=3&vm=fin-fe-01"),
            "{csv}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["violating_conversations"][2]["packets_url"],
            serde_json::Value::Null
        );
    }

    fn data() -> ReportData {
        ReportData {
            points: vec![PointRow {
                revision: "r1".into(),
                observer: "esx-01".into(),
                flows: 10,
                first_ms: 1,
                last_ms: 2,
            }],
            vm_hosts: vec!["esx-01".into(), "esx-09".into()],
            violations: vec![ZonePairViolations {
                client_zone: "dmz".into(),
                server_zone: "db".into(),
                severity: "high".into(),
                conversations: 2,
                flows: 4,
                bytes: 100,
                first_ms: 1,
                last_ms: 2,
            }],
            intra_host: vec![],
            losses: vec![LossRow {
                name: "esx-01".into(),
                exporter: eastwest_clickhouse::schema::addr_to_bytes([198, 18, 0, 1].into()),
                source_id: 1,
                sequence_gaps: 0,
                drops: 0,
            }],
        }
    }

    #[test]
    fn no_claim_where_a_host_was_not_mirrored() {
        let report = assemble(data(), None, None, None, "1h", 0);
        assert_eq!(report.summary.hosts_complete, ["esx-01"]);
        assert_eq!(report.summary.hosts_incomplete, ["esx-09"]);
        assert_eq!(report.coverage[0].exporters, ["198.18.0.1/1"]);
        assert!(
            report.summary.statement.contains("esx-09"),
            "{}",
            report.summary.statement
        );
        let mut clean = data();
        clean.violations.clear();
        clean.vm_hosts.truncate(1);
        let report = assemble(clean, None, None, None, "1h", 0);
        assert!(report
            .summary
            .statement
            .starts_with("No violating conversations."));
        let mut gaps = data();
        gaps.violations.clear();
        gaps.vm_hosts.truncate(1);
        gaps.losses[0].sequence_gaps = 3;
        let report = assemble(gaps, None, None, None, "1h", 0);
        assert_eq!(report.summary.hosts_incomplete, ["esx-01"]);
        assert!(report.summary.statement.contains("no claim"));
        // Observed, but no exporter snapshot: gaps unknown, no claim.
        let mut unknown = data();
        unknown.vm_hosts.truncate(1);
        unknown.losses.clear();
        let report = assemble(unknown, None, None, None, "1h", 0);
        assert_eq!(report.summary.hosts_incomplete, ["esx-01"]);
    }

    #[test]
    fn html_escapes_and_csv_has_sections() {
        let mut d = data();
        d.violations[0].client_zone = "<script>".into();
        let report = assemble(d, Some(0), Some(1000), None, "1h", 0);
        let html = to_html(&report);
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
        let csv = to_csv(&report);
        assert!(csv.starts_with("section,item,details\r\nsummary,statement,"));
        assert!(csv.contains("\r\ncoverage,esx-09,"));
        assert_eq!(
            time_text(Some(1_793_610_000_200)),
            "2026-11-02 09:00:00.200Z"
        );
    }
}
