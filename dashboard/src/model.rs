//! The rows ClickHouse sends back for the API's lists, and how they become
//! the API's rows (defined once in `eastwest-api`, re-exported here).

use eastwest_api::word::Word;
pub use eastwest_api::{
    csv_field, to_csv, Conversation, CsvRow, Dataset, Encap, ExporterSource, ExporterStatus,
    FlowRecord, HostSummary, MatrixCell, ObservationPoint, Placement, Point, Severity, Totals,
    VerdictKind, Violation,
};
use eastwest_clickhouse::schema::addr_from_bytes;
use serde::Deserialize;

/// The address of an endpoint whose VM is unknown (`vm` empty), else `None`.
fn addr_if_unknown(vm: &str, bytes: [u8; 16]) -> Option<String> {
    vm.is_empty().then(|| addr_from_bytes(bytes).to_string())
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
    #[serde(with = "eastwest_api::word")]
    pub verdict: VerdictKind,
    pub rule: String,
    #[serde(with = "eastwest_api::word")]
    pub severity: Option<Severity>,
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
    #[serde(with = "eastwest_api::word")]
    pub verdict: VerdictKind,
    pub rule: String,
    #[serde(with = "eastwest_api::word")]
    pub severity: Option<Severity>,
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

/// One page of conversations and the totals of the whole result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
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
    #[serde(with = "eastwest_api::word")]
    pub severity: Option<Severity>,
    pub same_host: u8,
    pub policy_revision: String,
    pub first_ms: u64,
    pub last_ms: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub points: Vec<(String, String, u64, u64)>,
    /// The conversation's `conv_hash` (what looks up its first and last
    /// seen).
    pub conv_hash: u64,
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
                // Only the collector's words are stored.
                encap: <Option<Encap>>::from_word(&encap).flatten(),
                flows,
                bytes,
            })
            .collect();
        observation_points
            .sort_by(|a, b| (&a.observer, a.encap.word()).cmp(&(&b.observer, b.encap.word())));
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

/// A raw flow as ClickHouse returns it.
#[derive(Debug, clickhouse::Row, Deserialize)]
pub struct FlowRecordRow {
    pub start_ms: u64,
    pub end_ms: u64,
    pub observer: String,
    #[serde(with = "eastwest_api::word")]
    pub encap: Option<Encap>,
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
    #[serde(with = "eastwest_api::word")]
    pub verdict: VerdictKind,
    pub rule: String,
    #[serde(with = "eastwest_api::word")]
    pub severity: Option<Severity>,
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
            severity: Some(Severity::High),
            same_host: 0,
            policy_revision: "r1".into(),
            first_ms: 1_500,
            last_ms: 2_500,
            flows: 1,
            packets: 2,
            bytes: 3,
            points: vec![("esx-02".into(), "span".into(), 1, 3)],
            conv_hash: 7,
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
