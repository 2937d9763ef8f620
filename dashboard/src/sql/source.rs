//! The oriented row set every grouped query reads (raw flows or rollup rows,
//! client and server sides, per-direction counters) and the filters' conditions on it.

use crate::query::{Filters, Params, TimeWindow};
use eastwest_clickhouse::schema::{date_of_ms, ROLLUP_DERIVED};

use super::resolution::{split, Resolution};
use super::statement::{Arg, Sql, Tables};

/// The oriented row set's columns and their expressions on raw flows, in
/// order; the rollups store each under its name, except the three
/// [`rollup_column`] computes. After them come the rollups' derived
/// columns ([`ROLLUP_DERIVED`]).
/// (18.16 turns `if()` over LowCardinality into String, and a UNION ALL of
/// the two has no common type there: cast back, as the rollups' views do.)
pub(super) const ORIENTED: &[(&str, &str)] = &[
    ("dataset", "dataset"),
    (
        "client_vm",
        "CAST(if(reply, dst_vm, src_vm) AS LowCardinality(String))",
    ),
    ("client_addr", "if(reply, dst_addr, src_addr)"),
    (
        "client_zone",
        "CAST(if(reply, dst_zone, src_zone) AS LowCardinality(String))",
    ),
    (
        "client_host",
        "CAST(if(reply, dst_host, src_host) AS LowCardinality(String))",
    ),
    (
        "server_vm",
        "CAST(if(reply, src_vm, dst_vm) AS LowCardinality(String))",
    ),
    ("server_addr", "if(reply, src_addr, dst_addr)"),
    (
        "server_zone",
        "CAST(if(reply, src_zone, dst_zone) AS LowCardinality(String))",
    ),
    (
        "server_host",
        "CAST(if(reply, src_host, dst_host) AS LowCardinality(String))",
    ),
    ("proto", "proto"),
    ("server_port", "if(reply, src_port, dst_port)"),
    ("verdict", "verdict"),
    ("rule", "rule"),
    ("severity", "severity"),
    ("same_host", "same_host"),
    ("observer", "observer"),
    ("encap", "encap"),
    ("policy_revision", "policy_revision"),
    ("bytes_fwd", "if(reply, toUInt64(0), bytes)"),
    ("bytes_rev", "if(reply, bytes, toUInt64(0))"),
    ("packets_fwd", "if(reply, toUInt64(0), packets)"),
    ("packets_rev", "if(reply, packets, toUInt64(0))"),
    ("flows", "toUInt64(1)"),
    ("start_ms", "start_ms"),
    ("end_ms", "end_ms"),
];

/// `expr AS name`, or `name` where they are the same.
pub(super) fn named(name: &str, expr: &str) -> String {
    if name == expr {
        name.to_string()
    } else {
        format!("{expr} AS {name}")
    }
}

