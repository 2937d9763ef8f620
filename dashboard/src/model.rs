//! What the API returns: one struct per list row (JSON via serde, CSV via
//! [`CsvRow`]), and the rows ClickHouse sends back for them. Field names
//! are the JSON names documented in `docs/api.md`.

use eastwest_clickhouse::schema::addr_from_bytes;
use serde::{Deserialize, Serialize};

/// A row of a list that also exports as CSV: the header and the fields in
/// that order (booleans 0/1, arrays space-separated).
pub trait CsvRow {
    const COLUMNS: &'static [&'static str];
    fn fields(&self) -> Vec<String>;
}

/// RFC 4180 CSV with a header line.
pub fn to_csv<R: CsvRow>(rows: &[R]) -> String {
    let mut out = R::COLUMNS.join(",");
    out.push_str("\r\n");
    for row in rows {
        let quoted: Vec<String> = row.fields().iter().map(|f| csv_field(f)).collect();
        out.push_str(&quoted.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One CSV field, quoted when it needs to be.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The address of an endpoint whose VM is unknown (`vm` empty), else `None`.
fn addr_if_unknown(vm: &str, bytes: [u8; 16]) -> Option<String> {
    vm.is_empty().then(|| addr_from_bytes(bytes).to_string())
}

fn opt(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// One conversation: both directions of an exchange between a client
/// (initiator) and a server (responder), counted once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub client_vm: String,
    /// Only when the client VM is unknown.
    pub client_addr: Option<String>,
    pub client_zone: String,
    pub client_host: String,
    pub server_vm: String,
    /// Only when the server VM is unknown.
    pub server_addr: Option<String>,
    pub server_zone: String,
    pub server_host: String,
    pub proto: u8,
    pub server_port: u16,
    pub verdict: String,
    pub rule: String,
    pub severity: String,
    pub same_host: bool,
    pub observers: Vec<String>,
    pub flows: u64,
    pub packets_fwd: u64,
    pub bytes_fwd: u64,
    pub packets_rev: u64,
    pub bytes_rev: u64,
    pub packets: u64,
    pub bytes: u64,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl CsvRow for Conversation {
    const COLUMNS: &'static [&'static str] = &[
        "client_vm",
        "client_addr",
        "client_zone",
        "client_host",
        "server_vm",
        "server_addr",
        "server_zone",
        "server_host",
        "proto",
        "server_port",
        "verdict",
        "rule",
        "severity",
        "same_host",
        "observers",
        "flows",
        "packets_fwd",
        "bytes_fwd",
        "packets_rev",
        "bytes_rev",
        "packets",
        "bytes",
        "start_ms",
        "end_ms",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.client_vm.clone(),
            opt(&self.client_addr),
            self.client_zone.clone(),
            self.client_host.clone(),
            self.server_vm.clone(),
            opt(&self.server_addr),
            self.server_zone.clone(),
            self.server_host.clone(),
            self.proto.to_string(),
            self.server_port.to_string(),
            self.verdict.clone(),
            self.rule.clone(),
            self.severity.clone(),
            u8::from(self.same_host).to_string(),
            self.observers.join(" "),
            self.flows.to_string(),
            self.packets_fwd.to_string(),
            self.bytes_fwd.to_string(),
            self.packets_rev.to_string(),
            self.bytes_rev.to_string(),
            self.packets.to_string(),
            self.bytes.to_string(),
            self.start_ms.to_string(),
            self.end_ms.to_string(),
        ]
    }
}

/// A conversation as ClickHouse returns it (RowBinary, in SELECT order).
#[derive(Debug, clickhouse::Row, Deserialize)]
pub struct ConversationRow {
    pub client_vm: String,
    pub client_addr: [u8; 16],
    pub client_zone: String,
    pub client_host: String,
    pub server_vm: String,
    pub server_addr: [u8; 16],
    pub server_zone: String,
    pub server_host: String,
    pub proto: u8,
    pub server_port: u16,
    pub verdict: String,
    pub rule: String,
    pub severity: String,
    pub same_host: u8,
    pub observers: Vec<String>,
    pub flows: u64,
    pub packets_fwd: u64,
    pub bytes_fwd: u64,
    pub packets_rev: u64,
    pub bytes_rev: u64,
    pub packets: u64,
    pub bytes: u64,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl From<ConversationRow> for Conversation {
    fn from(row: ConversationRow) -> Conversation {
        Conversation {
            client_addr: addr_if_unknown(&row.client_vm, row.client_addr),
            server_addr: addr_if_unknown(&row.server_vm, row.server_addr),
            client_vm: row.client_vm,
            client_zone: row.client_zone,
            client_host: row.client_host,
            server_vm: row.server_vm,
            server_zone: row.server_zone,
            server_host: row.server_host,
            proto: row.proto,
            server_port: row.server_port,
            verdict: row.verdict,
            rule: row.rule,
            severity: row.severity,
            same_host: row.same_host != 0,
            observers: row.observers,
            flows: row.flows,
            packets_fwd: row.packets_fwd,
            bytes_fwd: row.bytes_fwd,
            packets_rev: row.packets_rev,
            bytes_rev: row.bytes_rev,
            packets: row.packets,
            bytes: row.bytes,
            start_ms: row.start_ms,
            end_ms: row.end_ms,
        }
    }
}

/// A conversation of a page without its counters, as
/// [`crate::sql::conversation_page`] returns it (RowBinary, in SELECT
/// order), and its key last.
#[derive(Debug, clickhouse::Row, Deserialize)]
pub struct DescribedRow {
    pub client_vm: String,
    pub client_addr: [u8; 16],
    pub client_zone: String,
    pub client_host: String,
    pub server_vm: String,
    pub server_addr: [u8; 16],
    pub server_zone: String,
    pub server_host: String,
    pub proto: u8,
    pub server_port: u16,
    pub verdict: String,
    pub rule: String,
    pub severity: String,
    pub same_host: u8,
    pub observers: Vec<String>,
    pub start_ms: u64,
    pub end_ms: u64,
    pub conv_hash: u64,
}

/// A conversation's counters, from its page's keys
/// ([`crate::sql::conversation_keys_and_totals`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub packets_fwd: u64,
    pub bytes_fwd: u64,
}

impl DescribedRow {
    /// The whole row, with the conversation's `counters`.
    pub fn with(self, counters: Counters) -> ConversationRow {
        ConversationRow {
            client_vm: self.client_vm,
            client_addr: self.client_addr,
            client_zone: self.client_zone,
            client_host: self.client_host,
            server_vm: self.server_vm,
            server_addr: self.server_addr,
            server_zone: self.server_zone,
            server_host: self.server_host,
            proto: self.proto,
            server_port: self.server_port,
            verdict: self.verdict,
            rule: self.rule,
            severity: self.severity,
            same_host: self.same_host,
            observers: self.observers,
            flows: counters.flows,
            packets_fwd: counters.packets_fwd,
            bytes_fwd: counters.bytes_fwd,
            packets_rev: counters.packets.saturating_sub(counters.packets_fwd),
            bytes_rev: counters.bytes.saturating_sub(counters.bytes_fwd),
            packets: counters.packets,
            bytes: counters.bytes,
            start_ms: self.start_ms,
            end_ms: self.end_ms,
        }
    }
}

/// Totals over every conversation that matched, not only the page returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct Totals {
    pub conversations: u64,
    pub violations: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// One page of conversations and the totals of the whole result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

/// One cell of the zone matrix: traffic from `client_zone` to `server_zone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
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

impl CsvRow for MatrixCell {
    const COLUMNS: &'static [&'static str] = &[
        "client_zone",
        "server_zone",
        "conversations",
        "flows",
        "packets",
        "bytes",
        "violations",
        "violation_bytes",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.client_zone.clone(),
            self.server_zone.clone(),
            self.conversations.to_string(),
            self.flows.to_string(),
            self.packets.to_string(),
            self.bytes.to_string(),
            self.violations.to_string(),
            self.violation_bytes.to_string(),
        ]
    }
}

