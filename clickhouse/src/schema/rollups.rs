//! The rollups (`flows_1m`, `flows_10m`, `flows_1h`, `flows_1d`): their
//! columns, derived columns (conversation and observation-point identity),
//! buckets, and the statements that create and fill them.

use super::*;

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

pub(super) const fn key(
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

pub(super) const fn sum(name: &'static str, expr: &'static str, doc: &'static str) -> RollupColumn {
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

/// The hourly rollup's rows again, sorted by conversation: `conv_hash`
/// right after the dataset, in granules of [`BY_KEY_GRANULE`] rows. `flows_1h` is
/// sorted by time, so reading a
/// few conversations there reads every row of the window; here a page's
/// conversations read a few granules of each part, however many
/// conversations and flows the window holds. Not in [`ROLLUPS`]: no
/// window is cut on it, it answers what `flows_1h` answers for given
/// conversations.
pub const CONVERSATIONS_1H: Rollup = Rollup {
    table: "conversations_1h",
    view: "conversations_1h_mv",
    bucket: "toStartOfHour(start)",
    bucket_secs: 3600,
    finer: Some("flows_1h"),
};

/// The tables read by conversation key ([`CONVERSATIONS_1H`] and
/// [`CONVERSATIONS_SEEN_TABLE`], in [`BY_KEY_GRANULE`]-row granules): a key
/// costs a granule of every part of a partition it is in, so the dashboard
/// keeps each of their partitions in one part
/// ([`super::partitions::Action::Compact`]).
pub const BY_KEY_TABLES: [&str; 2] = [CONVERSATIONS_1H.table, CONVERSATIONS_SEEN_TABLE];

/// The tables read by time whose partitions the dashboard merges into one
/// part once they have settled (no insert for a while: a closed day, a
/// replay imported): rows of one key in two parts are summed only when a
/// merge meets them, and ClickHouse's own merges leave a day in several
/// parts, so a window read about a third more rows than its sums need
/// (24 hours of 100M flows: 1.13M rows of `flows_1h` in 14 parts, 0.80M
/// in 2). Not `flows_1m`: tens of millions of rows a day on a busy
/// network, read only at a window's edges and for minute steps.
pub const SETTLED_TABLES: [&str; 5] = [
    FLOWS_10M.table,
    FLOWS_1H.table,
    FLOWS_1D.table,
    PLACEMENTS_1H.table,
    PLACEMENTS_1D.table,
];

/// The DDL of [`ROLLUP_DERIVED`], after a table's other columns.
pub(super) fn derived_ddl() -> String {
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

/// The SELECT a rollup's materialized view runs on each inserted block of
/// `flows` (and the backfill runs on the rows already there).
pub(super) fn rollup_select(rollup: &Rollup, from: &str, filter: &str) -> String {
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
pub(super) fn grouped(exprs: &[String], source: &str) -> String {
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
pub(super) fn rollup_from_finer_select(rollup: &Rollup, from: &str, filter: &str) -> String {
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

/// `CREATE TABLE IF NOT EXISTS` of a rollup as `table` (a quoted name).
pub(super) fn rollup_create(layout: &Layout, table: &str) -> String {
    let keys = names(
        ROLLUP_COLUMNS
            .iter()
            .filter(|c| !c.summed)
            .map(|c| c.column.name),
    );
    summing_create(layout, table, &format!("ORDER BY ({keys})"))
}

/// The rollup table `table` (a quoted name) sorted by `sort` (its `ORDER
/// BY`, which holds every key column, with any `PRIMARY KEY` before it
/// and `SETTINGS` after).
fn summing_create(layout: &Layout, table: &str, sort: &str) -> String {
    let columns: Vec<Column> = ROLLUP_COLUMNS.iter().map(|c| c.column).collect();
    let sums = names(
        ROLLUP_COLUMNS
            .iter()
            .filter(|c| c.summed)
            .map(|c| c.column.name),
    );
    format!(
        "CREATE TABLE IF NOT EXISTS {table}{on} (\n{cols}\n) ENGINE = SummingMergeTree(({sums})) \
         PARTITION BY {PARTITION_KEY} {sort}",
        on = layout.on_cluster(),
        cols = column_ddl(&columns) + &derived_ddl(),
    )
}

/// `CREATE TABLE IF NOT EXISTS` of [`CONVERSATIONS_1H`] as `table` (a
/// quoted name): sorted by dataset, `conv_hash`, hour, then the other keys
/// (so it sums exactly the rows `flows_1h` sums), its primary index on
/// the first three only, in [`BY_KEY_GRANULE`]-row granules.
pub(super) fn conversations_1h_create(layout: &Layout, table: &str) -> String {
    let by_key = ["dataset", CONV_HASH.column.name, "bucket"];
    let keys = names(
        by_key.into_iter().chain(
            ROLLUP_COLUMNS
                .iter()
                .filter(|c| !c.summed && !by_key.contains(&c.column.name))
                .map(|c| c.column.name),
        ),
    );
    summing_create(
        layout,
        table,
        &format!(
            "PRIMARY KEY ({}) ORDER BY ({keys}) SETTINGS index_granularity = {BY_KEY_GRANULE}",
            names(by_key)
        ),
    )
}

/// [`CONVERSATIONS_1H`]: the table ([`conversations_1h_create`]), its
/// `Distributed` table in a cluster, its backfill from `flows_1h` (the
/// days it does not hold yet, guarded like the rollups' by its view's
/// absence) and its view from `flows`. Run after the rollups' own steps:
/// `flows_1h` is then filled, repartitioned and current.
pub(super) fn conversations_1h_steps(layout: &Layout) -> Vec<Step> {
    let rollup = &CONVERSATIONS_1H;
    let mut steps = vec![Step::always(conversations_1h_create(
        layout,
        &layout.storage(rollup.table),
    ))];
    let columns: Vec<Column> = ROLLUP_COLUMNS.iter().map(|c| c.column).collect();
    steps.extend(distributed_step_ddl(
        layout,
        rollup.table,
        &(column_ddl(&columns) + &derived_ddl()),
        "rand()",
    ));
    let all = names(
        ROLLUP_COLUMNS
            .iter()
            .map(|c| c.column.name)
            .chain(ROLLUP_DERIVED.iter().map(|d| d.column.name)),
    );
    steps.push(backfill_step(
        layout,
        (rollup.table, rollup.view),
        FLOWS_1H.table,
        &all,
        |finer, filter| rollup_from_finer_select(rollup, finer, filter),
    ));
    steps.push(Step::always(rollup_view(layout, rollup)));
    steps
}

/// The step that fills `table` (fed by `view`) from the rows of `finer`
/// already stored, for the days it does not hold yet, guarded like the
/// rollups' backfills by the view's absence: `all` names the columns
/// filled, `select(finer, filter)` is the `SELECT` reading `finer` (a
/// quoted name) with `filter` (its `WHERE`). In a cluster with
/// `ON CLUSTER` DDL, through the `Distributed` tables (`GLOBAL IN`);
/// otherwise each server fills its own table from its own rows.
pub(super) fn backfill_step(
    layout: &Layout,
    (table, view): (&str, &str),
    finer: &str,
    all: &str,
    select: impl FnOnce(&str, &str) -> String,
) -> Step {
    let (target, finer, global) = match &layout.cluster {
        Some(_) if layout.on_cluster_ddl => (layout.table(table), layout.table(finer), "GLOBAL "),
        _ => (layout.storage(table), layout.storage(finer), ""),
    };
    let filter = format!(" WHERE date {global}NOT IN (SELECT date FROM {target})");
    Step {
        check: Some(format!(
            "SELECT count() FROM system.tables WHERE database = {} AND name = {}",
            quote_str(&layout.database),
            quote_str(view)
        )),
        statement: format!("INSERT INTO {target} ({all}) {}", select(&finer, &filter)),
    }
}

/// A placement table: per bucket of `rollup`, which VM ran on which host
/// in which zone ([`PLACEMENTS_COLUMNS`]), fed by `view` from `flows` and
/// filled at creation from `rollup`'s rows (kept as long as them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placements {
    pub table: &'static str,
    pub view: &'static str,
    pub rollup: &'static Rollup,
}

/// The hourly placements: the whole hours of a window.
pub const PLACEMENTS_1H: Placements = Placements {
    table: "placements_1h",
    view: "placements_1h_mv",
    rollup: &FLOWS_1H,
};

/// The daily placements: the whole days of a window read by days.
pub const PLACEMENTS_1D: Placements = Placements {
    table: "placements_1d",
    view: "placements_1d_mv",
    rollup: &FLOWS_1D,
};

/// Every placement table.
pub const PLACEMENTS: [Placements; 2] = [PLACEMENTS_1H, PLACEMENTS_1D];

/// The `SELECT` of a placement table's rows from `from`: each row's two
/// ends (`(vm, host, zone)` in `sides`) unpivoted, its bucket `bucket` and
/// its flows `flows`, grouped. One level, no subquery: 18.16 loses the
/// aliases of a subquery's `ARRAY JOIN` in a materialized view; and it
/// makes the tuple's `LowCardinality` elements `String`, cast back.
fn placements_select(bucket: &str, sides: [[&str; 3]; 2], flows: &str, from: &str) -> String {
    let [[c_vm, c_host, c_zone], [s_vm, s_host, s_zone]] = sides;
    let element = |i: u8, name: &str| {
        format!("CAST(tupleElement(side, {i}) AS LowCardinality(String)) AS {name}")
    };
    format!(
        "SELECT date, {bucket} AS bucket, dataset, {}, {}, {}, sumState({flows}) AS flows \
         FROM {from} ARRAY JOIN [({c_vm}, {c_host}, {c_zone}), ({s_vm}, {s_host}, {s_zone})] \
         AS side GROUP BY date, bucket, dataset, vm, host, zone",
        element(1, "vm"),
        element(2, "host"),
        element(3, "zone"),
    )
}

/// A placement table's steps: the table (sorted by dataset, bucket, VM,
/// host, zone), its `Distributed` table in a cluster, its backfill from
/// its rollup (the days it does not hold yet, guarded by its view's
/// absence) and its view from `flows`. Run after the rollups' own steps.
pub(super) fn placements_steps(layout: &Layout, placements: &Placements) -> Vec<Step> {
    let order_by = "(dataset, bucket, vm, host, zone)";
    let mut steps = vec![Step::always(summary_create(
        layout,
        &layout.storage(placements.table),
        PLACEMENTS_COLUMNS,
        order_by,
    ))];
    steps.extend(distributed_step_ddl(
        layout,
        placements.table,
        &column_ddl(PLACEMENTS_COLUMNS),
        "rand()",
    ));
    let all = names(PLACEMENTS_COLUMNS.iter().map(|c| c.name));
    // The rollup's `flows` renamed in a subquery: 18.16 takes
    // `sumState(flows) AS flows` for a cycle.
    steps.push(backfill_step(
        layout,
        (placements.table, placements.view),
        placements.rollup.table,
        &all,
        |finer, filter| {
            let sides = [
                ["client_vm", "client_host", "client_zone"],
                ["server_vm", "server_host", "server_zone"],
            ];
            let rows = format!(
                "(SELECT date, bucket, dataset, {}, flows AS n FROM {finer}{filter})",
                sides.concat().join(", ")
            );
            placements_select("bucket", sides, "n", &rows)
        },
    ));
    let from_flows = placements_select(
        placements.rollup.bucket,
        [
            ["src_vm", "src_host", "src_zone"],
            ["dst_vm", "dst_host", "dst_zone"],
        ],
        "toUInt64(1)",
        "{from}",
    );
    steps.push(Step::always(summary_view(
        layout,
        placements.table,
        placements.view,
        &from_flows,
    )));
    steps
}

/// `CREATE MATERIALIZED VIEW IF NOT EXISTS` of a rollup's view.
pub(super) fn rollup_view(layout: &Layout, rollup: &Rollup) -> String {
    format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {view}{on} TO {target} AS {select}",
        view = layout.table(rollup.view),
        on = layout.on_cluster(),
        target = layout.storage(rollup.table),
        select = rollup_select(rollup, &layout.storage(FLOWS_TABLE), ""),
    )
}