/// Every oriented column of raw flows. The rollups' derived columns
/// (conversation and observation-point hashes, the point's rank) are
/// computed with the rollups' own expressions, so raw and rolled-up rows
/// of a conversation hash alike.
pub(super) fn raw_oriented() -> String {
    ORIENTED
        .iter()
        .map(|(name, expr)| named(name, expr))
        .chain(ROLLUP_DERIVED.iter().map(|d| named(d.column.name, d.expr)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One oriented column of a rollup with `bucket_secs` buckets.
pub(super) fn rollup_column(name: &str, bucket_secs: u32) -> String {
    match name {
        "policy_revision" => "CAST('' AS LowCardinality(String)) AS policy_revision".into(),
        "start_ms" => "toUInt64(bucket) * 1000 AS start_ms".into(),
        "end_ms" => format!("(toUInt64(bucket) + {bucket_secs}) * 1000 AS end_ms"),
        _ => name.into(),
    }
}

/// [`source_with`] for `filters`: its dataset, and every filter in each part's
/// own `WHERE` ([`pushed_filters`]), so the rows they reject never reach
/// the grouping (the costly step): a report's violations on a day of raw
/// flows group the few violating rows instead of all 10M (a few seconds
/// rather than about 28), a VM's detail its own conversations' rows. The
/// grouped queries apply the filters on oriented columns again on the
/// oriented rows ([`where_filters`]): the same rows, as each filter tests
/// one row at a time.
pub(super) fn filtered_source(
    tables: &Tables,
    resolution: Resolution,
    window: Option<TimeWindow>,
    filters: &Filters,
    columns: &[&str],
) -> Sql {
    filtered_source_and(tables, resolution, window, filters, Sql::default(), columns)
}

/// [`filtered_source`] with `more` conditions (on columns every part has)
/// in each part's `WHERE`.
pub(super) fn filtered_source_and(
    tables: &Tables,
    resolution: Resolution,
    window: Option<TimeWindow>,
    filters: &Filters,
    more: Sql,
    columns: &[&str],
) -> Sql {
    source_with(
        tables,
        resolution,
        window,
        filters.dataset.as_deref(),
        &pushed_filters(filters, more),
        columns,
    )
}

/// `more`, then the conditions of `filters` that [`filtered_source`]
/// applies in each part's own `WHERE`.
pub(super) fn pushed_filters(filters: &Filters, more: Sql) -> Sql {
    let mut pushed = more;
    let text = |v: &String| Arg::Text(v.clone());
    if let Some(verdict) = filters.verdict {
        pushed.clause(" AND verdict = ?", [Arg::Text(verdict.as_str().into())]);
    }
    if let Some(severity) = &filters.severity {
        pushed.clause(" AND severity = ?", [text(severity)]);
    }
    if let Some(rule) = &filters.rule {
        pushed.clause(" AND rule = ?", [text(rule)]);
    }
    if let Some(same_host) = filters.same_host {
        pushed.clause(" AND same_host = ?", [Arg::U8(u8::from(same_host))]);
    }
    if let Some(proto) = filters.proto {
        pushed.clause(" AND proto = ?", [Arg::U8(proto)]);
    }
    // The filters on oriented columns too: a raw part names them as
    // aliases of its own `SELECT`, which its `WHERE` may read. Rows are
    // filtered one by one either way (before any grouping), so the rows
    // kept are the same; here the rejected ones are never unioned,
    // oriented or grouped (a VM's detail groups its conversations' rows,
    // not the window's).
    pushed.then(oriented_conditions(filters).0)
}

/// The oriented rows of `window` (and `dataset`), read from the coarsest
/// table up to `resolution` that answers each part of it ([`split`]): a
/// subquery, one `SELECT` per part joined by `UNION ALL`. Bounds on each
/// table's sort key (time) and partition key (date) let ClickHouse skip
/// what lies outside. Only the oriented `columns` named are selected:
/// ClickHouse 18.16 does not prune the unused columns of a `UNION ALL`
/// subquery, so every part would read and compute all it selects, and the
/// grouped queries need a third of them (on 24 hours of 10M flows, the
/// conversation totals take about a third of the time they take with
/// every column). `pushed` (conditions on the tables' own columns) is
/// appended to each part's `WHERE`.
pub(super) fn source_with(
    tables: &Tables,
    resolution: Resolution,
    window: Option<TimeWindow>,
    dataset: Option<&str>,
    pushed: &Sql,
    columns: &[&str],
) -> Sql {
    let Some(window) = window else {
        return part(tables, resolution, None, dataset, pushed, columns);
    };
    let parts = split(window, resolution);
    if parts.is_empty() {
        // An empty window (the API refuses from >= to): no rows.
        return part(
            tables,
            Resolution::Raw,
            Some(window),
            dataset,
            pushed,
            columns,
        );
    }
    parts_source(tables, &parts, dataset, pushed, columns)
}

/// The oriented rows of `parts` (each a table's resolution and the window
/// it answers; not empty), one `SELECT` each joined by `UNION ALL`, with
/// `pushed` in each part's `WHERE`.
pub(super) fn parts_source(
    tables: &Tables,
    parts: &[(Resolution, TimeWindow)],
    dataset: Option<&str>,
    pushed: &Sql,
    columns: &[&str],
) -> Sql {
    let mut sql = Sql::default();
    for (i, (resolution, window)) in parts.iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql = sql.then(part(
            tables,
            *resolution,
            Some(*window),
            dataset,
            pushed,
            columns,
        ));
    }
    sql
}

/// One `SELECT` of [`source_with`]: the oriented rows of one table. Raw flows
/// are oriented in a subquery when only some columns are wanted: the
/// derived columns are computed from the other oriented columns, which
/// the part then need not select.
pub(super) fn part(
    tables: &Tables,
    resolution: Resolution,
    window: Option<TimeWindow>,
    dataset: Option<&str>,
    pushed: &Sql,
    columns: &[&str],
) -> Sql {
    let selected = match resolution.rollup() {
        None => raw_oriented(),
        Some(rollup) => columns
            .iter()
            .map(|name| rollup_column(name, rollup.bucket_secs))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut sql = Sql::default();
    sql.push(&format!("SELECT {selected} FROM {}", tables.of(resolution)));
    let sql = sql
        .then(rows_where(resolution, window, dataset))
        .then(pushed.clone());
    match resolution {
        Resolution::Raw => sql.wrap(&format!("SELECT {} FROM ", columns.join(", ")), ""),
        _ => sql,
    }
}

/// Where each VM ran in the window (and dataset) of `params`: rows of `vm`, `host`,
/// `zone`, `start_ms` and `end_ms`, one per end of each row (an unknown
/// end under VM `''`). The window is split as [`source_with`] splits it; its
/// whole hours and days are read from the placement tables (a row per
/// VM, host, zone and bucket, however many flows), the rest (edges finer
/// than an hour, or a window read finer) from both ends of the oriented
/// rows. Either way a bucket gives the same VMs, hosts, zones and bounds.
/// `vm` keeps one VM's rows, tested in each part's own `WHERE`.
pub(super) fn placements_source(
    tables: &Tables,
    resolution: Resolution,
    params: &Params,
    vm: Option<&str>,
) -> Sql {
    let dataset = params.filters.dataset.as_deref();
    let parts: Vec<(Resolution, Option<TimeWindow>)> = match params.window {
        None => vec![(resolution, None)],
        Some(window) => match split(window, resolution) {
            // An empty window (the API refuses from >= to): no rows.
            parts if parts.is_empty() => vec![(Resolution::Raw, Some(window))],
            parts => parts.into_iter().map(|(r, w)| (r, Some(w))).collect(),
        },
    };
    let mut sql = Sql::default();
    for (i, (resolution, window)) in parts.into_iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql = sql.then(placements_part(tables, resolution, window, dataset, vm));
    }
    sql
}

/// One `SELECT` of [`placements_source`].
fn placements_part(
    tables: &Tables,
    resolution: Resolution,
    window: Option<TimeWindow>,
    dataset: Option<&str>,
    vm: Option<&str>,
) -> Sql {
    let name = |vm: &str| Arg::Text(vm.to_string());
    if let (Some(table), Some(rollup)) = (tables.placements_of(resolution), resolution.rollup()) {
        let mut sql = Sql::default();
        sql.push(&format!(
            "SELECT vm, host, zone, {}, {} FROM {table}",
            rollup_column("start_ms", rollup.bucket_secs),
            rollup_column("end_ms", rollup.bucket_secs)
        ));
        let mut sql = sql.then(rows_where(resolution, window, dataset));
        if let Some(vm) = vm {
            sql.clause(" AND vm = ?", [name(vm)]);
        }
        return sql;
    }
    let mut pushed = Sql::default();
    if let Some(vm) = vm {
        pushed.clause(
            " AND (client_vm = ? OR server_vm = ?)",
            [name(vm), name(vm)],
        );
    }
    let columns = [
        "client_vm",
        "client_host",
        "client_zone",
        "server_vm",
        "server_host",
        "server_zone",
        "start_ms",
        "end_ms",
    ];
    let mut sql = part(tables, resolution, window, dataset, &pushed, &columns).wrap(
        // 18.16 makes the tuple's LowCardinality elements String, and a
        // UNION ALL with the placement tables' has no common type there.
        "SELECT CAST(tupleElement(side, 1) AS LowCardinality(String)) AS vm, \
         CAST(tupleElement(side, 2) AS LowCardinality(String)) AS host, \
         CAST(tupleElement(side, 3) AS LowCardinality(String)) AS zone, start_ms, end_ms FROM ",
        " ARRAY JOIN [(client_vm, client_host, client_zone), \
         (server_vm, server_host, server_zone)] AS side",
    );
    if let Some(vm) = vm {
        sql.clause(" WHERE vm = ?", [name(vm)]);
    }
    sql
}

/// How many rows of one table a window and dataset cover (what a query of
/// that table at that resolution would read), up to `at_most`: the
/// server stops reading there, so the question "more than N?" costs N
/// rows at most, however many the table holds.
pub fn rows_in(
    tables: &Tables,
    resolution: Resolution,
    window: TimeWindow,
    dataset: Option<&str>,
    at_most: u64,
) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!("SELECT 1 FROM {}", tables.of(resolution)));
    let mut sql = sql.then(rows_where(resolution, Some(window), dataset));
    sql.clause(" LIMIT ?", [Arg::U64(at_most)]);
    sql.wrap("SELECT count() FROM ", "")
}

