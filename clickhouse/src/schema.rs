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

pub mod partitions;
pub mod row;

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
        "reply",
        "UInt8",
        "1 when the row is the reply direction of its conversation \
         (core::flow::direction: from the responder's service port, or an ICMP reply type)",
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

/// How ClickHouse computes `reply` for rows stored before the column
/// existed (the previous schema): the same rule as
/// [`eastwest_core::flow::direction`], so old rows feed the rollups oriented too.
/// New rows always carry `reply` from the collector.
pub const REPLY_DEFAULT: &str = "multiIf(proto IN (6, 17, 132), src_port < dst_port, \
     proto = 1, intDiv(icmp, 256) IN (0, 14, 16, 18), proto = 58, intDiv(icmp, 256) = 129, 0)";

/// The `reply` flag of a row, from its own columns (what the collector
/// stores and what [`REPLY_DEFAULT`] computes for old rows).
pub fn reply_of(proto: u8, src_port: u16, dst_port: u16, icmp: u16) -> u8 {
    u8::from(
        eastwest_core::flow::direction(proto, src_port, dst_port, icmp)
            == eastwest_core::flow::Direction::Reply,
    )
}

/// A column of a rollup table and how its materialized view computes it
/// from `flows`. `{bucket}` in `expr` stands for the rollup's time-bucket
/// expression ([`Rollup::bucket`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupColumn {
    pub column: Column,
    pub expr: &'static str,
    /// Summed by the SummingMergeTree (else part of the key).
    pub summed: bool,
}

const fn key(
    name: &'static str,
    ch_type: &'static str,
    expr: &'static str,
    doc: &'static str,
) -> RollupColumn {
    RollupColumn {
        column: col(name, ch_type, doc),
        expr,
        summed: false,
    }
}

const fn sum(name: &'static str, expr: &'static str, doc: &'static str) -> RollupColumn {
    RollupColumn {
        column: col(name, "UInt64", doc),
        expr,
        summed: true,
    }
}

/// Columns of the rollup tables `flows_1m` and `flows_1h`, in the order of
/// [`RollupRow`]. Rows are oriented as conversations: the client is the
/// initiator (the source of a request row, the destination of a reply row),
/// the server the responder; `*_fwd` counts client → server, `*_rev`
/// server → client. The observer stays in the key, so a conversation
/// mirrored at two points is two rollup rows, one per observation point.
pub const ROLLUP_COLUMNS: &[RollupColumn] = &[
    key("date", "Date", "date", "day of `bucket`, the partition key"),
    key(
        "bucket",
        "DateTime",
        "{bucket}",
        "start of the minute, 10 minutes, hour or day (UTC) the flows started in",
    ),
    key(
        "dataset",
        "LowCardinality(String)",
        "dataset",
        "'live', or the name of a replay",
    ),
    key(
        "client_vm",
        "LowCardinality(String)",
        "if(reply, dst_vm, src_vm)",
        "initiator VM, '' if unknown",
    ),
    key(
        "client_addr",
        "FixedString(16)",
        "if(reply, dst_addr, src_addr)",
        "initiator address (IPv4 mapped into IPv6)",
    ),
    key(
        "client_zone",
        "LowCardinality(String)",
        "if(reply, dst_zone, src_zone)",
        "initiator zone",
    ),
    key(
        "client_host",
        "LowCardinality(String)",
        "if(reply, dst_host, src_host)",
        "host the initiator VM ran on",
    ),
    key(
        "server_vm",
        "LowCardinality(String)",
        "if(reply, src_vm, dst_vm)",
        "responder VM, '' if unknown",
    ),
    key(
        "server_addr",
        "FixedString(16)",
        "if(reply, src_addr, dst_addr)",
        "responder address (IPv4 mapped into IPv6)",
    ),
    key(
        "server_zone",
        "LowCardinality(String)",
        "if(reply, src_zone, dst_zone)",
        "responder zone",
    ),
    key(
        "server_host",
        "LowCardinality(String)",
        "if(reply, src_host, dst_host)",
        "host the responder VM ran on",
    ),
    key("proto", "UInt8", "proto", "IP protocol number"),
    key(
        "server_port",
        "UInt16",
        "if(reply, src_port, dst_port)",
        "responder (service) port, 0 for ICMP",
    ),
    key(
        "verdict",
        "LowCardinality(String)",
        "verdict",
        "allowed, violation or unknown (a reply carries its request's)",
    ),
    key(
        "rule",
        "String",
        "rule",
        "the rule that decided the verdict",
    ),
    key(
        "severity",
        "LowCardinality(String)",
        "severity",
        "severity of that rule, '' if allowed",
    ),
    key(
        "same_host",
        "UInt8",
        "same_host",
        "1 when both VMs ran on one host",
    ),
    key(
        "observer",
        "LowCardinality(String)",
        "observer",
        "hypervisor host where the flows were observed",
    ),
    key(
        "encap",
        "LowCardinality(String)",
        "encap",
        "capture path (span, erspan1-3, vxlan, geneve)",
    ),
    sum(
        "bytes_fwd",
        "sum(if(reply, 0, bytes))",
        "bytes client → server",
    ),
    sum(
        "bytes_rev",
        "sum(if(reply, bytes, 0))",
        "bytes server → client",
    ),
    sum(
        "packets_fwd",
        "sum(if(reply, 0, packets))",
        "packets client → server",
    ),
    sum(
        "packets_rev",
        "sum(if(reply, packets, 0))",
        "packets server → client",
    ),
    sum(
        "flows",
        "count()",
        "unidirectional flow records (rows of `flows`) summed in",
    ),
];

/// A rollup column computed from the row's own key columns, stored so the
/// dashboard's conversation queries group and rank on one number per row
/// instead of hashing a dozen String columns of every row (on ClickHouse
/// 18.16, 24 hours of 10M flows: about 0.15 s for the grouping alone
/// against about 1 s when hashing per row). The materialized views compute `expr` after their GROUP
/// BY (from the key columns' aliases); `expr` is also the column's
/// `DEFAULT`, which fills rows written without it (rollup rows stored
/// before the column existed are computed on read, and direct inserts of a
/// [`RollupRow`]); the dashboard computes the same `expr` on the oriented
/// raw flows, so every table gives one conversation one hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerivedColumn {
    pub column: Column,
    pub expr: &'static str,
}