/// Where a violation was seen, and how much there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservationPoint {
    pub observer: String,
    pub encap: String,
    pub flows: u64,
    pub bytes: u64,
}

/// A violating conversation with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub severity: String,
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

impl CsvRow for Violation {
    const COLUMNS: &'static [&'static str] = &[
        "client_vm",
        "client_addr",
        "client_zone",
        "server_vm",
        "server_addr",
        "server_zone",
        "proto",
        "server_port",
        "rule",
        "severity",
        "same_host",
        "policy_revision",
        "first_ms",
        "last_ms",
        "flows",
        "packets",
        "bytes",
        "observation_points",
        "flows_url",
    ];

    fn fields(&self) -> Vec<String> {
        let points: Vec<String> = self
            .observation_points
            .iter()
            .map(|p| format!("{}/{}", p.observer, p.encap))
            .collect();
        vec![
            self.client_vm.clone(),
            opt(&self.client_addr),
            self.client_zone.clone(),
            self.server_vm.clone(),
            opt(&self.server_addr),
            self.server_zone.clone(),
            self.proto.to_string(),
            self.server_port.to_string(),
            self.rule.clone(),
            self.severity.clone(),
            u8::from(self.same_host).to_string(),
            self.policy_revision.clone(),
            self.first_ms.to_string(),
            self.last_ms.to_string(),
            self.flows.to_string(),
            self.packets.to_string(),
            self.bytes.to_string(),
            points.join(" "),
            self.flows_url.clone(),
        ]
    }
}

