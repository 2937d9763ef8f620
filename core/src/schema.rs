//! The ClickHouse schema: one definition for DDL, the row struct the
//! collector inserts and the column names the dashboard's API returns.
//!
//! It keeps to the SQL subset that works on ClickHouse 18.16 (the server
//! Debian ships) and on current releases (see DESIGN.md): addresses are
//! `FixedString(16)` (IPv4 mapped into IPv6), times are `DateTime` plus an
//! epoch-millisecond `UInt64`, no TTL (retention drops daily partitions),
//! `LowCardinality` only with `allow_experimental_low_cardinality_type=1` on
//! servers before 19 (see [`ServerVersion::needs_legacy_settings`]).

use std::net::{IpAddr, Ipv6Addr};

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ch_type: &'static str,
    pub doc: &'static str,
}

const fn col(name: &'static str, ch_type: &'static str, doc: &'static str) -> Column {
    Column { name, ch_type, doc }
}

/// Name of the raw flow table.
pub const FLOWS_TABLE: &str = "flows";

/// Columns of the raw `flows` table, in the order of [`FlowRow`].
pub const FLOWS_COLUMNS: &[Column] = &[
    col("date", "Date", "day of `start` (UTC), the partition key"),
    col("start", "DateTime", "first packet, seconds (UTC)"),
    col("start_ms", "UInt64", "first packet, epoch milliseconds"),
    col("end", "DateTime", "last packet, seconds (UTC)"),
    col("end_ms", "UInt64", "last packet, epoch milliseconds"),
    col(
        "received",
        "DateTime",
        "when the collector received the record",
    ),
    col(
        "dataset",
        "LowCardinality(String)",
        "'live', or the name of a replay (exporter --dataset)",
    ),
    col(
        "exporter",
        "FixedString(16)",
        "exporter address (IPv4 mapped into IPv6)",
    ),
    col(
        "source_id",
        "UInt32",
        "NetFlow Source ID (observation domain)",
    ),
    col(
        "observer",
        "LowCardinality(String)",
        "hypervisor host where the flow was observed",
    ),
    col(
        "encap",
        "LowCardinality(String)",
        "capture path: span, erspan1, erspan2, erspan3, vxlan, geneve",
    ),
    col("session", "UInt16", "ERSPAN session id, 0 if none"),
    col(
        "vlan",
        "UInt16",
        "802.1Q VLAN of the metered frame, 0 if untagged",
    ),
    col("vni", "UInt32", "VXLAN/Geneve VNI, 0 if none"),
    col(
        "src_addr",
        "FixedString(16)",
        "source address (IPv4 mapped into IPv6)",
    ),
    col(
        "dst_addr",
        "FixedString(16)",
        "destination address (IPv4 mapped into IPv6)",
    ),
    col("src_port", "UInt16", "L4 source port"),
    col("dst_port", "UInt16", "L4 destination port"),
    col("proto", "UInt8", "IP protocol number"),
    col("tos", "UInt8", "IP TOS / traffic class"),
    col("tcp_flags", "UInt8", "OR of TCP flags"),
    col("icmp", "UInt16", "ICMP type * 256 + code"),
    col("src_mac", "FixedString(6)", "source MAC"),
    col("dst_mac", "FixedString(6)", "destination MAC"),
    col("packets", "UInt64", "packets (scaled by sampling)"),
    col("bytes", "UInt64", "IP bytes (scaled by sampling)"),
    col(
        "sampling",
        "UInt32",
        "sampling interval applied (1 = unsampled)",
    ),
    col(
        "src_vm",
        "LowCardinality(String)",
        "source VM name, '' if unknown",
    ),
    col(
        "dst_vm",
        "LowCardinality(String)",
        "destination VM name, '' if unknown",
    ),
    col(
        "src_host",
        "LowCardinality(String)",
        "host the source VM ran on at the time",
    ),
    col(
        "dst_host",
        "LowCardinality(String)",
        "host the destination VM ran on at the time",
    ),
    col(
        "src_zone",
        "LowCardinality(String)",
        "source zone, 'unzoned' if none matched",
    ),
    col(
        "dst_zone",
        "LowCardinality(String)",
        "destination zone, 'unzoned' if none matched",
    ),
    col(
        "same_host",
        "UInt8",
        "1 when both VMs ran on one host (switched locally)",
    ),
    col(
        "verdict",
        "LowCardinality(String)",
        "allowed, violation or unknown",
    ),
    col("rule", "String", "the rule that decided the verdict"),
    col(
        "severity",
        "LowCardinality(String)",
        "severity of that rule, '' if allowed",
    ),
    col(
        "policy_revision",
        "LowCardinality(String)",
        "revision of the policy that judged the flow",
    ),
];

/// One row of the `flows` table, field for field [`FLOWS_COLUMNS`].
#[derive(
    Default, Debug, Clone, PartialEq, Eq, clickhouse::Row, serde::Serialize, serde::Deserialize,
)]
pub struct FlowRow {
    pub date: u16,
    pub start: u32,
    pub start_ms: u64,
    pub end: u32,
    pub end_ms: u64,
    pub received: u32,
    pub dataset: String,
    pub exporter: [u8; 16],
    pub source_id: u32,
    pub observer: String,
    pub encap: String,
    pub session: u16,
    pub vlan: u16,
    pub vni: u32,
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub tos: u8,
    pub tcp_flags: u8,
    pub icmp: u16,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub packets: u64,
    pub bytes: u64,
    pub sampling: u32,
    pub src_vm: String,
    pub dst_vm: String,
    pub src_host: String,
    pub dst_host: String,
    pub src_zone: String,
    pub dst_zone: String,
    pub same_host: u8,
    pub verdict: String,
    pub rule: String,
    pub severity: String,
    pub policy_revision: String,
}