/// The conversation's identity (see [`DerivedColumn`]).
pub const CONV_HASH: DerivedColumn = DerivedColumn {
    column: col(
        "conv_hash",
        "UInt64",
        "CityHash64 of the conversation: both VMs (or, for an unknown VM, its \
         address), zones, protocol, service port, verdict, rule, severity, same_host",
    ),
    expr: "cityHash64(client_vm, if(client_vm = '', client_addr, toFixedString('', 16)), \
           client_zone, server_vm, if(server_vm = '', server_addr, toFixedString('', 16)), \
           server_zone, proto, server_port, verdict, rule, severity, same_host)",
};

/// The capture paths of an overlay's underlay (VXLAN, Geneve, NVGRE, routed
/// GRE), as a ClickHouse tuple: what [`POINT_HASH`] and [`POINT_RANK`] treat
/// as one observation point for both directions.
pub const UNDERLAYS: &str = "('vxlan', 'geneve', 'nvgre', 'gre')";

/// The conversation at one observation point. A port mirror's point is its
/// observer and capture path; an underlay's is its capture path alone: its
/// rows are attributed per direction by the outer source (the request to
/// the client's host, the reply to the server's), and both directions are
/// one capture of the conversation.
pub const POINT_HASH: DerivedColumn = DerivedColumn {
    column: col(
        "point_hash",
        "UInt64",
        "CityHash64 of the conversation and its observation point (observer and \
         capture path; an underlay's capture path alone)",
    ),
    expr: "cityHash64(conv_hash, \
           if(encap IN ('vxlan', 'geneve', 'nvgre', 'gre'), '', observer), encap)",
};

/// How local an observation point is to the conversation, the same for
/// both directions of it.
pub const POINT_RANK: DerivedColumn = DerivedColumn {
    column: col(
        "point_rank",
        "UInt8",
        "how local the observation point is: a mirror of the VM's port ranks \
         4 at the client's host, 2 at the server's, +1 (it sees the VM's own \
         port); an underlay (VXLAN, Geneve, NVGRE or routed GRE) 4 at either \
         end's host, as its point spans both (the request attributed to the \
         client's, the reply to the server's)",
    ),
    expr: "toUInt8(if(encap IN ('vxlan', 'geneve', 'nvgre', 'gre'), \
           (observer != '' AND (observer = client_host OR observer = server_host)) * 4, \
           (observer != '' AND observer = client_host) * 4 \
           + (observer != '' AND observer = server_host) * 2 + 1))",
};

/// The rollups' [`DerivedColumn`]s (after [`ROLLUP_COLUMNS`] in the table).
/// The expressions name rollup columns, which is also what the dashboard
/// calls the oriented columns of raw flows.
pub const ROLLUP_DERIVED: &[DerivedColumn] = &[CONV_HASH, POINT_HASH, POINT_RANK];

/// One row of `flows_1m` / `flows_1h`, field for field [`ROLLUP_COLUMNS`].
#[derive(
    Default, Debug, Clone, PartialEq, Eq, clickhouse::Row, serde::Serialize, serde::Deserialize,
)]
pub struct RollupRow {
    pub date: u16,
    pub bucket: u32,
    pub dataset: String,
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
    pub observer: String,
    pub encap: String,
    pub bytes_fwd: u64,
    pub bytes_rev: u64,
    pub packets_fwd: u64,
    pub packets_rev: u64,
    pub flows: u64,
}

/// A rollup table: its name, its materialized view and its time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollup {
    pub table: &'static str,
    pub view: &'static str,
    /// ClickHouse expression truncating `start` to the bucket (UTC: whole
    /// multiples of the bucket since the epoch, whatever the server's time
    /// zone, as the dashboard cuts windows).
    pub bucket: &'static str,
    pub bucket_secs: u32,
    /// The finer rollup a migration fills this one from (its rows hold
    /// the same sums per key, in buckets that divide this one's), or
    /// `None` for raw `flows`: a new coarser rollup is backfilled from
    /// its finer one, which the retention keeps longer than raw flows.
    pub finer: Option<&'static str>,
}

/// The 1-minute rollup.
pub const FLOWS_1M: Rollup = Rollup {
    table: "flows_1m",
    view: "flows_1m_mv",
    bucket: "toStartOfMinute(start)",
    bucket_secs: 60,
    finer: None,
};

/// The 10-minute rollup: the edges of an hourly window, which the minute
/// rollup answers only with about one row per conversation and minute on
/// a busy day.
pub const FLOWS_10M: Rollup = Rollup {
    table: "flows_10m",
    view: "flows_10m_mv",
    bucket: "toDateTime(intDiv(toUInt32(start), 600) * 600)",
    bucket_secs: 600,
    finer: Some("flows_1m"),
};

/// The 1-hour rollup.
pub const FLOWS_1H: Rollup = Rollup {
    table: "flows_1h",
    view: "flows_1h_mv",
    bucket: "toStartOfHour(start)",
    bucket_secs: 3600,
    finer: None,
};

/// The 1-day rollup (UTC days): windows of a week and more.
pub const FLOWS_1D: Rollup = Rollup {
    table: "flows_1d",
    view: "flows_1d_mv",
    bucket: "toDateTime(intDiv(toUInt32(start), 86400) * 86400)",
    bucket_secs: 86_400,
    finer: Some("flows_1h"),
};

/// Every rollup, finest first (a rollup's `finer` comes before it).
pub const ROLLUPS: [Rollup; 4] = [FLOWS_1M, FLOWS_10M, FLOWS_1H, FLOWS_1D];

/// Name of the table that sums up each dataset, day by day.
pub const DATASETS_TABLE: &str = "datasets";

/// The view that feeds [`DATASETS_TABLE`] from `flows`.
pub const DATASETS_VIEW: &str = "datasets_mv";