/// A violation as ClickHouse returns it.
#[derive(Debug, clickhouse::Row, Deserialize)]
pub struct ViolationRow {
    pub client_vm: String,
    pub client_addr: [u8; 16],
    pub client_zone: String,
    pub server_vm: String,
    pub server_addr: [u8; 16],
    pub server_zone: String,
    pub proto: u8,
    pub server_port: u16,
    pub rule: String,
    pub severity: String,
    pub same_host: u8,
    pub policy_revision: String,
    pub first_ms: u64,
    pub last_ms: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub points: Vec<(String, String, u64, u64)>,
}

impl From<ViolationRow> for Violation {
    fn from(row: ViolationRow) -> Violation {
        let client_addr = addr_if_unknown(&row.client_vm, row.client_addr);
        let server_addr = addr_if_unknown(&row.server_vm, row.server_addr);
        let flows_url = flows_url(&row, client_addr.as_deref(), server_addr.as_deref());
        let mut observation_points: Vec<ObservationPoint> = row
            .points
            .into_iter()
            .map(|(observer, encap, flows, bytes)| ObservationPoint {
                observer,
                encap,
                flows,
                bytes,
            })
            .collect();
        observation_points.sort_by(|a, b| (&a.observer, &a.encap).cmp(&(&b.observer, &b.encap)));
        Violation {
            client_vm: row.client_vm,
            client_addr,
            client_zone: row.client_zone,
            server_vm: row.server_vm,
            server_addr,
            server_zone: row.server_zone,
            proto: row.proto,
            server_port: row.server_port,
            rule: row.rule,
            severity: row.severity,
            same_host: row.same_host != 0,
            policy_revision: row.policy_revision,
            first_ms: row.first_ms,
            last_ms: row.last_ms,
            flows: row.flows,
            packets: row.packets,
            bytes: row.bytes,
            observation_points,
            flows_url,
        }
    }
}

