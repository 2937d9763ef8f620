//! eastwest-api: the rows the dashboard's JSON API returns, one definition
//! each, read by the dashboard (which fills them from ClickHouse) and the
//! TUI (which decodes them). JSON through serde (field names as in
//! `docs/api.md`), CSV columns from the same fields ([`api_row!`]),
//! verdict, severity and encapsulation as `eastwest-core`'s enums written
//! as their words ([`word`]).
//!
//! Every row decodes with missing fields at their defaults, so a client
//! reads the answers of older and newer dashboards alike.
//!
//! With the `openapi` feature every row is a `utoipa::ToSchema` (the
//! dashboard's OpenAPI document). With the `clickhouse` feature, the rows the dashboard reads from
//! ClickHouse as they are (totals, matrix cells, placements, points) are
//! `clickhouse::Row`s too.

pub mod answers;
pub mod csv;
pub mod policy;
pub mod report;
pub mod word;

pub use answers::ErrorBody;
pub use csv::{csv_field, to_csv, CsvField, CsvRow};
pub use eastwest_core::flow::Encap;
pub use eastwest_core::policy::VerdictKind;
pub use eastwest_core::severity::Severity;
use serde::{Deserialize, Serialize};

api_row! {
    /// One conversation: both directions of an exchange between a client
    /// (initiator) and a server (responder), counted once. The
    /// one-direction rows of dashboards before the bidirectional API
    /// (`src_*`/`dst_*`, `dst_port`) decode too, through aliases.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(default)]
    pub struct Conversation {
        #[serde(alias = "src_vm")]
        pub client_vm: String,
        /// Only when the client VM is unknown.
        #[serde(alias = "src_addr")]
        pub client_addr: Option<String>,
        #[serde(alias = "src_zone")]
        pub client_zone: String,
        #[serde(alias = "src_host")]
        pub client_host: String,
        #[serde(alias = "dst_vm")]
        pub server_vm: String,
        /// Only when the server VM is unknown.
        #[serde(alias = "dst_addr")]
        pub server_addr: Option<String>,
        #[serde(alias = "dst_zone")]
        pub server_zone: String,
        #[serde(alias = "dst_host")]
        pub server_host: String,
        pub proto: u8,
        #[serde(alias = "dst_port")]
        pub server_port: u16,
        #[serde(with = "word")]
        #[cfg_attr(feature = "openapi", schema(schema_with = word::verdict_schema))]
        pub verdict: VerdictKind,
        pub rule: String,
        #[serde(with = "word")]
        #[cfg_attr(feature = "openapi", schema(schema_with = word::severity_schema))]
        pub severity: Option<Severity>,
        pub same_host: bool,
        pub observers: Vec<String>,
        pub flows: u64,
        /// Client → server.
        pub packets_fwd: u64,
        pub bytes_fwd: u64,
        /// Server → client.
        pub packets_rev: u64,
        pub bytes_rev: u64,
        /// Both directions.
        pub packets: u64,
        pub bytes: u64,
        pub start_ms: u64,
        pub end_ms: u64,
    }
}

/// Totals over every conversation that matched, not only the page returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clickhouse", derive(clickhouse::Row))]
#[serde(default)]
pub struct Totals {
    pub conversations: u64,
    pub violations: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

api_row! {
    /// One cell of the zone matrix: traffic from `client_zone` to
    /// `server_zone`.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[cfg_attr(feature = "clickhouse", derive(clickhouse::Row))]
    #[serde(default)]
    pub struct MatrixCell {
        pub client_zone: String,
        pub server_zone: String,
        pub conversations: u64,
        pub flows: u64,
        pub packets: u64,
        pub bytes: u64,
        /// Violating conversations in the cell.
        pub violations: u64,
        pub violation_bytes: u64,
    }
}

/// Where a violation was seen, and how much there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ObservationPoint {
    pub observer: String,
    #[serde(with = "word")]
    #[cfg_attr(feature = "openapi", schema(schema_with = word::encap_schema))]
    pub encap: Option<Encap>,
    pub flows: u64,
    pub bytes: u64,
}

/// `observer/encap` in a violation's CSV row.
impl CsvField for ObservationPoint {
    fn csv(&self) -> String {
        format!("{}/{}", self.observer, self.encap.csv())
    }
}