/// Columns of `datasets` (an AggregatingMergeTree fed by a view from
/// `flows`, partitioned like it, so it drops with the flows it describes):
/// read with `countMerge(flows)`, `minMerge(first_ms)`, ... grouped by
/// `dataset`.
pub const DATASETS_COLUMNS: &[Column] = &[
    col(
        "date",
        "Date",
        "day of the flows' `start` (UTC), the partition key",
    ),
    col(
        "dataset",
        "LowCardinality(String)",
        "'live', or the name of a replay",
    ),
    col(
        "flows",
        "AggregateFunction(count)",
        "rows of `flows` stored",
    ),
    col(
        "first_ms",
        "AggregateFunction(min, UInt64)",
        "first packet of the first flow, epoch milliseconds",
    ),
    col(
        "last_ms",
        "AggregateFunction(max, UInt64)",
        "last packet of the last flow, epoch milliseconds",
    ),
    col(
        "stored_first",
        "AggregateFunction(min, DateTime)",
        "when the collector received its first flow",
    ),
    col(
        "stored_last",
        "AggregateFunction(max, DateTime)",
        "when the collector received its last flow",
    ),
];

/// Name of the table that sums up, per minute, the flows each policy
/// revision judged at each observation point.
pub const OBSERVED_1M_TABLE: &str = "observed_1m";

/// The view that feeds [`OBSERVED_1M_TABLE`] from `flows`.
pub const OBSERVED_1M_VIEW: &str = "observed_1m_mv";

/// Columns of `observed_1m` (an AggregatingMergeTree fed by a view from
/// `flows`, partitioned like it): per minute, dataset, observer and policy
/// revision, the flows' count, first start and last end, exact to the
/// millisecond (merged with `countMerge(flows)`, `minMerge(first_ms)`,
/// `maxMerge(last_ms)`). A few rows per observer and minute whatever the
/// traffic: what the compliance report's revisions and mirror coverage
/// read instead of the raw flows.
pub const OBSERVED_1M_COLUMNS: &[Column] = &[
    col("date", "Date", "day of `bucket`, the partition key"),
    col(
        "bucket",
        "DateTime",
        "start of the minute the flows started in",
    ),
    col(
        "dataset",
        "LowCardinality(String)",
        "'live', or the name of a replay",
    ),
    col(
        "observer",
        "LowCardinality(String)",
        "hypervisor host where the flows were observed",
    ),
    col(
        "policy_revision",
        "LowCardinality(String)",
        "the policy revision that judged the flows",
    ),
    col(
        "flows",
        "AggregateFunction(count)",
        "rows of `flows` stored",
    ),
    col(
        "first_ms",
        "AggregateFunction(min, UInt64)",
        "first packet of the first flow, epoch milliseconds",
    ),
    col(
        "last_ms",
        "AggregateFunction(max, UInt64)",
        "last packet of the last flow, epoch milliseconds",
    ),
];

/// Name of the table that keeps, per conversation and hour, when it was
/// first and last seen.
pub const CONVERSATIONS_SEEN_TABLE: &str = "conversations_seen";

/// The view that feeds [`CONVERSATIONS_SEEN_TABLE`] from `flows`.
pub const CONVERSATIONS_SEEN_VIEW: &str = "conversations_seen_mv";

/// Columns of `conversations_seen` (an AggregatingMergeTree fed by a view
/// from `flows`, partitioned like it): per dataset, conversation
/// ([`CONV_HASH`], oriented as the rollups orient it) and hour its flows
/// started in, the first start and the last end, exact to the millisecond
/// (merged with `minMerge(first_ms)`, `maxMerge(last_ms)`). The rollups
/// (SummingMergeTree) keep no minimum or maximum, so a conversation read
/// from them is seen at its buckets' bounds; this table gives the real
/// times of the conversations a page shows, looked up by `conv_hash` (its
/// sort key's second column, so a page's few keys read a few granules).
/// One row per conversation and hour, whatever the flows.
pub const CONVERSATIONS_SEEN_COLUMNS: &[Column] = &[
    col("date", "Date", "day of `bucket`, the partition key"),
    col(
        "bucket",
        "DateTime",
        "start of the hour (UTC) the flows started in",
    ),
    col(
        "dataset",
        "LowCardinality(String)",
        "'live', or the name of a replay",
    ),
    col(
        "conv_hash",
        "UInt64",
        "the conversation, as the rollups' `conv_hash`",
    ),
    col(
        "first_ms",
        "AggregateFunction(min, UInt64)",
        "first packet of its first flow, epoch milliseconds",
    ),
    col(
        "last_ms",
        "AggregateFunction(max, UInt64)",
        "last packet of its last flow, epoch milliseconds",
    ),
];

/// The `SELECT` that fills `conversations_seen` from `{from}` (a `flows`
/// table): the rollups' orientation of each row (their key columns'
/// expressions, as `WITH` aliases) hashed by [`CONV_HASH`].
fn conversations_seen_select() -> String {
    let oriented: Vec<String> = ROLLUP_COLUMNS
        .iter()
        .filter(|c| !c.summed && c.expr != c.column.name && !c.expr.contains('{'))
        .map(|c| {
            let expr = if c.column.ch_type.starts_with("LowCardinality") {
                format!("CAST({} AS {})", c.expr, c.column.ch_type)
            } else {
                c.expr.to_string()
            };
            format!("{expr} AS {}", quote_ident(c.column.name))
        })
        .collect();
    format!(
        "WITH {} SELECT date, toStartOfHour(start) AS bucket, dataset, {} AS conv_hash, \
         minState(start_ms) AS first_ms, maxState(end_ms) AS last_ms FROM {{from}} \
         GROUP BY date, bucket, dataset, conv_hash",
        oriented.join(", "),
        CONV_HASH.expr
    )
}

/// Name of the exporters table.
pub const EXPORTERS_TABLE: &str = "exporters";