/// `/api/v1/flows?...` selecting the flows of a violation: its time span
/// (whole seconds around it), its VMs, protocol, port and rule.
fn flows_url(row: &ViolationRow, client_addr: Option<&str>, server_addr: Option<&str>) -> String {
    let mut pairs: Vec<(&str, String)> = vec![
        ("from", (row.first_ms / 1000).to_string()),
        ("to", (row.last_ms / 1000 + 1).to_string()),
    ];
    // Unknown endpoints have no VM name to filter on; the rule, protocol
    // and port still narrow it down.
    if client_addr.is_none() {
        pairs.push(("vm", row.client_vm.clone()));
    }
    if server_addr.is_none() {
        pairs.push(("peer", row.server_vm.clone()));
    }
    pairs.push(("proto", row.proto.to_string()));
    pairs.push(("port", row.server_port.to_string()));
    pairs.push(("verdict", "violation".into()));
    pairs.push(("rule", row.rule.clone()));
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    format!("/api/v1/flows?{}", query.join("&"))
}

/// Percent-encode everything but RFC 3986 unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One raw flow record (evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRecord {
    pub start_ms: u64,
    pub end_ms: u64,
    pub observer: String,
    pub encap: String,
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
    pub verdict: String,
    pub rule: String,
    pub severity: String,
    pub policy_revision: String,
    pub dataset: String,
}

impl CsvRow for FlowRecord {
    const COLUMNS: &'static [&'static str] = &[
        "start_ms",
        "end_ms",
        "observer",
        "encap",
        "exporter",
        "source_id",
        "src_vm",
        "src_addr",
        "src_port",
        "dst_vm",
        "dst_addr",
        "dst_port",
        "proto",
        "reply",
        "packets",
        "bytes",
        "tcp_flags",
        "verdict",
        "rule",
        "severity",
        "policy_revision",
        "dataset",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.start_ms.to_string(),
            self.end_ms.to_string(),
            self.observer.clone(),
            self.encap.clone(),
            self.exporter.clone(),
            self.source_id.to_string(),
            self.src_vm.clone(),
            self.src_addr.clone(),
            self.src_port.to_string(),
            self.dst_vm.clone(),
            self.dst_addr.clone(),
            self.dst_port.to_string(),
            self.proto.to_string(),
            u8::from(self.reply).to_string(),
            self.packets.to_string(),
            self.bytes.to_string(),
            self.tcp_flags.to_string(),
            self.verdict.clone(),
            self.rule.clone(),
            self.severity.clone(),
            self.policy_revision.clone(),
            self.dataset.clone(),
        ]
    }
}

/// A raw flow as ClickHouse returns it.
#[derive(Debug, clickhouse::Row, Deserialize)]
pub struct FlowRecordRow {
    pub start_ms: u64,
    pub end_ms: u64,
    pub observer: String,
    pub encap: String,
    pub exporter: [u8; 16],
    pub source_id: u32,
    pub src_vm: String,
    pub src_addr: [u8; 16],
    pub src_port: u16,
    pub dst_vm: String,
    pub dst_addr: [u8; 16],
    pub dst_port: u16,
    pub proto: u8,
    pub reply: u8,
    pub packets: u64,
    pub bytes: u64,
    pub tcp_flags: u8,
    pub verdict: String,
    pub rule: String,
    pub severity: String,
    pub policy_revision: String,
    pub dataset: String,
}

impl From<FlowRecordRow> for FlowRecord {
    fn from(row: FlowRecordRow) -> FlowRecord {
        FlowRecord {
            start_ms: row.start_ms,
            end_ms: row.end_ms,
            observer: row.observer,
            encap: row.encap,
            exporter: addr_from_bytes(row.exporter).to_string(),
            source_id: row.source_id,
            src_vm: row.src_vm,
            src_addr: addr_from_bytes(row.src_addr).to_string(),
            src_port: row.src_port,
            dst_vm: row.dst_vm,
            dst_addr: addr_from_bytes(row.dst_addr).to_string(),
            dst_port: row.dst_port,
            proto: row.proto,
            reply: row.reply != 0,
            packets: row.packets,
            bytes: row.bytes,
            tcp_flags: row.tcp_flags,
            verdict: row.verdict,
            rule: row.rule,
            severity: row.severity,
            policy_revision: row.policy_revision,
            dataset: row.dataset,
        }
    }
}