/// The `WHERE` of [`part`] and [`rows_in`]: the window (on `start_ms` or
/// `bucket`, with the partition key `date`) and the dataset.
pub(super) fn rows_where(
    resolution: Resolution,
    window: Option<TimeWindow>,
    dataset: Option<&str>,
) -> Sql {
    let mut sql = Sql::default();
    sql.push(" WHERE 1");
    if let Some(TimeWindow { from_ms, to_ms }) = window {
        let dates = [
            Arg::U16(date_of_ms(from_ms)),
            Arg::U16(date_of_ms(to_ms.saturating_sub(1))),
        ];
        match resolution {
            // `start` (the second of `start_ms`) is in the sort key: its
            // bounds, implied by those on `start_ms`, let ClickHouse skip
            // the rest of the day (a window's sub-minute edge would read
            // every flow of its dates otherwise).
            Resolution::Raw => sql.clause(
                " AND start_ms >= ? AND start_ms < ? \
                 AND start >= toDateTime(?) AND start <= toDateTime(?)",
                [
                    Arg::U64(from_ms),
                    Arg::U64(to_ms),
                    Arg::U32(secs(from_ms)),
                    Arg::U32(secs(to_ms.saturating_sub(1))),
                ],
            ),
            _ => sql.clause(
                " AND bucket >= toDateTime(?) AND bucket < toDateTime(?)",
                [Arg::U32(secs(from_ms)), Arg::U32(secs(to_ms))],
            ),
        };
        sql.clause(" AND date >= toDate(?) AND date <= toDate(?)", dates);
    }
    if let Some(dataset) = dataset {
        sql.clause(" AND dataset = ?", [Arg::Text(dataset.to_string())]);
    }
    sql
}