/// Columns of `exporters`, in the order of [`ExporterRow`]. The collector
/// writes one row per (exporter, source id) it heard from every
/// `exporters_interval_ms`; counters run since that collector started. The
/// table is a ReplacingMergeTree on `updated`: the newest snapshot of each
/// (exporter, source id, collector) wins (read with `argMax(..., updated)`
/// or `FINAL`).
pub const EXPORTERS_COLUMNS: &[Column] = &[
    col(
        "updated",
        "DateTime",
        "when the collector wrote this snapshot",
    ),
    col(
        "collector",
        "LowCardinality(String)",
        "the collector instance (its host name) that receives this exporter",
    ),
    col(
        "started",
        "DateTime",
        "when that collector started: the counters run from here",
    ),
    col(
        "exporter",
        "FixedString(16)",
        "exporter address (IPv4 mapped into IPv6)",
    ),
    col(
        "source_id",
        "UInt32",
        "NetFlow Source ID / IPFIX observation domain",
    ),
    col(
        "name",
        "String",
        "observationDomainName from the options record, '' if none",
    ),
    col("last_seen", "DateTime", "last datagram from it"),
    col("packets", "UInt64", "export datagrams received"),
    col("flows", "UInt64", "flow records decoded"),
    col(
        "sequence_gaps",
        "UInt64",
        "export packets (v9) / records (IPFIX) missed per the sequence numbers",
    ),
    col("templates", "UInt32", "templates currently known"),
    col(
        "drops",
        "UInt64",
        "flowsets or records that could not be decoded (missing template, missing address)",
    ),
    col("version", "UInt16", "NetFlow version: 5, 9 or 10 (IPFIX)"),
    col("port", "UInt16", "UDP source port the exporter sends from"),
    col(
        "dataset",
        "String",
        "dataset its options record names (a replay), '' = live",
    ),
    col("first_seen", "DateTime", "first datagram from it"),
    col(
        "late",
        "UInt64",
        "export packets that arrived after a later one (counted in sequence_gaps, not lost)",
    ),
    col(
        "evidence_url",
        "String",
        "base URL of its packet store's evidence server (options record), '' = none",
    ),
];

/// One row of `exporters`, field for field [`EXPORTERS_COLUMNS`].
#[derive(
    Default, Debug, Clone, PartialEq, Eq, clickhouse::Row, serde::Serialize, serde::Deserialize,
)]
pub struct ExporterRow {
    pub updated: u32,
    pub collector: String,
    pub started: u32,
    pub exporter: [u8; 16],
    pub source_id: u32,
    pub name: String,
    pub last_seen: u32,
    pub packets: u64,
    pub flows: u64,
    pub sequence_gaps: u64,
    pub templates: u32,
    pub drops: u64,
    pub version: u16,
    pub port: u16,
    pub dataset: String,
    pub first_seen: u32,
    pub late: u64,
    pub evidence_url: String,
}

/// Where the schema lives: a database on one server, or on every shard of
/// a ClickHouse cluster (`cluster`, as named in the servers'
/// `remote_servers`). With a cluster, each table `T` is stored in `T_local`
/// on every shard (created `ON CLUSTER`) and `T` is a `Distributed` table
/// over them, so readers and writers use the same names either way.
///
/// The DDL is issued either once `ON CLUSTER` (the server's distributed DDL
/// queue, which needs ZooKeeper on ClickHouse 18.16) or, with
/// `on_cluster_ddl` false, without it, to every node in turn (the caller
/// runs [`migrate`] once per node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub database: String,
    pub cluster: Option<String>,
    pub on_cluster_ddl: bool,
}

impl Layout {
    /// One server, one database.
    pub fn single(database: &str) -> Layout {
        Layout {
            database: database.to_string(),
            cluster: None,
            on_cluster_ddl: false,
        }
    }

    /// Every shard of `cluster`, the DDL run on each node in turn (no
    /// `ON CLUSTER`, so no ZooKeeper needed).
    pub fn cluster_per_node(database: &str, cluster: &str) -> Layout {
        Layout {
            database: database.to_string(),
            cluster: Some(cluster.to_string()),
            on_cluster_ddl: false,
        }
    }

    /// `db`.`name` of the table readers and writers use.
    pub fn table(&self, name: &str) -> String {
        format!("{}.{}", quote_ident(&self.database), quote_ident(name))
    }

    /// The table holding the rows on this server (`T_local` in a cluster).
    fn storage_name(&self, name: &str) -> String {
        match self.cluster {
            Some(_) => format!("{name}_local"),
            None => name.to_string(),
        }
    }

    fn storage(&self, name: &str) -> String {
        self.table(&self.storage_name(name))
    }

    /// ` ON CLUSTER c`, or nothing (one server, or DDL run per node).
    fn on_cluster(&self) -> String {
        match &self.cluster {
            Some(cluster) if self.on_cluster_ddl => {
                format!(" ON CLUSTER {}", quote_ident(cluster))
            }
            _ => String::new(),
        }
    }

    /// The tables that hold rows partitioned by [`PARTITION_KEY`] on each
    /// server, for retention and the deletion of a dataset: `flows`, the
    /// rollups, `datasets`, `observed_1m` and `conversations_seen`.
    pub fn partitioned_tables(&self) -> Vec<(&'static str, String)> {
        std::iter::once(FLOWS_TABLE)
            .chain(ROLLUPS.iter().map(|r| r.table))
            .chain([DATASETS_TABLE, OBSERVED_1M_TABLE, CONVERSATIONS_SEEN_TABLE])
            .map(|name| (name, self.storage_name(name)))
            .collect()
    }
}

/// One migration step: a statement, run only when `check` (a query
/// answering one `UInt64`) answers 0, or always when there is no check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub check: Option<String>,
    pub statement: String,
}

impl Step {
    fn always(statement: String) -> Step {
        Step {
            check: None,
            statement,
        }
    }
}

/// The `Distributed` table over `T_local` in a cluster layout; nothing on
/// one server.
fn distributed_step(
    layout: &Layout,
    name: &str,
    columns: &[Column],
    sharding: &str,
) -> Option<Step> {
    distributed_step_ddl(layout, name, &column_ddl(columns), sharding)
}

