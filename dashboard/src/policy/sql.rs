//! The statements of the policy endpoints and the rows they return. Each
//! takes the quoted table names; `?` are bound in order.

use serde::Deserialize;

/// Every stored inventory event (`inventory_events`), in time order.
pub(super) fn events(table: &str) -> String {
    format!("SELECT ?fields FROM {table} ORDER BY time_ms, received_ms")
}

/// 1 when `table` exists.
pub(super) fn exists(table: &str) -> String {
    format!("EXISTS TABLE {table}")
}

/// ` AND dataset = ?` when the request names a dataset.
fn dataset_filter(dataset: bool) -> &'static str {
    if dataset {
        " AND dataset = ?"
    } else {
        ""
    }
}

/// The conversations of the one-minute rollup `table` in a window, rows
/// [`RollupConversation`]. Binds: from and to (DateTime), the dataset if
/// `dataset`.
pub(super) fn rollup_conversations(table: &str, dataset: bool) -> String {
    let dataset_filter = dataset_filter(dataset);
    format!(
        "SELECT client_vm, client_addr, server_vm, server_addr, proto, server_port, \
         observer, toUInt32(min(bucket)) AS first, verdict, rule, severity, \
         sum(flows) AS flows, sum(bytes_fwd + bytes_rev) AS bytes \
         FROM {table} WHERE bucket >= toDateTime(?) AND bucket < toDateTime(?){dataset_filter} \
         GROUP BY client_vm, client_addr, server_vm, server_addr, proto, server_port, \
         observer, verdict, rule, severity"
    )
}

/// The flow groups of the raw flows `table` in a window, rows
/// [`RawConversation`] (not yet oriented). Binds: from and to (epoch ms),
/// the dataset if `dataset`.
pub(super) fn raw_conversations(table: &str, dataset: bool) -> String {
    let dataset_filter = dataset_filter(dataset);
    format!(
        "SELECT src_vm, src_addr, dst_vm, dst_addr, proto, src_port, dst_port, icmp, \
         observer, min(start_ms) AS first_ms, verdict, rule, severity, \
         count() AS flows, sum(bytes) AS bytes \
         FROM {table} WHERE start_ms >= ? AND start_ms < ?{dataset_filter} \
         GROUP BY src_vm, src_addr, dst_vm, dst_addr, proto, src_port, dst_port, icmp, \
         observer, verdict, rule, severity"
    )
}

/// A row of [`rollup_conversations`].
#[derive(Debug, clickhouse::Row, Deserialize)]
pub(super) struct RollupConversation {
    pub(super) client_vm: String,
    pub(super) client_addr: [u8; 16],
    pub(super) server_vm: String,
    pub(super) server_addr: [u8; 16],
    pub(super) proto: u8,
    pub(super) server_port: u16,
    pub(super) observer: String,
    pub(super) first: u32,
    pub(super) verdict: String,
    pub(super) rule: String,
    pub(super) severity: String,
    pub(super) flows: u64,
    pub(super) bytes: u64,
}

/// A row of [`raw_conversations`].
#[derive(Debug, clickhouse::Row, Deserialize)]
pub(super) struct RawConversation {
    pub(super) src_vm: String,
    pub(super) src_addr: [u8; 16],
    pub(super) dst_vm: String,
    pub(super) dst_addr: [u8; 16],
    pub(super) proto: u8,
    pub(super) src_port: u16,
    pub(super) dst_port: u16,
    pub(super) icmp: u16,
    pub(super) observer: String,
    pub(super) first_ms: u64,
    pub(super) verdict: String,
    pub(super) rule: String,
    pub(super) severity: String,
    pub(super) flows: u64,
    pub(super) bytes: u64,
}