pub(super) fn secs(ms: u64) -> u32 {
    u32::try_from(ms / 1000).unwrap_or(u32::MAX)
}

/// `WHERE` conditions on the oriented rows for the `filters` on oriented
/// columns (VM, host, zone, port; [`filtered_source`] applies them, and
/// the others, in each part too), and the oriented columns they read.
pub(super) fn where_filters(filters: &Filters) -> (Sql, Vec<&'static str>) {
    let mut sql = Sql::default();
    sql.push(" WHERE 1");
    let (conditions, columns) = oriented_conditions(filters);
    (sql.then(conditions), columns)
}

/// The conditions of [`where_filters`] (each ` AND …`) and the oriented
/// columns they read.
fn oriented_conditions(filters: &Filters) -> (Sql, Vec<&'static str>) {
    let mut sql = Sql::default();
    let mut columns = Vec::new();
    let text = |v: &String| Arg::Text(v.clone());
    let mut either = |name: &Option<String>, client: &'static str, server: &'static str| {
        if let Some(value) = name {
            sql.clause(
                &format!(" AND ({client} = ? OR {server} = ?)"),
                [text(value), text(value)],
            );
            columns.extend([client, server]);
        }
    };
    either(&filters.vm, "client_vm", "server_vm");
    either(&filters.host, "client_host", "server_host");
    either(&filters.zone, "client_zone", "server_zone");
    if let Some(zone) = &filters.client_zone {
        sql.clause(" AND client_zone = ?", [text(zone)]);
        columns.push("client_zone");
    }
    if let Some(zone) = &filters.server_zone {
        sql.clause(" AND server_zone = ?", [text(zone)]);
        columns.push("server_zone");
    }
    if let Some(port) = filters.port {
        sql.clause(" AND server_port = ?", [Arg::U16(port)]);
        columns.push("server_port");
    }
    (sql, columns)
}