/// [`distributed_step`] with the columns' DDL as given.
fn distributed_step_ddl(layout: &Layout, name: &str, cols: &str, sharding: &str) -> Option<Step> {
    layout.cluster.as_ref().map(|cluster| {
        Step::always(format!(
            "CREATE TABLE IF NOT EXISTS {table}{on} (\n{cols}\n) ENGINE = Distributed({c}, {db}, {local}, {sharding})",
            table = layout.table(name),
            on = layout.on_cluster(),
            c = quote_ident(cluster),
            db = quote_ident(&layout.database),
            local = quote_ident(&layout.storage_name(name)),
        ))
    })
}

fn column_ddl(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| {
            let default = if c.name == "reply" {
                format!(" DEFAULT {REPLY_DEFAULT}")
            } else {
                String::new()
            };
            format!("    {} {}{default}", quote_ident(c.name), c.ch_type)
        })
        .collect::<Vec<_>>()
        .join(",\n")
}

/// The DDL of [`ROLLUP_DERIVED`], after a table's other columns.
fn derived_ddl() -> String {
    ROLLUP_DERIVED
        .iter()
        .map(|d| {
            format!(
                ",\n    {} {} DEFAULT {}",
                quote_ident(d.column.name),
                d.column.ch_type,
                d.expr
            )
        })
        .collect()
}

