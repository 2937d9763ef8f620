//! The report as one CSV file: a `section` column first, so every row
//! stands on its own.

use crate::model::csv_field;

use super::Report;

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
        row(
            "coresidency",
            &p.host,
            vec![
                ("zones", p.zones.join("+")),
                ("vms", p.vms.join("+")),
                ("since_ms", p.since_ms.to_string()),
                (
                    "until_ms",
                    p.until_ms.map(|v| v.to_string()).unwrap_or_default(),
                ),
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
