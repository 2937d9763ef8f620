//! The what-if: stored conversations judged again under a draft policy,
//! per zone pair.

use std::collections::BTreeMap;
use std::net::IpAddr;

use eastwest_core::inventory::Inventory;
use eastwest_core::policy::{Policy, VerdictKind};
use serde::Serialize;

use super::store::StoredConversation;
use crate::sql::Resolution;

/// A verdict as stored or as a draft would give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Judgement {
    pub verdict: String,
    pub rule: String,
    pub severity: String,
}

/// One conversation whose judgement the draft changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub client_vm: String,
    pub client_addr: String,
    pub server_vm: String,
    pub server_addr: String,
    pub proto: u8,
    pub server_port: u16,
    pub before: Judgement,
    pub after: Judgement,
    /// Flows and bytes at the observation point that counted the most (each
    /// conversation once, however many mirrors saw it).
    pub flows: u64,
    pub bytes: u64,
}

/// The changes of one zone pair (zones as the draft assigns them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ZonePairChanges {
    pub client_zone: String,
    pub server_zone: String,
    /// Conversations allowed or unknown now that the draft calls violations.
    pub new_violations: Vec<Change>,
    /// Violations now that the draft allows (or cannot judge).
    pub resolved_violations: Vec<Change>,
    /// Same kind of verdict, another rule or severity.
    pub other_changes: Vec<Change>,
}

/// The answer of `POST /api/v1/policy/whatif`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WhatIf {
    pub from_ms: u64,
    pub to_ms: u64,
    #[serde(serialize_with = "resolution_name")]
    #[schema(value_type = String)]
    pub resolution: Resolution,
    pub draft_revision: String,
    /// Warnings of the draft (`draft:LINE: field: message`).
    pub draft_warnings: Vec<String>,
    /// Conversations judged.
    pub conversations: u64,
    pub new_violations: u64,
    pub resolved_violations: u64,
    pub other_changes: u64,
    pub zone_pairs: Vec<ZonePairChanges>,
}

/// `resolution` as the API writes it (`"1m"`, `"raw"`).
fn resolution_name<S: serde::Serializer>(
    resolution: &Resolution,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(resolution.as_str())
}

/// Judge `stored` under `draft`: each endpoint's zone from the VM's
/// placement when the conversation started (or its address), the verdict
/// for client → server, compared with the stored one.
pub fn whatif(
    draft: &Policy,
    inventory: Option<&Inventory>,
    stored: &[StoredConversation],
) -> (u64, BTreeMap<(String, String), ZonePairChanges>) {
    // Each conversation once: the observation point that counted most bytes.
    let mut best: BTreeMap<(&str, IpAddr, &str, IpAddr, u8, u16), &StoredConversation> =
        BTreeMap::new();
    for c in stored {
        let key = (
            c.client_vm.as_str(),
            c.client_addr,
            c.server_vm.as_str(),
            c.server_addr,
            c.proto,
            c.server_port,
        );
        let slot = best.entry(key).or_insert(c);
        if (c.bytes, c.flows) > (slot.bytes, slot.flows) {
            *slot = c;
        }
    }
    let mut pairs: BTreeMap<(String, String), ZonePairChanges> = BTreeMap::new();
    for c in best.values() {
        let vm = |name: &str| {
            inventory
                .filter(|_| !name.is_empty())
                .and_then(|inv| inv.vm_at(name, c.first_ms))
        };
        let client_zone = draft.zone_of(vm(&c.client_vm), c.client_addr);
        let server_zone = draft.zone_of(vm(&c.server_vm), c.server_addr);
        let after = draft.judge(client_zone, server_zone, c.proto, c.server_port);
        let before = Judgement {
            verdict: c.verdict.clone(),
            rule: c.rule.clone(),
            severity: c.severity.clone(),
        };
        let after = Judgement {
            verdict: after.kind.as_str().to_string(),
            rule: after.rule.to_string(),
            severity: after.severity.to_string(),
        };
        if before == after {
            continue;
        }
        let violation = VerdictKind::Violation.as_str();
        let change = Change {
            client_vm: c.client_vm.clone(),
            client_addr: c.client_addr.to_string(),
            server_vm: c.server_vm.clone(),
            server_addr: c.server_addr.to_string(),
            proto: c.proto,
            server_port: c.server_port,
            flows: c.flows,
            bytes: c.bytes,
            before,
            after,
        };
        let pair = pairs
            .entry((client_zone.to_string(), server_zone.to_string()))
            .or_insert_with(|| ZonePairChanges {
                client_zone: client_zone.to_string(),
                server_zone: server_zone.to_string(),
                new_violations: Vec::new(),
                resolved_violations: Vec::new(),
                other_changes: Vec::new(),
            });
        match (
            change.before.verdict == violation,
            change.after.verdict == violation,
        ) {
            (false, true) => pair.new_violations.push(change),
            (true, false) => pair.resolved_violations.push(change),
            _ => pair.other_changes.push(change),
        }
    }
    (best.len() as u64, pairs)
}