fn names(columns: impl IntoIterator<Item = &'static str>) -> String {
    columns
        .into_iter()
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SELECT a rollup's materialized view runs on each inserted block of
/// `flows` (and the backfill runs on the rows already there).
fn rollup_select(rollup: &Rollup, from: &str, filter: &str) -> String {
    let exprs: Vec<String> = ROLLUP_COLUMNS
        .iter()
        .map(|c| {
            let expr = c.expr.replace("{bucket}", rollup.bucket);
            // 18.16 turns if() over LowCardinality into String and then
            // refuses it for a LowCardinality column: cast it back.
            let expr = if c.column.ch_type.starts_with("LowCardinality") {
                format!("CAST({expr} AS {})", c.column.ch_type)
            } else {
                expr
            };
            format!("{expr} AS {}", quote_ident(c.column.name))
        })
        .collect();
    grouped(&exprs, &format!("{from}{filter}"))
}

/// `SELECT exprs, the derived columns FROM source GROUP BY the keys`: the
/// shape of every statement that fills a rollup.
fn grouped(exprs: &[String], source: &str) -> String {
    let keys = names(
        ROLLUP_COLUMNS
            .iter()
            .filter(|c| !c.summed)
            .map(|c| c.column.name),
    );
    let derived = ROLLUP_DERIVED
        .iter()
        .map(|d| format!(", {} AS {}", d.expr, quote_ident(d.column.name)))
        .collect::<String>();
    format!(
        "SELECT {}{derived} FROM {source} GROUP BY {keys}",
        exprs.join(", ")
    )
}

/// The SELECT that fills `rollup` from the rows of its finer rollup
/// `from` (same keys and sums, finer buckets): the sums summed again per
/// key in the coarser bucket. The finer table's columns are renamed in a
/// subquery, as 18.16 takes `sum(flows) AS flows` for a cycle.
fn rollup_from_finer_select(rollup: &Rollup, from: &str, filter: &str) -> String {
    let inner: Vec<String> = ROLLUP_COLUMNS
        .iter()
        .map(|c| {
            let name = quote_ident(c.column.name);
            format!(
                "{name} AS {}",
                quote_ident(&format!("finer_{}", c.column.name))
            )
        })
        .collect();
    let outer: Vec<String> = ROLLUP_COLUMNS
        .iter()
        .map(|c| {
            let finer = quote_ident(&format!("finer_{}", c.column.name));
            let expr = if c.summed {
                format!("sum({finer})")
            } else if c.column.name == "bucket" {
                rollup.bucket.replace("(start)", &format!("({finer})"))
            } else {
                finer
            };
            format!("{expr} AS {}", quote_ident(c.column.name))
        })
        .collect();
    grouped(
        &outer,
        &format!("(SELECT {} FROM {from}{filter})", inner.join(", ")),
    )
}

/// The statements that bring the layout's database to the current schema.
/// Each is idempotent (`IF NOT EXISTS`, or guarded by its check), so running
/// them at every start-up is safe; [`migrate`] runs them.
///
/// From the previous schema (`flows` without `reply`, no rollups, no
/// `exporters`): `reply` is added with [`REPLY_DEFAULT`], so old rows get
/// the same orientation as new ones, and each rollup is backfilled from the
/// `flows` already stored (days it does not hold yet) before its view is
/// created, so the rollups cover the old rows too.
pub fn migrations(layout: &Layout) -> Vec<Step> {
    let db = quote_ident(&layout.database);
    let on = layout.on_cluster();
    let mut steps = vec![Step::always(format!(
        "CREATE DATABASE IF NOT EXISTS {db}{on}"
    ))];
    let distributed = |name: &str, columns: &[Column], sharding: &str| {
        distributed_step(layout, name, columns, sharding)
    };
    let column_exists = |table: &str, column: &str| {
        format!(
            "SELECT count() FROM system.columns WHERE database = {} AND table = {} AND name = {}",
            quote_str(&layout.database),
            quote_str(table),
            quote_str(column)
        )
    };
    let table_exists = |table: &str| {
        format!(
            "SELECT count() FROM system.tables WHERE database = {} AND name = {}",
            quote_str(&layout.database),
            quote_str(table)
        )
    };

    // flows
    steps.push(Step::always(flows_create(
        layout,
        &layout.storage(FLOWS_TABLE),
    )));
    steps.extend(distributed(FLOWS_TABLE, FLOWS_COLUMNS, "rand()"));
    let mut flows_tables = vec![layout.storage_name(FLOWS_TABLE)];
    if layout.cluster.is_some() {
        flows_tables.push(FLOWS_TABLE.to_string());
    }
    for table in &flows_tables {
        steps.push(Step {
            check: Some(column_exists(table, "reply")),
            statement: format!(
                "ALTER TABLE {}{on} ADD COLUMN `reply` UInt8 DEFAULT {REPLY_DEFAULT} AFTER `same_host`",
                layout.table(table)
            ),
        });
    }

    // rollups
    let rollup_columns: Vec<Column> = ROLLUP_COLUMNS.iter().map(|c| c.column).collect();
    let rollup_ddl = column_ddl(&rollup_columns) + &derived_ddl();
    let rollup_names = names(
        ROLLUP_COLUMNS
            .iter()
            .map(|c| c.column.name)
            .chain(ROLLUP_DERIVED.iter().map(|d| d.column.name)),
    );
    for rollup in &ROLLUPS {
        steps.push(Step::always(rollup_create(
            layout,
            &layout.storage(rollup.table),
        )));
        steps.extend(distributed_step_ddl(
            layout,
            rollup.table,
            &rollup_ddl,
            "rand()",
        ));
        // Backfill from the rows stored before the view existed; days the
        // rollup already holds (an interrupted earlier run) are skipped.
        // Run once ON CLUSTER, it reads and writes through the Distributed
        // tables; run per node, each node backfills its own shard from its
        // local tables (the other shards may not have theirs yet).
        let (target, source, global) = match &layout.cluster {
            Some(_) if layout.on_cluster_ddl => (
                layout.table(rollup.table),
                layout.table(FLOWS_TABLE),
                "GLOBAL ",
            ),
            _ => (
                layout.storage(rollup.table),
                layout.storage(FLOWS_TABLE),
                "",
            ),
        };
        let filter = format!(" WHERE date {global}NOT IN (SELECT date FROM {target})");
        let select = match rollup.finer {
            None => rollup_select(rollup, &source, &filter),
            Some(finer) => {
                let finer = match &layout.cluster {
                    Some(_) if layout.on_cluster_ddl => layout.table(finer),
                    _ => layout.storage(finer),
                };
                rollup_from_finer_select(rollup, &finer, &filter)
            }
        };
        steps.push(Step {
            check: Some(table_exists(rollup.view)),
            statement: format!("INSERT INTO {target} ({rollup_names}) {select}"),
        });
        let create_view = Step::always(rollup_view(layout, rollup));
        steps.push(create_view.clone());
        // From a schema without the derived columns: the old view cannot
        // write to the table once they exist (18.16 wants every column of
        // the target from a view), so it is dropped first, the columns are
        // added (rows already stored compute them on read from their
        // DEFAULT) and the view is created again with them. Inserts into
        // `flows` in the moment between the drop and the create would miss
        // the rollups: upgrade with the collectors stopped (their own
        // start-up runs this before they receive anything).
        let storage = layout.storage_name(rollup.table);
        let first = ROLLUP_DERIVED[0].column.name;
        steps.push(Step {
            check: Some(column_exists(&storage, first)),
            statement: format!("DROP TABLE IF EXISTS {}{on}", layout.table(rollup.view)),
        });
        let mut tables = vec![storage];
        if layout.cluster.is_some() {
            tables.push(rollup.table.to_string());
        }
        for table in &tables {
            for d in ROLLUP_DERIVED {
                steps.push(Step {
                    check: Some(column_exists(table, d.column.name)),
                    statement: format!(
                        "ALTER TABLE {}{on} ADD COLUMN {} {} DEFAULT {}",
                        layout.table(table),
                        quote_ident(d.column.name),
                        d.column.ch_type,
                        d.expr
                    ),
                });
            }
        }
        steps.push(create_view);
    }

    steps.extend(repartition_steps(layout));
    steps.extend(underlay_point_steps(layout));
    steps.extend(ROLLUPS.iter().map(|r| Step::always(rollup_view(layout, r))));
    steps.extend(summary_steps(
        layout,
        DATASETS_TABLE,
        DATASETS_VIEW,
        DATASETS_COLUMNS,
        "(dataset, date)",
        "SELECT date, dataset, countState() AS flows, minState(start_ms) AS first_ms, \
         maxState(end_ms) AS last_ms, minState(received) AS stored_first, \
         maxState(received) AS stored_last FROM {from} GROUP BY date, dataset",
    ));
    steps.extend(summary_steps(
        layout,
        OBSERVED_1M_TABLE,
        OBSERVED_1M_VIEW,
        OBSERVED_1M_COLUMNS,
        "(dataset, bucket, observer, policy_revision)",
        "SELECT date, toStartOfMinute(start) AS bucket, dataset, observer, policy_revision, \
         countState() AS flows, minState(start_ms) AS first_ms, maxState(end_ms) AS last_ms \
         FROM {from} GROUP BY date, bucket, dataset, observer, policy_revision",
    ));
    // A page's conversations are looked up by `conv_hash`: small granules,
    // so each key reads 256 rows of each part it is in, not 8,192.
    steps.extend(summary_steps(
        layout,
        CONVERSATIONS_SEEN_TABLE,
        CONVERSATIONS_SEEN_VIEW,
        CONVERSATIONS_SEEN_COLUMNS,
        "(dataset, conv_hash, bucket) SETTINGS index_granularity = 256",
        &conversations_seen_select(),
    ));

    // exporters
    steps.push(Step::always(format!(
        "CREATE TABLE IF NOT EXISTS {table}{on} (\n{cols}\n) ENGINE = ReplacingMergeTree(updated) \
         ORDER BY (exporter, source_id, collector)",
        table = layout.storage(EXPORTERS_TABLE),
        cols = column_ddl(EXPORTERS_COLUMNS),
    )));
    steps.extend(distributed(
        EXPORTERS_TABLE,
        EXPORTERS_COLUMNS,
        "cityHash64(exporter, source_id)",
    ));
    // Columns added after the table's first version (main at ed0beda).
    let mut exporters_tables = vec![layout.storage_name(EXPORTERS_TABLE)];
    if layout.cluster.is_some() {
        exporters_tables.push(EXPORTERS_TABLE.to_string());
    }
    for table in &exporters_tables {
        let mut after = "drops";
        for column in EXPORTERS_COLUMNS.iter().skip_while(|c| c.name != "version") {
            steps.push(Step {
                check: Some(column_exists(table, column.name)),
                statement: format!(
                    "ALTER TABLE {}{on} ADD COLUMN {} {} AFTER {}",
                    layout.table(table),
                    quote_ident(column.name),
                    column.ch_type,
                    quote_ident(after)
                ),
            });
            after = column.name;
        }
    }
    steps.extend(inventory_events_migrations(layout));
    steps
}

/// What marks a `point_hash` or `point_rank` expression (a column's
/// `DEFAULT`, a view's query) as current: both once treated each direction
/// of an underlay as an observation point of its own (`point_hash` hashed
/// the observer, `point_rank` ranked the request at the client's host 4 and
/// the reply at the server's 2, and earlier still gave the NVGRE and
/// routed-GRE underlays a port mirror's +1); both now test the capture path
/// first.
const UNDERLAY_POINT_MARK: &str = "if(encap IN";

/// From a schema whose `point_hash` and `point_rank` made each direction of
/// an underlay an observation point of its own (so the dashboard, counting
/// a conversation at its best-ranked point, dropped the replies of a
/// conversation seen only on an underlay): each rollup's view (which
/// computes them) is dropped and made again by the steps after these, the
/// rows already stored with an underlay's capture path get both columns
/// again (an `ALTER ... UPDATE` mutation, which the server applies in the
/// background: until it has, the dashboard may count such a conversation
/// as before), and the columns' `DEFAULT`s take the current expressions.
/// Each step is guarded by the current expression being in place, so none
/// runs twice; rows of other capture paths keep their values, which the
/// current expressions give too.
fn underlay_point_steps(layout: &Layout) -> Vec<Step> {
    let on = layout.on_cluster();
    let mark = quote_str(&format!("%{UNDERLAY_POINT_MARK}%"));
    // 1 when `table`'s `column` has the current DEFAULT.
    let current = |table: &str, column: &DerivedColumn| {
        format!(
            "SELECT count() FROM system.columns WHERE database = {} AND table = {} \
             AND name = {} AND default_expression LIKE {mark}",
            quote_str(&layout.database),
            quote_str(table),
            quote_str(column.column.name),
        )
    };
    // The mutation computes `conv_hash` from its own expression: rows
    // stored before the column existed hold no value of it.
    let hash = POINT_HASH
        .expr
        .replacen("conv_hash", &format!("({})", CONV_HASH.expr), 1);
    let mut steps = Vec::new();
    for rollup in &ROLLUPS {
        let storage = layout.storage_name(rollup.table);
        // A view that does not exist (yet) is "current": nothing to drop.
        steps.push(Step {
            check: Some(format!(
                "SELECT toUInt64(count() = 0) FROM system.tables WHERE database = {} \
                 AND name = {} AND create_table_query NOT LIKE {mark}",
                quote_str(&layout.database),
                quote_str(rollup.view),
            )),
            statement: format!("DROP TABLE IF EXISTS {}{on}", layout.table(rollup.view)),
        });
        // A mutation rewrites every part of the table on 18.16: only when
        // there are rows to fix. `point_rank`'s DEFAULT is modified last.
        steps.push(Step {
            check: Some(format!(
                "SELECT ({}) + toUInt64((SELECT count() FROM {} WHERE encap IN {UNDERLAYS}) = 0)",
                current(&storage, &POINT_RANK),
                layout.table(&storage),
            )),
            statement: format!(
                "ALTER TABLE {}{on} UPDATE {} = {hash}, {} = {} WHERE encap IN {UNDERLAYS}",
                layout.table(&storage),
                quote_ident(POINT_HASH.column.name),
                quote_ident(POINT_RANK.column.name),
                POINT_RANK.expr
            ),
        });
        let mut tables = vec![storage];
        if layout.cluster.is_some() {
            tables.push(rollup.table.to_string());
        }
        for table in &tables {
            for column in [POINT_HASH, POINT_RANK] {
                steps.push(Step {
                    check: Some(current(table, &column)),
                    statement: format!(
                        "ALTER TABLE {}{on} MODIFY COLUMN {} {} DEFAULT {}",
                        layout.table(table),
                        quote_ident(column.column.name),
                        column.column.ch_type,
                        column.expr
                    ),
                });
            }
        }
    }
    steps
}

/// `CREATE TABLE IF NOT EXISTS` of `flows` as `table` (a quoted name).
fn flows_create(layout: &Layout, table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table}{on} (\n{cols}\n) ENGINE = MergeTree() \
         PARTITION BY {PARTITION_KEY} ORDER BY (dataset, start, src_vm, dst_vm)",
        on = layout.on_cluster(),
        cols = column_ddl(FLOWS_COLUMNS),
    )
}