/// Where a VM ran, as its flows show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct Placement {
    pub host: String,
    pub zones: Vec<String>,
    pub first_ms: u64,
    pub last_ms: u64,
}

/// One host's traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

impl CsvRow for HostSummary {
    const COLUMNS: &'static [&'static str] = &[
        "host",
        "vms",
        "conversations",
        "local_conversations",
        "local_bytes",
        "local_cross_zone",
        "violations",
        "bytes",
        "last_ms",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.host.clone(),
            self.vms.to_string(),
            self.conversations.to_string(),
            self.local_conversations.to_string(),
            self.local_bytes.to_string(),
            self.local_cross_zone.to_string(),
            self.violations.to_string(),
            self.bytes.to_string(),
            self.last_ms.to_string(),
        ]
    }
}

/// A host's conversation counters as ClickHouse returns them.
#[derive(Debug, clickhouse::Row, Deserialize)]
pub struct HostRow {
    pub host: String,
    pub conversations: u64,
    pub local_conversations: u64,
    pub local_bytes: u64,
    pub local_cross_zone: u64,
    pub violations: u64,
    pub bytes: u64,
    pub last_ms: u64,
}

/// The VMs seen on a host.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct HostVms {
    pub host: String,
    pub vms: Vec<String>,
}

/// One bucket of a time series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct Point {
    pub t_ms: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Violating flows.
    pub violations: u64,
    pub violation_bytes: u64,
}

impl CsvRow for Point {
    const COLUMNS: &'static [&'static str] = &[
        "t_ms",
        "flows",
        "packets",
        "bytes",
        "violations",
        "violation_bytes",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.t_ms.to_string(),
            self.flows.to_string(),
            self.packets.to_string(),
            self.bytes.to_string(),
            self.violations.to_string(),
            self.violation_bytes.to_string(),
        ]
    }
}

/// One exporter (address, source id): mirror coverage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Base URL of its packet store's evidence server (its options record),
    /// "" when it serves none: where `/api/v1/packets` fetches frames.
    pub evidence_url: String,
}

impl CsvRow for ExporterStatus {
    const COLUMNS: &'static [&'static str] = &[
        "exporter",
        "source_id",
        "name",
        "last_seen_ms",
        "packets",
        "flows",
        "sequence_gaps",
        "templates",
        "drops",
        "stale",
        "evidence_url",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.exporter.clone(),
            self.source_id.to_string(),
            self.name.clone(),
            self.last_seen_ms.to_string(),
            self.packets.to_string(),
            self.flows.to_string(),
            self.sequence_gaps.to_string(),
            self.templates.to_string(),
            self.drops.to_string(),
            u8::from(self.stale).to_string(),
            self.evidence_url.clone(),
        ]
    }
}

/// A dataset: the live data, or a replayed capture (`exporter --dataset`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dataset {
    pub name: String,
    /// The live data (kept `retention.flows_days` by the flows' own time);
    /// otherwise a replay, kept until deleted (or the collector's
    /// `retention.datasets_days` after it was stored).
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

impl CsvRow for Dataset {
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "live",
        "flows",
        "first_ms",
        "last_ms",
        "stored_first_ms",
        "stored_last_ms",
        "bytes",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            u8::from(self.live).to_string(),
            self.flows.to_string(),
            self.first_ms.to_string(),
            self.last_ms.to_string(),
            self.stored_first_ms.to_string(),
            self.stored_last_ms.to_string(),
            self.bytes.to_string(),
        ]
    }
}

/// A dataset's summary as ClickHouse returns it (`datasets` merged).
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct DatasetRow {
    pub dataset: String,
    pub flows: u64,
    pub first_ms: u64,
    pub last_ms: u64,
    pub stored_first: u32,
    pub stored_last: u32,
}

/// Where the exporter list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExporterSource {
    /// The collector's `exporters` snapshots: every counter.
    Exporters,
    /// The flows (no snapshot yet): only `flows` and `last_seen_ms`;
    /// packets, sequence gaps, templates and drops are unknown (0).
    Flows,
}