/// Address as stored: IPv4 mapped into IPv6.
pub fn addr_to_bytes(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Inverse of [`addr_to_bytes`]: mapped IPv4 comes back as IPv4.
pub fn addr_from_bytes(bytes: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(bytes);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// Days since 1970-01-01 for a ClickHouse `Date` from epoch milliseconds.
pub fn date_of_ms(ms: u64) -> u16 {
    u16::try_from(ms / 86_400_000).unwrap_or(u16::MAX)
}

/// Seconds for a ClickHouse `DateTime` from epoch milliseconds.
pub fn datetime_of_ms(ms: u64) -> u32 {
    u32::try_from(ms / 1000).unwrap_or(u32::MAX)
}

/// A ClickHouse server version, as `SELECT version()` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
}

impl ServerVersion {
    /// Parse "18.16.1" or "24.8.4.13"; `None` if it is not a version.
    pub fn parse(text: &str) -> Option<ServerVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(ServerVersion { major, minor })
    }

    /// Servers before 19 need `with_validation(false)` on the client and
    /// `allow_experimental_low_cardinality_type=1` per query; current servers
    /// reject that setting as unknown, so it is only sent to old ones.
    pub fn needs_legacy_settings(self) -> bool {
        self.major < 19
    }
}

/// The settings to send with every query to a server of `version`.
pub fn query_settings(version: ServerVersion) -> &'static [(&'static str, &'static str)] {
    if version.needs_legacy_settings() {
        &[("allow_experimental_low_cardinality_type", "1")]
    } else {
        &[]
    }
}

/// Quote a ClickHouse identifier (database or table name) with backquotes.
/// Only names from configuration reach DDL; request values never do.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// The statements that bring `database` to the current schema. Each is
/// idempotent (`IF NOT EXISTS`), so running them at every start-up is safe.
pub fn migrations(database: &str) -> Vec<String> {
    let db = quote_ident(database);
    let columns: Vec<String> = FLOWS_COLUMNS
        .iter()
        .map(|c| format!("    {} {}", quote_ident(c.name), c.ch_type))
        .collect();
    vec![
        format!("CREATE DATABASE IF NOT EXISTS {db}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.{table} (\n{cols}\n) ENGINE = MergeTree() \
             PARTITION BY date ORDER BY (dataset, start, src_vm, dst_vm)",
            table = quote_ident(FLOWS_TABLE),
            cols = columns.join(",\n"),
        ),
    ]
    .into_iter()
    .chain(inventory_events_migrations(database))
    .collect()
}

// ---------------------------------------------------------------------------
// `inventory_events` (owned by the policy area; see core/src/inventory.rs).
// ---------------------------------------------------------------------------

/// Changes posted to the dashboard (`POST /api/v1/inventory/events`); the
/// collector polls the table and applies them over the inventory file.
pub const INVENTORY_EVENTS_TABLE: &str = "inventory_events";

/// Columns of `inventory_events`, in the order of [`InventoryEventRow`].
pub const INVENTORY_EVENTS_COLUMNS: &[Column] = &[
    col(
        "received",
        "DateTime",
        "when the dashboard stored the event",
    ),
    col(
        "received_ms",
        "UInt64",
        "the same in epoch milliseconds; with `time_ms` orders the events",
    ),
    col(
        "time_ms",
        "UInt64",
        "when the change took effect (the event's `time`), epoch milliseconds",
    ),
    col("vm", "String", "the VM the event is about"),
    col(
        "event",
        "String",
        "the event as posted, JSON of `core::inventory::InventoryEvent`",
    ),
];

/// One row of `inventory_events`.
#[derive(
    Default, Debug, Clone, PartialEq, Eq, clickhouse::Row, serde::Serialize, serde::Deserialize,
)]
pub struct InventoryEventRow {
    pub received: u32,
    pub received_ms: u64,
    pub time_ms: u64,
    pub vm: String,
    pub event: String,
}

/// The idempotent DDL of `inventory_events` (part of [`migrations`]).
fn inventory_events_migrations(database: &str) -> Vec<String> {
    let columns: Vec<String> = INVENTORY_EVENTS_COLUMNS
        .iter()
        .map(|c| format!("    {} {}", quote_ident(c.name), c.ch_type))
        .collect();
    vec![format!(
        "CREATE TABLE IF NOT EXISTS {db}.{table} (\n{cols}\n) ENGINE = MergeTree() \
         ORDER BY (time_ms, received_ms)",
        db = quote_ident(database),
        table = quote_ident(INVENTORY_EVENTS_TABLE),
        cols = columns.join(",\n"),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickhouse::Row;

    #[test]
    fn row_matches_columns() {
        let names: Vec<&str> = FLOWS_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(FlowRow::COLUMN_NAMES, names.as_slice());
    }

    #[test]
    fn inventory_event_row_matches_columns() {
        let names: Vec<&str> = INVENTORY_EVENTS_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(InventoryEventRow::COLUMN_NAMES, names.as_slice());
    }

    #[test]
    fn addresses_round_trip() {
        for text in ["10.1.2.3", "2001:db8::1", "::1", "0.0.0.0"] {
            let addr: IpAddr = text.parse().unwrap();
            assert_eq!(addr_from_bytes(addr_to_bytes(addr)), addr);
        }
    }

    #[test]
    fn versions() {
        let old = ServerVersion::parse("18.16.1").unwrap();
        let new = ServerVersion::parse("24.8.4.13").unwrap();
        assert!(old.needs_legacy_settings());
        assert!(!new.needs_legacy_settings());
        assert_eq!(query_settings(new), &[]);
        assert!(ServerVersion::parse("garbage").is_none());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("eastwest"), "`eastwest`");
        assert_eq!(quote_ident("a`b"), "`a\\`b`");
    }
}
