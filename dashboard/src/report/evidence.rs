//! The violating conversations the report lists one by one, each with
//! links to its flows and, where an exporter that observed it serves a
//! packet store, to its packets.

use crate::model::{ExporterStatus, Violation};

use super::ViolationEvidence;

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