/// An exporter as ClickHouse returns it.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct ExporterRow {
    pub exporter: [u8; 16],
    pub source_id: u32,
    pub name: String,
    pub last_seen: u32,
    pub packets: u64,
    pub flows: u64,
    pub sequence_gaps: u64,
    pub templates: u32,
    pub drops: u64,
    pub evidence_url: String,
}

impl ExporterRow {
    /// The API's view, `stale` when not heard from since `now_ms - stale_ms`.
    pub fn status(self, now_ms: u64, stale_ms: u64) -> ExporterStatus {
        let last_seen_ms = u64::from(self.last_seen) * 1000;
        ExporterStatus {
            exporter: addr_from_bytes(self.exporter).to_string(),
            source_id: self.source_id,
            name: self.name,
            last_seen_ms,
            packets: self.packets,
            flows: self.flows,
            sequence_gaps: self.sequence_gaps,
            templates: self.templates,
            drops: self.drops,
            stale: now_ms.saturating_sub(last_seen_ms) > stale_ms,
            evidence_url: self.evidence_url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let cell = MatrixCell {
            client_zone: "a,b".into(),
            server_zone: "z\"q\nx".into(),
            conversations: 1,
            flows: 2,
            packets: 3,
            bytes: 4,
            violations: 0,
            violation_bytes: 0,
        };
        let csv = to_csv(&[cell]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], MatrixCell::COLUMNS.join(","));
        assert_eq!(lines[1], "\"a,b\",\"z\"\"q\nx\",1,2,3,4,0,0");
    }

    #[test]
    fn every_csv_row_has_its_header_width() {
        let conversation = Conversation {
            client_vm: String::new(),
            client_addr: Some("10.0.0.7".into()),
            client_zone: "unzoned".into(),
            client_host: String::new(),
            server_vm: "db-01".into(),
            server_addr: None,
            server_zone: "db".into(),
            server_host: "esx-02".into(),
            proto: 6,
            server_port: 5432,
            verdict: "unknown".into(),
            rule: String::new(),
            severity: String::new(),
            same_host: false,
            observers: vec!["esx-01".into(), "esx-02".into()],
            flows: 2,
            packets_fwd: 1,
            bytes_fwd: 2,
            packets_rev: 3,
            bytes_rev: 4,
            packets: 4,
            bytes: 6,
            start_ms: 5,
            end_ms: 6,
        };
        assert_eq!(conversation.fields().len(), Conversation::COLUMNS.len());
        assert_eq!(conversation.fields()[14], "esx-01 esx-02");
        assert_eq!(Point::default().fields().len(), Point::COLUMNS.len());
    }

    #[test]
    fn unknown_vms_show_their_address_and_the_flows_link_is_encoded() {
        let mut addr = [0u8; 16];
        addr[10] = 0xff;
        addr[11] = 0xff;
        addr[12..].copy_from_slice(&[10, 0, 0, 7]);
        let row = ViolationRow {
            client_vm: String::new(),
            client_addr: addr,
            client_zone: "unzoned".into(),
            server_vm: "db-01".into(),
            server_addr: [0; 16],
            server_zone: "db".into(),
            proto: 6,
            server_port: 5432,
            rule: "a & b = c".into(),
            severity: "high".into(),
            same_host: 0,
            policy_revision: "r1".into(),
            first_ms: 1_500,
            last_ms: 2_500,
            flows: 1,
            packets: 2,
            bytes: 3,
            points: vec![("esx-02".into(), "span".into(), 1, 3)],
        };
        let v = Violation::from(row);
        assert_eq!(v.client_addr.as_deref(), Some("10.0.0.7"));
        assert_eq!(v.server_addr, None);
        assert_eq!(
            v.flows_url,
            "/api/v1/flows?from=1&to=3&peer=db-01&proto=6&port=5432&verdict=violation&rule=a%20%26%20b%20%3D%20c"
        );
    }
}
