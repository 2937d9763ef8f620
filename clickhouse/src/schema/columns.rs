//! The tables' columns: raw `flows` (and the `reply` rule for rows stored
//! before it), and the tables summing them up (`datasets`, `observed_1m`,
//! `conversations_seen`, the placements, `flow_exporters`) or describing
//! exporters (`exporters`).

use super::*;

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

/// Rows per granule of the tables read by a page's `conv_hash` keys
/// ([`CONVERSATIONS_SEEN_TABLE`] and `conversations_1h`), whose primary
/// index is `(dataset, conv_hash, bucket)`: a key reads a granule or two
/// of each part it is in, so the rows a page reads follow keys × parts ×
/// this. 64 rather than 256: a page of 100 over 7 days of 30,000
/// conversations read 756,000 rows of `conversations_1h` in 256-row
/// granules and 118,000 in 64-row ones (about 40 % less CPU on
/// ClickHouse 18.16); the index stays small (a mark per 64 rows of three
/// columns).
pub const BY_KEY_GRANULE: u32 = 64;

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
pub(super) fn conversations_seen_select() -> String {
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

/// Columns of the placement tables ([`super::PLACEMENTS`], AggregatingMergeTrees
/// fed by a view from `flows`, partitioned like it): per bucket of a
/// rollup, dataset, VM, host and zone, the flows that saw that VM on that
/// host (each end of a flow, an unknown end under VM `''`; merged with
/// `sumMerge(flows)`). About a row per VM and bucket whatever the traffic
/// (one per host it ran on): which VMs ran where, read by the host view,
/// a VM's placements and the report, instead of both ends of every
/// rollup row.
pub const PLACEMENTS_COLUMNS: &[Column] = &[
    col("date", "Date", "day of `bucket`, the partition key"),
    col(
        "bucket",
        "DateTime",
        "start of the bucket (UTC) the flows started in",
    ),
    col(
        "dataset",
        "LowCardinality(String)",
        "'live', or the name of a replay",
    ),
    col(
        "vm",
        "LowCardinality(String)",
        "the VM at one end of the flows ('' when not in the inventory)",
    ),
    col(
        "host",
        "LowCardinality(String)",
        "the hypervisor host it ran on ('' when unknown)",
    ),
    col("zone", "LowCardinality(String)", "its zone"),
    col(
        "flows",
        "AggregateFunction(sum, UInt64)",
        "flows with that VM at one end on that host",
    ),
];

/// Name of the table that sums up, per day, the flows each exporter's
/// observation domain sent.
pub const FLOW_EXPORTERS_TABLE: &str = "flow_exporters";

/// The view that feeds [`FLOW_EXPORTERS_TABLE`] from `flows`.
pub const FLOW_EXPORTERS_VIEW: &str = "flow_exporters_mv";

/// Columns of `flow_exporters` (an AggregatingMergeTree fed by a view from
/// `flows`, partitioned like it): per day, dataset, exporter, source id and
/// observer, the flows stored and the last time one was received (merged
/// with `countMerge(flows)`, `maxMerge(last_received)`). A row per
/// observation domain and day whatever the traffic: the exporters as the
/// flows show them, for a database the collector has written no
/// `exporters` snapshot to.
pub const FLOW_EXPORTERS_COLUMNS: &[Column] = &[
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
        "observer",
        "LowCardinality(String)",
        "hypervisor host where the flows were observed",
    ),
    col(
        "flows",
        "AggregateFunction(count)",
        "rows of `flows` stored",
    ),
    col(
        "last_received",
        "AggregateFunction(max, DateTime)",
        "when the collector received the last of them",
    ),
];

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
