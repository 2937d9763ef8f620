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

mod cluster;
mod columns;
mod inventory_events;
mod migrate;
pub mod partitions;
mod rollups;
pub mod row;
mod series_buckets;

pub use cluster::*;
pub use columns::*;
pub use inventory_events::*;
pub use migrate::*;
pub use rollups::*;
pub use series_buckets::*;

pub use partitions::PARTITION_KEY;
pub use row::{flows_native_block, flows_native_insert, native_block_rows, FlowRow, FlowsBlock};

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
        // A batch (or a migration's copy) may span more than the 100
        // (dataset, day) partitions current servers allow by default; 18.16
        // has no such limit (and no such setting).
        &[("max_partitions_per_insert_block", "0")]
    }
}

/// Quote a ClickHouse identifier (database or table name) with backquotes.
/// Only names from configuration reach DDL; request values never do.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// Quote a string literal with single quotes.
pub fn quote_str(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickhouse::Row;

    #[test]
    fn rows_match_columns() {
        let names: Vec<&str> = FLOWS_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(FlowRow::COLUMN_NAMES, names.as_slice());
        let names: Vec<&str> = ROLLUP_COLUMNS.iter().map(|c| c.column.name).collect();
        assert_eq!(RollupRow::COLUMN_NAMES, names.as_slice());
        let names: Vec<&str> = EXPORTERS_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(ExporterRow::COLUMN_NAMES, names.as_slice());
        let names: Vec<&str> = SERIES_BUCKETS_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(SeriesBucketRow::COLUMN_NAMES, names.as_slice());
    }

    #[test]
    fn cluster_layout_stores_in_local_tables() {
        let layout = Layout {
            database: "ew".into(),
            cluster: Some("two".into()),
            on_cluster_ddl: true,
        };
        let ddl: Vec<String> = migrations(&layout)
            .into_iter()
            .map(|s| s.statement)
            .collect();
        assert!(ddl
            .iter()
            .all(|s| s.contains(" ON CLUSTER `two`") || s.starts_with("INSERT")));
        assert!(ddl
            .iter()
            .any(|s| s.contains("`ew`.`flows_local`") && s.contains("MergeTree()")));
        assert!(ddl
            .iter()
            .any(|s| s.contains("Distributed(`two`, `ew`, `flows_local`, rand())")));
        assert_eq!(
            layout.partitioned_tables()[0],
            ("flows", "flows_local".to_string())
        );
        // Per node: the same statements without ON CLUSTER.
        let per_node: Vec<String> = migrations(&Layout::cluster_per_node("ew", "two"))
            .into_iter()
            .map(|s| s.statement)
            .collect();
        assert!(per_node.iter().all(|s| !s.contains("ON CLUSTER")));
        assert_eq!(per_node.len(), ddl.len());
        // Each node backfills its own shard, locally.
        assert!(per_node.iter().any(|s| s.starts_with(
            "INSERT INTO `ew`.`flows_1m_local`"
        ) && s.contains("FROM `ew`.`flows_local` WHERE date NOT IN (SELECT date FROM `ew`.`flows_1m_local`)")));
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
        assert_eq!(
            query_settings(new),
            &[("max_partitions_per_insert_block", "0")]
        );
        assert!(ServerVersion::parse("garbage").is_none());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("eastwest"), "`eastwest`");
        assert_eq!(quote_ident("a`b"), "`a\\`b`");
    }
}
