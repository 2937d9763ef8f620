//! The bodies of the dashboard's list and detail answers (JSON): a window,
//! how it was answered, and the rows. The rows' CSV is the rows' own
//! ([`crate::CsvRow`]). Fields a client can do without (the answering
//! table, the exporters' clock) decode to their defaults when missing.

use serde::{Deserialize, Serialize};

use crate::{
    Conversation, Dataset, ExporterSource, ExporterStatus, FlowRecord, HostSummary, MatrixCell,
    Placement, Point, Totals, Violation,
};

/// Body of `GET /api/v1/conversations` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Conversations))]
pub struct ConversationsResponse {
    /// Start of the window, epoch ms; `null` for all time.
    pub from_ms: Option<u64>,
    /// End of the window (exclusive), epoch ms; `null` for all time.
    pub to_ms: Option<u64>,
    /// The table that answered: `1h`, `1m` or `raw`.
    #[serde(default)]
    pub resolution: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub limit: u64,
    #[serde(default)]
    pub offset: u64,
    /// Over every matching conversation, not only this page.
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

/// Body of `GET /api/v1/zones/matrix`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Matrix))]
pub struct MatrixResponse {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    #[serde(default)]
    pub resolution: String,
    /// Every zone that appears in a cell, sorted.
    pub zones: Vec<String>,
    pub cells: Vec<MatrixCell>,
}

impl MatrixResponse {
    /// The cell from `client` zone to `server` zone, if any traffic.
    pub fn cell(&self, client: &str, server: &str) -> Option<&MatrixCell> {
        self.cells
            .iter()
            .find(|c| c.client_zone == client && c.server_zone == server)
    }
}

/// Body of `GET /api/v1/violations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Violations))]
pub struct ViolationsResponse {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    #[serde(default)]
    pub limit: u64,
    #[serde(default)]
    pub offset: u64,
    /// Violating conversations matching, not only this page.
    #[serde(default)]
    pub total: u64,
    pub violations: Vec<Violation>,
}

/// Body of `GET /api/v1/flows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Flows))]
pub struct FlowsResponse {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    pub limit: u64,
    pub offset: u64,
    pub total: u64,
    pub flows: Vec<FlowRecord>,
}

/// Body of `GET /api/v1/vms/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Vm))]
pub struct VmResponse {
    pub name: String,
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    #[serde(default)]
    pub resolution: String,
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub placements: Vec<Placement>,
    #[serde(default)]
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

/// Body of `GET /api/v1/hosts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Hosts))]
pub struct HostsResponse {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    #[serde(default)]
    pub resolution: String,
    pub hosts: Vec<HostSummary>,
}

/// Body of `GET /api/v1/hosts/{name}`: its locally switched conversations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Host))]
pub struct HostResponse {
    pub host: String,
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    #[serde(default)]
    pub resolution: String,
    #[serde(default)]
    pub vms: Vec<String>,
    #[serde(default)]
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

/// Body of `GET /api/v1/timeseries`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Timeseries))]
pub struct TimeseriesResponse {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    #[serde(default)]
    pub resolution: String,
    pub step_ms: u64,
    pub points: Vec<Point>,
}

/// Body of `GET /api/v1/exporters`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Exporters))]
pub struct ExportersResponse {
    #[serde(default)]
    pub now_ms: u64,
    #[serde(default)]
    pub stale_after_s: u64,
    /// `exporters` (the collector's snapshots) or `flows` (none written
    /// yet: only flows and last seen are known, the other counters are 0).
    #[serde(default)]
    pub source: ExporterSource,
    pub exporters: Vec<ExporterStatus>,
}

/// Body of `GET /api/v1/datasets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Datasets))]
pub struct DatasetsResponse {
    pub datasets: Vec<Dataset>,
}

/// The JSON body of an error answer (any status but 2xx): the message, safe
/// to show (it never carries internal details).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Error))]
pub struct ErrorBody {
    pub error: String,
}
