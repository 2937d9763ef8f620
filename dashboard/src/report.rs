//! The compliance report of a period: violations by zone pair and severity,
//! intra-host cross-zone traffic, the policy revisions in force and mirror
//! coverage per host, so that "no violations" is only claimed where every
//! mirror reported; each violating conversation with a link to its packets
//! (`/api/v1/packets`) when an exporter that observed it serves a packet
//! store. Rendered as JSON, CSV (one file, a `section` column
//! first), HTML (a printable page) and PDF (that page printed by headless
//! Chromium).

use clickhouse::Row;
use serde::Deserialize;

mod assemble;
mod csv;
mod evidence;
mod html;
mod pdf;

pub use assemble::assemble;
pub use csv::to_csv;
pub use eastwest_api::report::{
    Coverage, IntraHost, Report, Revision, Summary, ViolationEvidence, ZonePairViolations,
    MAX_VIOLATING_CONVERSATIONS,
};
pub use evidence::evidence;
pub use html::to_html;
pub use pdf::{to_pdf, PdfError};

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

#[cfg(test)]
mod tests {
    use super::html::time_text;
    use super::*;
    use crate::model::{ExporterStatus, Violation};

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