/// `CREATE TABLE IF NOT EXISTS` of a rollup as `table` (a quoted name).
fn rollup_create(layout: &Layout, table: &str) -> String {
    let columns: Vec<Column> = ROLLUP_COLUMNS.iter().map(|c| c.column).collect();
    let sums = names(
        ROLLUP_COLUMNS
            .iter()
            .filter(|c| c.summed)
            .map(|c| c.column.name),
    );
    let keys = names(
        ROLLUP_COLUMNS
            .iter()
            .filter(|c| !c.summed)
            .map(|c| c.column.name),
    );
    format!(
        "CREATE TABLE IF NOT EXISTS {table}{on} (\n{cols}\n) ENGINE = SummingMergeTree(({sums})) \
         PARTITION BY {PARTITION_KEY} ORDER BY ({keys})",
        on = layout.on_cluster(),
        cols = column_ddl(&columns) + &derived_ddl(),
    )
}

/// `CREATE MATERIALIZED VIEW IF NOT EXISTS` of a rollup's view.
fn rollup_view(layout: &Layout, rollup: &Rollup) -> String {
    format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {view}{on} TO {target} AS {select}",
        view = layout.table(rollup.view),
        on = layout.on_cluster(),
        target = layout.storage(rollup.table),
        select = rollup_select(rollup, &layout.storage(FLOWS_TABLE), ""),
    )
}

