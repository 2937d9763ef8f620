//! The answer of `GET /api/v1/report` (JSON): a period's compliance
//! report, [`Report`], with its sections. The dashboard renders the same
//! values as CSV, HTML and PDF.

use serde::{Deserialize, Serialize};

use crate::policy::CoResidencyView;

/// Most violating conversations the report lists one by one (in the order
/// of `/api/v1/violations`); the zone-pair section counts them all.
pub const MAX_VIOLATING_CONVERSATIONS: u64 = 1000;

/// A policy revision and the flows it judged in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clickhouse", derive(clickhouse::Row))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revision {
    pub revision: String,
    pub first_ms: u64,
    pub last_ms: u64,
    pub flows: u64,
}

/// Violating conversations of one zone pair and severity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clickhouse", derive(clickhouse::Row))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clickhouse", derive(clickhouse::Row))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// Mirror coverage of one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A violating conversation and where its evidence is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The conclusion an auditor reads first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Summary {
    pub violations: u64,
    pub hosts_complete: Vec<String>,
    pub hosts_incomplete: Vec<String>,
    pub statement: String,
}

/// The answer of `GET /api/v1/report` (JSON): the whole compliance report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The violating conversations (as `/api/v1/violations` lists them, at
    /// most 1000, `MAX_VIOLATING_CONVERSATIONS`) with links to their flows
    /// and packets.
    pub violating_conversations: Vec<ViolationEvidence>,
    pub intra_host_cross_zone: Vec<IntraHost>,
    /// Co-residency periods of the window; `null` when the dashboard has
    /// no policy and inventory files, or they do not load.
    pub coresidency: Option<Vec<CoResidencyView>>,
    pub coverage: Vec<Coverage>,
    pub summary: Summary,
}