api_row! {
    /// A violating conversation with its evidence.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(default)]
    pub struct Violation {
        pub client_vm: String,
        pub client_addr: Option<String>,
        pub client_zone: String,
        pub server_vm: String,
        pub server_addr: Option<String>,
        pub server_zone: String,
        pub proto: u8,
        pub server_port: u16,
        pub rule: String,
        #[serde(with = "word")]
        #[cfg_attr(feature = "openapi", schema(schema_with = word::severity_schema))]
        pub severity: Option<Severity>,
        pub same_host: bool,
        pub policy_revision: String,
        pub first_ms: u64,
        pub last_ms: u64,
        pub flows: u64,
        pub packets: u64,
        pub bytes: u64,
        pub observation_points: Vec<ObservationPoint>,
        /// The raw flows behind it (`GET` this, same token).
        pub flows_url: String,
    }
}

api_row! {
    /// One raw flow record (evidence).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Flow))]
    #[serde(default)]
    pub struct FlowRecord {
        pub start_ms: u64,
        pub end_ms: u64,
        pub observer: String,
        #[serde(with = "word")]
        #[cfg_attr(feature = "openapi", schema(schema_with = word::encap_schema))]
        pub encap: Option<Encap>,
        pub exporter: String,
        pub source_id: u32,
        pub src_vm: String,
        pub src_addr: String,
        pub src_port: u16,
        pub dst_vm: String,
        pub dst_addr: String,
        pub dst_port: u16,
        pub proto: u8,
        /// The reply direction of its conversation.
        pub reply: bool,
        pub packets: u64,
        pub bytes: u64,
        pub tcp_flags: u8,
        #[serde(with = "word")]
        #[cfg_attr(feature = "openapi", schema(schema_with = word::verdict_schema))]
        pub verdict: VerdictKind,
        pub rule: String,
        #[serde(with = "word")]
        #[cfg_attr(feature = "openapi", schema(schema_with = word::severity_schema))]
        pub severity: Option<Severity>,
        pub policy_revision: String,
        pub dataset: String,
    }
}

/// Where a VM ran, as its flows show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clickhouse", derive(clickhouse::Row))]
#[serde(default)]
pub struct Placement {
    pub host: String,
    pub zones: Vec<String>,
    pub first_ms: u64,
    pub last_ms: u64,
}

api_row! {
    /// One host's traffic.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(default)]
    pub struct HostSummary {
        pub host: String,
        /// VMs seen running on it.
        pub vms: u64,
        pub conversations: u64,
        /// Switched inside the host (both VMs on it), never on the wire.
        pub local_conversations: u64,
        pub local_bytes: u64,
        /// Local conversations between two zones.
        pub local_cross_zone: u64,
        pub violations: u64,
        pub bytes: u64,
        pub last_ms: u64,
    }
}

api_row! {
    /// One bucket of a time series.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[cfg_attr(feature = "clickhouse", derive(clickhouse::Row))]
    #[serde(default)]
    pub struct Point {
        pub t_ms: u64,
        pub flows: u64,
        pub packets: u64,
        pub bytes: u64,
        /// Violating flows.
        pub violations: u64,
        pub violation_bytes: u64,
    }
}

api_row! {
    /// One exporter (address, source id): mirror coverage.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(default)]
    pub struct ExporterStatus {
        pub exporter: String,
        pub source_id: u32,
        /// The host name it announces (observationDomainName).
        pub name: String,
        pub last_seen_ms: u64,
        pub packets: u64,
        pub flows: u64,
        pub sequence_gaps: u64,
        pub templates: u32,
        pub drops: u64,
        /// Nothing heard for `api.stale_after_seconds`.
        pub stale: bool,
        /// Base URL of its packet store's evidence server (its options
        /// record), "" when it serves none: where `/api/v1/packets` fetches
        /// frames.
        pub evidence_url: String,
    }
}

api_row! {
    /// A dataset: the live data, or a replayed capture (`exporter
    /// --dataset`).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(default)]
    pub struct Dataset {
        pub name: String,
        /// The live data (kept `retention.flows_days` by the flows' own
        /// time); otherwise a replay, kept until deleted (or the
        /// collector's `retention.datasets_days` after it was stored).
        pub live: bool,
        /// Flow records stored.
        pub flows: u64,
        /// First packet of its first flow, epoch milliseconds.
        pub first_ms: u64,
        /// Last packet of its last flow, epoch milliseconds.
        pub last_ms: u64,
        /// When the collector stored its first and its last flow.
        pub stored_first_ms: u64,
        pub stored_last_ms: u64,
        /// Bytes on disk: its flows, rollups and summary.
        pub bytes: u64,
    }
}

/// Where the exporter list came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ExporterSource {
    /// The collector's `exporters` snapshots: every counter.
    #[default]
    Exporters,
    /// The flows (no snapshot yet): only `flows` and `last_seen_ms`;
    /// packets, sequence gaps, templates and drops are unknown (0).
    Flows,
}

#[cfg(test)]
mod tests;