/// An AggregatingMergeTree summing up `flows` (`datasets`, `observed_1m`,
/// `conversations_seen`): the table, ordered by `order_by` (the sort key
/// in parentheses, and any `SETTINGS`), and its view
/// (`select`, with `{from}` for the table read), backfilled from the `flows`
/// stored before the view existed.
fn summary_steps(
    layout: &Layout,
    table: &str,
    view: &str,
    columns: &[Column],
    order_by: &str,
    select: &str,
) -> Vec<Step> {
    let on = layout.on_cluster();
    let cols = column_ddl(columns);
    let mut steps = vec![Step::always(format!(
        "CREATE TABLE IF NOT EXISTS {target}{on} (\n{cols}\n) ENGINE = AggregatingMergeTree() \
         PARTITION BY {PARTITION_KEY} ORDER BY {order_by}",
        target = layout.storage(table),
    ))];
    steps.extend(distributed_step_ddl(layout, table, &cols, "rand()"));
    let select = |from: &str| select.replace("{from}", from);
    let names = names(columns.iter().map(|c| c.name));
    steps.push(Step {
        check: Some(format!(
            "SELECT count() FROM system.tables WHERE database = {} AND name = {}",
            quote_str(&layout.database),
            quote_str(view)
        )),
        statement: format!(
            "INSERT INTO {} ({names}) {}",
            layout.storage(table),
            select(&layout.storage(FLOWS_TABLE))
        ),
    });
    steps.push(Step::always(format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {view}{on} TO {target} AS {select}",
        view = layout.table(view),
        target = layout.storage(table),
        select = select(&layout.storage(FLOWS_TABLE)),
    )));
    steps
}

/// From a schema whose tables were partitioned by `date` alone (before
/// datasets had partitions of their own): each of `flows` and the rollups
/// is copied into a table partitioned by [`PARTITION_KEY`] that then takes
/// its name (one `RENAME` of both), and the old table is dropped. The
/// rollups' views are dropped first (they read `flows` and write the
/// rollups) and made again by the steps after these. Every step is guarded
/// by "this table is already partitioned so", so an interrupted upgrade
/// starts its copy again at the next start-up; the upgrade copies every
/// stored row once (time and disk space in proportion: plan for it on a
/// large database) and, like every upgrade, runs with the collectors
/// stopped (their own start-up runs it before they receive anything).
fn repartition_steps(layout: &Layout) -> Vec<Step> {
    let on = layout.on_cluster();
    let old_tables = |tables: &[String]| {
        format!(
            "SELECT toUInt64(count() = 0) FROM system.tables WHERE database = {} \
             AND name IN ({}) AND partition_key = 'date'",
            quote_str(&layout.database),
            tables
                .iter()
                .map(|t| quote_str(t))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    type Create = fn(&Layout, &str) -> String;
    let tables: Vec<(String, Create, Vec<&str>)> = std::iter::once((
        layout.storage_name(FLOWS_TABLE),
        flows_create as Create,
        FLOWS_COLUMNS.iter().map(|c| c.name).collect(),
    ))
    .chain(ROLLUPS.iter().map(|rollup| {
        (
            layout.storage_name(rollup.table),
            rollup_create as Create,
            ROLLUP_COLUMNS
                .iter()
                .map(|c| c.column.name)
                .chain(ROLLUP_DERIVED.iter().map(|d| d.column.name))
                .collect(),
        )
    }))
    .collect();
    let all: Vec<String> = tables.iter().map(|(name, _, _)| name.clone()).collect();
    let mut steps: Vec<Step> = ROLLUPS
        .iter()
        .map(|rollup| Step {
            check: Some(old_tables(&all)),
            statement: format!("DROP TABLE IF EXISTS {}{on}", layout.table(rollup.view)),
        })
        .collect();
    for (name, create, columns) in &tables {
        let check = old_tables(std::slice::from_ref(name));
        let table = layout.table(name);
        let copy = layout.table(&format!("{name}__repartition"));
        let old = layout.table(&format!("{name}__old"));
        let columns = names(columns.iter().copied());
        for statement in [
            format!("DROP TABLE IF EXISTS {copy}{on}"),
            create(layout, &copy),
            format!("INSERT INTO {copy} ({columns}) SELECT {columns} FROM {table}"),
            format!("RENAME TABLE {table} TO {old}, {copy} TO {table}{on}"),
        ] {
            steps.push(Step {
                check: Some(check.clone()),
                statement,
            });
        }
        steps.push(Step::always(format!("DROP TABLE IF EXISTS {old}{on}")));
    }
    steps
}

/// Why a migration failed.
#[derive(Debug, thiserror::Error)]
#[error("{statement}: {source}")]
pub struct MigrateError {
    pub statement: String,
    pub source: clickhouse::error::Error,
}

/// Run [`migrations`] on `client` (already adapted to the server version,
/// without a database set): each check, and each statement whose check
/// answered 0.
pub async fn migrate(client: &clickhouse::Client, layout: &Layout) -> Result<(), MigrateError> {
    for step in migrations(layout) {
        if let Some(check) = &step.check {
            let found: u64 =
                client
                    .query(check)
                    .fetch_one()
                    .await
                    .map_err(|source| MigrateError {
                        statement: check.clone(),
                        source,
                    })?;
            if found > 0 {
                continue;
            }
        }
        client
            .query(&step.statement)
            .execute()
            .await
            .map_err(|source| MigrateError {
                statement: first_line(&step.statement),
                source,
            })?;
    }
    Ok(())
}

fn first_line(statement: &str) -> String {
    statement.lines().next().unwrap_or_default().to_string()
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
fn inventory_events_migrations(layout: &Layout) -> Vec<Step> {
    let mut steps = vec![Step::always(format!(
        "CREATE TABLE IF NOT EXISTS {table}{on} (\n{cols}\n) ENGINE = MergeTree() \
         ORDER BY (time_ms, received_ms)",
        table = layout.storage(INVENTORY_EVENTS_TABLE),
        on = layout.on_cluster(),
        cols = column_ddl(INVENTORY_EVENTS_COLUMNS),
    ))];
    steps.extend(distributed_step(
        layout,
        INVENTORY_EVENTS_TABLE,
        INVENTORY_EVENTS_COLUMNS,
        "rand()",
    ));
    steps
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
