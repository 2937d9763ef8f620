//! The SQL of every API query, built from checked [`Params`] as text plus
//! the values for its `?` placeholders ([`Sql`]); the store binds them with
//! the `clickhouse` crate, which escapes each as a literal. Nothing from a
//! request is spliced into the text: only whitelisted column names (sort)
//! and numbers the code computes (bucket steps) are.
//!
//! Queries read an *oriented* row set (`source`): one row per flow (raw
//! `flows`) or per rollup row (`flows_1m`, `flows_1h`), with the client
//! (initiator) and server (responder) sides and per-direction counters. The
//! raw table is oriented with its `reply` column, exactly as the rollups'
//! materialized views do it, so every resolution gives the same answer.
//!
//! A flow mirrored at several observation points is counted once: the
//! grouped queries first sum per conversation *and* observation point
//! (observer host, capture path), rank each point by how local it is, then
//! take the counters of the best-ranked points per conversation
//! (`counted`).

use eastwest_clickhouse::schema::{
    date_of_ms, Rollup, FLOWS_10M, FLOWS_1D, FLOWS_1H, FLOWS_1M, ROLLUP_DERIVED,
};

use crate::query::{Filters, Params, Sort, TimeWindow};

/// Which table answers: the coarsest whose buckets the window falls on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Raw,
    Minute,
    TenMinutes,
    Hour,
    Day,
}

/// The shortest window whose whole days are read from `flows_1d` (a week):
/// shorter windows read whole hours at most, so their conversations'
/// first and last seen stay within an hour.
pub const DAY_WINDOW_MS: u64 = 7 * 86_400_000;

impl Resolution {
    /// `"raw"`, `"1m"`, `"10m"`, `"1h"`, `"1d"` (the API's `resolution`
    /// field).
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Raw => "raw",
            Resolution::Minute => "1m",
            Resolution::TenMinutes => "10m",
            Resolution::Hour => "1h",
            Resolution::Day => "1d",
        }
    }

    fn rollup(self) -> Option<Rollup> {
        match self {
            Resolution::Raw => None,
            Resolution::Minute => Some(FLOWS_1M),
            Resolution::TenMinutes => Some(FLOWS_10M),
            Resolution::Hour => Some(FLOWS_1H),
            Resolution::Day => Some(FLOWS_1D),
        }
    }

    /// Bucket length in ms (0 for raw).
    pub fn step_ms(self) -> u64 {
        self.rollup()
            .map(|r| u64::from(r.bucket_secs) * 1000)
            .unwrap_or(0)
    }

    /// The coarsest resolution whose bucket divides `step_ms` (a
    /// time-series step; 0 = no step: hours, see [`Resolution::for_window`]):
    /// the table `source` reads the whole buckets of a window from
    /// ([`split`] gives the finer tables the window's edges).
    pub fn for_step(step_ms: u64) -> Resolution {
        if step_ms == 0 {
            return Resolution::Hour;
        }
        [
            Resolution::Day,
            Resolution::Hour,
            Resolution::TenMinutes,
            Resolution::Minute,
        ]
        .into_iter()
        .find(|r| step_ms.is_multiple_of(r.step_ms()))
        .unwrap_or(Resolution::Raw)
    }

    /// The coarsest resolution a list over `window` (no step) reads: days
    /// from [`DAY_WINDOW_MS`] on, else hours (and hours for all time).
    pub fn for_window(window: Option<TimeWindow>) -> Resolution {
        match window {
            Some(w) if w.to_ms.saturating_sub(w.from_ms) >= DAY_WINDOW_MS => Resolution::Day,
            _ => Resolution::Hour,
        }
    }

    /// The next finer resolution (raw stays raw).
    fn finer(self) -> Resolution {
        match self {
            Resolution::Day => Resolution::Hour,
            Resolution::Hour => Resolution::TenMinutes,
            Resolution::TenMinutes => Resolution::Minute,
            Resolution::Minute | Resolution::Raw => Resolution::Raw,
        }
    }

    /// The coarsest resolution [`split`] uses for `window` when it may go
    /// up to `self` (what the API reports as `resolution`).
    pub fn used_for(self, window: Option<TimeWindow>) -> Resolution {
        match window {
            None => self,
            Some(window) => split(window, self)
                .into_iter()
                .map(|(r, _)| r)
                .max_by_key(|r| r.step_ms())
                .unwrap_or(Resolution::Raw),
        }
    }
}

/// `window` cut into the parts each table answers exactly: the whole
/// buckets of `coarsest` in the middle, the edges from finer tables (whole
/// minutes from `flows_1m`, the rest from raw `flows`), in time order. A
/// 24-hour view ending at a minute reads 23 hours of `flows_1h`, under an
/// hour of `flows_1m` and no raw rows; rows are bucketed by the second the
/// flow started (`start`), the same instant raw parts compare `start_ms`
/// with, so the parts neither overlap nor leave gaps.
pub fn split(window: TimeWindow, coarsest: Resolution) -> Vec<(Resolution, TimeWindow)> {
    if window.from_ms >= window.to_ms {
        return Vec::new();
    }
    let bucket = coarsest.step_ms();
    if bucket == 0 {
        return vec![(Resolution::Raw, window)];
    }
    let inner = TimeWindow {
        from_ms: window.from_ms.div_ceil(bucket) * bucket,
        to_ms: window.to_ms / bucket * bucket,
    };
    if inner.from_ms >= inner.to_ms {
        return split(window, coarsest.finer());
    }
    let mut parts = split(
        TimeWindow {
            from_ms: window.from_ms,
            to_ms: inner.from_ms,
        },
        coarsest.finer(),
    );
    parts.push((coarsest, inner));
    parts.extend(split(
        TimeWindow {
            from_ms: inner.to_ms,
            to_ms: window.to_ms,
        },
        coarsest.finer(),
    ));
    parts
}

/// A value bound to a `?` of the SQL, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    U64(u64),
    U32(u32),
    U16(u16),
    U8(u8),
}

/// SQL text and the values of its `?`s, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, arg: Arg) -> &mut Sql {
        self.args.push(arg);
        self
    }

    /// `text` with `?`s, then their values.
    fn clause(&mut self, text: &str, args: impl IntoIterator<Item = Arg>) -> &mut Sql {
        self.push(text);
        self.args.extend(args);
        self
    }

    /// Wrap: `before (self) after`, keeping the arguments.
    fn wrap(self, before: &str, after: &str) -> Sql {
        Sql {
            text: format!("{before}({}){after}", self.text),
            args: self.args,
        }
    }

    /// Append another statement part and its arguments.
    fn then(mut self, other: Sql) -> Sql {
        self.text.push_str(&other.text);
        self.args.extend(other.args);
        self
    }
}

/// Table names, quoted with their database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub flows: String,
    pub flows_1m: String,
    pub flows_10m: String,
    pub flows_1h: String,
    pub flows_1d: String,
    pub exporters: String,
    pub datasets: String,
    pub observed_1m: String,
}

impl Tables {
    fn of(&self, resolution: Resolution) -> &str {
        match resolution {
            Resolution::Raw => &self.flows,
            Resolution::Minute => &self.flows_1m,
            Resolution::TenMinutes => &self.flows_10m,
            Resolution::Hour => &self.flows_1h,
            Resolution::Day => &self.flows_1d,
        }
    }
}

/// The oriented row set's columns and their expressions on raw flows, in
/// order; the rollups store each under its name, except the three
/// [`rollup_column`] computes. After them come the rollups' derived
/// columns ([`ROLLUP_DERIVED`]).
/// (18.16 turns `if()` over LowCardinality into String, and a UNION ALL of
/// the two has no common type there: cast back, as the rollups' views do.)
const ORIENTED: &[(&str, &str)] = &[
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
fn named(name: &str, expr: &str) -> String {
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
fn raw_oriented() -> String {
    ORIENTED
        .iter()
        .map(|(name, expr)| named(name, expr))
        .chain(ROLLUP_DERIVED.iter().map(|d| named(d.column.name, d.expr)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One oriented column of a rollup with `bucket_secs` buckets.
fn rollup_column(name: &str, bucket_secs: u32) -> String {
    match name {
        "policy_revision" => "CAST('' AS LowCardinality(String)) AS policy_revision".into(),
        "start_ms" => "toUInt64(bucket) * 1000 AS start_ms".into(),
        "end_ms" => format!("(toUInt64(bucket) + {bucket_secs}) * 1000 AS end_ms"),
        _ => name.into(),
    }
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
/// every column).
fn source(
    tables: &Tables,
    resolution: Resolution,
    window: Option<TimeWindow>,
    dataset: Option<&str>,
    columns: &[&str],
) -> Sql {
    source_with(
        tables,
        resolution,
        window,
        dataset,
        &Sql::default(),
        columns,
    )
}

/// [`source`] for `filters`: its dataset, and the filters on columns every
/// table has with the same meaning in either orientation (verdict,
/// severity, rule, same host, protocol) in each part's own `WHERE`, so the
/// rows they reject never reach the grouping (the costly step): a report's
/// violations on a day of raw flows group the few violating rows instead
/// of all 10M (a few seconds rather than about 28). The grouped queries
/// apply the other filters on the oriented rows ([`where_filters`]).
fn filtered_source(
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
fn filtered_source_and(
    tables: &Tables,
    resolution: Resolution,
    window: Option<TimeWindow>,
    filters: &Filters,
    more: Sql,
    columns: &[&str],
) -> Sql {
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
    source_with(
        tables,
        resolution,
        window,
        filters.dataset.as_deref(),
        &pushed,
        columns,
    )
}

/// [`source`] with `pushed` (conditions on the tables' own columns)
/// appended to each part's `WHERE`.
fn source_with(
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
    let mut sql = Sql::default();
    for (i, (resolution, window)) in parts.into_iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql = sql.then(part(
            tables,
            resolution,
            Some(window),
            dataset,
            pushed,
            columns,
        ));
    }
    sql
}

/// One `SELECT` of [`source`]: the oriented rows of one table. Raw flows
/// are oriented in a subquery when only some columns are wanted: the
/// derived columns are computed from the other oriented columns, which
/// the part then need not select.
fn part(
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

/// How many rows of one table a window and dataset cover (what a query of
/// that table at that resolution would read).
pub fn rows_in(
    tables: &Tables,
    resolution: Resolution,
    window: TimeWindow,
    dataset: Option<&str>,
) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!("SELECT count() FROM {}", tables.of(resolution)));
    sql.then(rows_where(resolution, Some(window), dataset))
}

/// The `WHERE` of [`part`] and [`rows_in`]: the window (on `start_ms` or
/// `bucket`, with the partition key `date`) and the dataset.
fn rows_where(resolution: Resolution, window: Option<TimeWindow>, dataset: Option<&str>) -> Sql {
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

fn secs(ms: u64) -> u32 {
    u32::try_from(ms / 1000).unwrap_or(u32::MAX)
}

/// `WHERE` conditions on the oriented rows for the `filters` that need
/// them (VM, host, zone, port; [`filtered_source`] applies the others in
/// each part), and the oriented columns they read.
fn where_filters(filters: &Filters) -> (Sql, Vec<&'static str>) {
    let mut sql = Sql::default();
    let mut columns = Vec::new();
    sql.push(" WHERE 1");
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

/// How much of a conversation the grouped queries carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// Every column of [`crate::model::Conversation`], the hosts, the
    /// policy revision and the observation points (a page of
    /// conversations, the host view).
    Full,
    /// What orders and ranks conversations without their costly columns:
    /// the VMs, protocol, port, severity, first and last seen, zones,
    /// verdict and counters (a page's keys, the report's violations).
    Keys,
    /// Only the zones, the verdict and the counters, both directions
    /// together (totals, the zone matrix, the time series): the per-row
    /// `argMax`es of the hosts and the revision and the per-point arrays
    /// are the costliest aggregates after the grouping itself, and these
    /// queries never read them. Both directions are summed together: two
    /// sums fewer than per direction, and three counters per point instead
    /// of five.
    Counters,
}

/// Per conversation and observation point (and time bucket when
/// `bucket_ms` is set, as `t_ms`): the conversation's key columns (`p_*`),
/// counters summed (`o_*`), and `o_local`, the best `point_rank` of the
/// point: 4 = the client's host, 2 = the server's, +1 for a mirror of the
/// VM's port (SPAN/ERSPAN) over an underlay (VXLAN, Geneve, NVGRE, routed GRE), which
/// sees the same packets again.
///
/// Rows are grouped on the 64-bit hashes every oriented row carries
/// (`conv_hash` of the conversation's key columns, `point_hash` of it with
/// observer and capture path; stored in the rollups, see
/// [`eastwest_clickhouse::schema::ROLLUP_DERIVED`]): grouping on a dozen
/// String/LowCardinality columns, or hashing them per row at query time,
/// is the slowest step of these queries on ClickHouse 18.16. The columns
/// themselves are taken with `any()`. Two conversations would have to
/// collide in CityHash64 to be merged (about 1 in 10^7 for a million
/// conversations in one window).
fn per_observation_point(
    source: impl FnOnce(&[&str]) -> Sql,
    filters: &Filters,
    bucket_ms: Option<u64>,
    detail: Detail,
) -> Sql {
    let (t_col, t_key) = match bucket_ms {
        Some(step) => (
            format!("intDiv(start_ms, {step}) * {step} AS t_ms, "),
            "t_ms, ",
        ),
        None => (String::new(), ""),
    };
    let (filter, filter_columns) = where_filters(filters);
    let mut columns = vec![
        "conv_hash",
        "point_hash",
        "point_rank",
        "client_zone",
        "server_zone",
        "verdict",
        "bytes_fwd",
        "bytes_rev",
        "packets_fwd",
        "packets_rev",
        "flows",
    ];
    if bucket_ms.is_some() {
        columns.push("start_ms");
    }
    let keys = "any(client_vm) AS p_cvm, any(server_vm) AS p_svm, \
                any(proto) AS p_proto, any(server_port) AS p_port, any(severity) AS p_sev, \
                min(start_ms) AS o_start, max(end_ms) AS o_end, ";
    let key_columns = [
        "client_vm",
        "server_vm",
        "proto",
        "server_port",
        "severity",
        "start_ms",
        "end_ms",
    ];
    let extra = match detail {
        Detail::Full => {
            columns.extend(key_columns);
            columns.extend([
                "client_addr",
                "server_addr",
                "rule",
                "same_host",
                "observer",
                "encap",
                "client_host",
                "server_host",
                "policy_revision",
            ]);
            format!(
                "{keys}any({}) AS p_ckey, any({}) AS p_skey, any(rule) AS p_rule, any(same_host) AS p_same, \
                 any(observer) AS p_obs, any(encap) AS p_encap, \
                 argMax(client_host, end_ms) AS o_ch, argMax(server_host, end_ms) AS o_sh, \
                 argMax(policy_revision, end_ms) AS o_rev, ",
                addr_key("client"),
                addr_key("server"),
            )
        }
        Detail::Keys => {
            columns.extend(key_columns);
            keys.to_string()
        }
        Detail::Counters => String::new(),
    };
    columns.extend(filter_columns);
    distinct(&mut columns);
    let sums = match detail {
        Detail::Counters => {
            "sum(bytes_fwd + bytes_rev) AS o_b, sum(packets_fwd + packets_rev) AS o_p, "
        }
        Detail::Full | Detail::Keys => {
            "sum(bytes_fwd) AS o_bf, sum(bytes_rev) AS o_br, \
             sum(packets_fwd) AS o_pf, sum(packets_rev) AS o_pr, "
        }
    };
    let head = format!(
        "SELECT {t_col}any(conv_hash) AS h_conv, {extra}\
           any(client_zone) AS p_cz, any(server_zone) AS p_sz, any(verdict) AS p_verdict, \
           {sums}sum(flows) AS o_flows, max(point_rank) AS o_local \
         FROM "
    );
    let mut sql = source(&columns).wrap(&head, "").then(filter);
    sql.push(&format!(" GROUP BY {t_key}point_hash"));
    sql
}

/// Each column once, in the order first named.
fn distinct(columns: &mut Vec<&str>) {
    let mut seen = std::collections::HashSet::new();
    columns.retain(|c| seen.insert(*c));
}

/// A side's address where its VM is unknown, else zeros: what tells two
/// conversations of unknown VMs apart (as in `conv_hash`).
fn addr_key(side: &str) -> String {
    format!("if({side}_vm = '', {side}_addr, toFixedString('', 16))")
}

/// A conversation's counters from its observation points (the rows of
/// [`per_observation_point`], with rank `o_local` and `bytes`), each
/// `(expression, alias)` of `counters` summed over the points counted:
/// those of the best rank when it is local to the client's or the
/// server's host (rank 2 and up), summed over them, as a VM runs on one
/// host at a time: the hosts before and after a vMotion each saw part of
/// the conversation, never the same packets; otherwise (observers on
/// neither host) the one point of that rank that saw the most bytes, as
/// two such observers may see the same packets. Arrays per conversation,
/// so it stays one grouping level.
fn counted(bytes: &str, counters: &[(&str, &str)]) -> String {
    let fields: Vec<&str> = counters.iter().map(|(expr, _)| *expr).collect();
    let mut sql = format!(
        "max(o_local) AS c_rank, groupArray((o_local, {bytes}, {})) AS c_points, \
         arrayFilter(p -> tupleElement(p, 1) = c_rank, c_points) AS c_best, \
         if(c_rank >= 2, c_best, \
            arraySlice(arrayReverseSort(p -> tupleElement(p, 2), c_best), 1, 1)) AS c_counted",
        fields.join(", ")
    );
    for (i, (_, alias)) in counters.iter().enumerate() {
        sql.push_str(&format!(
            ", arraySum(arrayMap(p -> tupleElement(p, {}), c_counted)) AS {alias}",
            i + 3
        ));
    }
    sql
}

/// One row per conversation (per `t_ms` bucket when `bucket_ms` is set),
/// with its hash `h_conv`. [`Detail::Full`]: the columns of
/// [`crate::model::Conversation`] (by name), plus `policy_revision` and
/// `points` (per observation point: observer, encap, flows, bytes) at the
/// end. [`Detail::Keys`]: the columns a page is sorted by. [`Detail::Counters`]:
/// `client_zone`, `server_zone`, `verdict`, `flows`, `packets` and `bytes`.
fn per_conversation(
    source: impl FnOnce(&[&str]) -> Sql,
    filters: &Filters,
    bucket_ms: Option<u64>,
    detail: Detail,
) -> Sql {
    let t = if bucket_ms.is_some() { "t_ms, " } else { "" };
    let counters = match detail {
        Detail::Counters => counted(
            "o_b",
            &[("o_flows", "flows"), ("o_p", "packets"), ("o_b", "bytes")],
        ),
        Detail::Full | Detail::Keys => format!(
            "{}, packets_fwd + packets_rev AS packets, bytes_fwd + bytes_rev AS bytes",
            counted(
                "o_bf + o_br",
                &[
                    ("o_flows", "flows"),
                    ("o_pf", "packets_fwd"),
                    ("o_bf", "bytes_fwd"),
                    ("o_pr", "packets_rev"),
                    ("o_br", "bytes_rev"),
                ],
            )
        ),
    };
    let counters = format!(
        "any(p_cz) AS client_zone, any(p_sz) AS server_zone, any(p_verdict) AS verdict, \
         {counters}"
    );
    let keys = "any(p_cvm) AS client_vm, any(p_svm) AS server_vm, \
                any(p_proto) AS proto, any(p_port) AS server_port, any(p_sev) AS severity, \
                min(o_start) AS start_ms, max(o_end) AS end_ms, ";
    let head = match detail {
        Detail::Full => format!(
            "SELECT {t}h_conv, {keys}any(p_ckey) AS client_addr, \
               argMax(o_ch, o_end) AS client_host, \
               any(p_skey) AS server_addr, \
               argMax(o_sh, o_end) AS server_host, \
               any(p_rule) AS rule, any(p_same) AS same_host, \
               arraySort(groupUniqArray(p_obs)) AS observers, {counters}, \
               argMax(o_rev, o_end) AS policy_revision, \
               groupArray((p_obs, p_encap, o_flows, o_bf + o_br)) AS points \
             FROM "
        ),
        Detail::Keys => format!("SELECT {t}h_conv, {keys}{counters} FROM "),
        Detail::Counters => format!("SELECT {t}h_conv, {counters} FROM "),
    };
    per_observation_point(source, filters, bucket_ms, detail)
        .wrap(&head, &format!(" GROUP BY {t}h_conv"))
}

/// The conversation columns of [`per_conversation`] (what
/// [`crate::model::ConversationRow`] reads).
const CONV_COLUMNS: &str = "client_vm, client_addr, client_zone, client_host, \
    server_vm, server_addr, server_zone, server_host, proto, server_port, \
    verdict, rule, severity, same_host, observers, flows, packets_fwd, bytes_fwd, \
    packets_rev, bytes_rev, packets, bytes, start_ms, end_ms";

/// The order of a page after the requested one: the larger conversation
/// first, then the hash (stable); the same whether the page is read in one
/// statement or by its keys. Bytes are summed for the totals anyway;
/// breaking ties by the VM names would cost [`conversation_keys_and_totals`]
/// two more aggregates per row, about a third of its time on 24 hours of
/// 10M flows.
const TIE_BREAK: &str = "bytes DESC, h_conv";

/// How many conversations a page may have for [`conversation_page`] to
/// read them by their keys (a `conv_hash IN (...)` list in each part of
/// the source, well inside ClickHouse's 256 KiB `max_query_size`); a
/// larger page is read in one statement ([`conversations_in_one`]).
pub const MAX_PAGE_KEYS: u64 = 1000;

/// The totals of the conversations matching `params`.
pub fn conversation_totals(tables: &Tables, resolution: Resolution, params: &Params) -> Sql {
    per_conversation(
        |c| filtered_source(tables, resolution, params.window, &params.filters, c),
        &params.filters,
        None,
        Detail::Counters,
    )
    .wrap(
        "SELECT count() AS conversations, countIf(verdict = 'violation') AS violations, \
         sum(flows) AS flows, sum(packets) AS packets, sum(bytes) AS bytes FROM ",
        "",
    )
}

/// `ORDER BY` of a page of conversations.
fn page_order(sort: Sort) -> String {
    format!(
        " ORDER BY {} {}, {TIE_BREAK}",
        sort.key.column(),
        direction(sort)
    )
}

/// The keys (`h_conv`) and counters of the page of conversations `params`
/// asks for, in page order, and the totals of all the conversations
/// matching, in one statement: grouped with `Detail::Keys`, then once
/// more by `h_conv` (one row each, cheap) so that `WITH TOTALS` sums them
/// all. A row: `h_conv`, 1, the violation flag, flows, packets, bytes,
/// packets and bytes forward (those of the points `counted`). Read as `TSV` ([`crate::store::keys_and_totals`]):
/// RowBinary drops the totals row. One grouping of the window instead of
/// two (keys and totals apart) halves the work; [`conversation_page`] then
/// reads the rest of the page's conversations alone.
pub fn conversation_keys_and_totals(
    tables: &Tables,
    resolution: Resolution,
    params: &Params,
) -> Sql {
    let mut sql = per_conversation(
        |c| filtered_source(tables, resolution, params.window, &params.filters, c),
        &params.filters,
        None,
        Detail::Keys,
    )
    .wrap(
        "SELECT h_conv, count() AS n, countIf(verdict = 'violation') AS v, \
         sum(flows) AS f, sum(packets) AS p, sum(bytes) AS b, \
         sum(packets_fwd) AS pf, sum(bytes_fwd) AS bf FROM ",
        // [`TIE_BREAK`] after the requested order, aggregated.
        &format!(
            " GROUP BY h_conv WITH TOTALS ORDER BY any({}) {}, \
             any(bytes) DESC, h_conv LIMIT ?, ?",
            params.sort.key.column(),
            direction(params.sort)
        ),
    );
    sql.bind(Arg::U64(params.offset))
        .bind(Arg::U64(params.limit));
    sql
}

/// The oriented columns [`conversation_page`] reads: not the counters, the
/// observation points' hashes and ranks, the capture path or the policy
/// revision (on 24 hours of 10M flows, reading these 17 rather than all 28
/// nearly halves the page statement's time).
const DESCRIBED: &[&str] = &[
    "conv_hash",
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
    "observer",
    "start_ms",
    "end_ms",
];

/// Every column of the conversations with `keys` (from
/// [`conversation_keys_and_totals`]) but their counters, which the keys
/// carry ([`crate::model::DescribedRow`], `conv_hash` last, in no order):
/// the source's parts keep only the page's rows, grouped once by
/// conversation. One level of grouping, as the counters are not summed
/// here: ClickHouse 18.16 analyses each nested `SELECT` about twice over,
/// so each level doubles the time to analyse a statement.
pub fn conversation_page(
    tables: &Tables,
    resolution: Resolution,
    params: &Params,
    keys: &[u64],
) -> Sql {
    let mut only = Sql::default();
    only.push(" AND conv_hash IN (");
    for (i, key) in keys.iter().enumerate() {
        only.push(if i == 0 { "?" } else { ", ?" });
        only.bind(Arg::U64(*key));
    }
    only.push(")");
    let (filter, filter_columns) = where_filters(&params.filters);
    let mut columns = DESCRIBED.to_vec();
    columns.extend(filter_columns);
    distinct(&mut columns);
    // Aliases apart from the columns: an aggregate named like a column
    // another one reads would nest aggregates.
    let head = format!(
        "SELECT any(client_vm) AS d_cvm, any({}) AS d_caddr, any(client_zone) AS d_cz, \
         argMax(client_host, end_ms) AS d_ch, any(server_vm) AS d_svm, any({}) AS d_saddr, \
         any(server_zone) AS d_sz, argMax(server_host, end_ms) AS d_sh, \
         any(proto) AS d_proto, any(server_port) AS d_port, any(verdict) AS d_verdict, \
         any(rule) AS d_rule, any(severity) AS d_sev, any(same_host) AS d_same, \
         arraySort(groupUniqArray(observer)) AS d_obs, \
         min(start_ms) AS d_start, max(end_ms) AS d_end, conv_hash FROM ",
        addr_key("client"),
        addr_key("server"),
    );
    let mut sql = filtered_source_and(
        tables,
        resolution,
        params.window,
        &params.filters,
        only,
        &columns,
    )
    .wrap(&head, "")
    .then(filter);
    sql.push(" GROUP BY conv_hash");
    sql
}

/// The page of conversations in one statement, every conversation of the
/// window grouped in full (for pages larger than [`MAX_PAGE_KEYS`]; the
/// same rows in the same order as [`conversation_keys_and_totals`] then
/// [`conversation_page`] give).
pub fn conversations_in_one(tables: &Tables, resolution: Resolution, params: &Params) -> Sql {
    let mut page = per_conversation(
        |c| filtered_source(tables, resolution, params.window, &params.filters, c),
        &params.filters,
        None,
        Detail::Full,
    )
    .wrap(
        &format!("SELECT {CONV_COLUMNS} FROM "),
        &format!("{} LIMIT ?, ?", page_order(params.sort)),
    );
    page.bind(Arg::U64(params.offset))
        .bind(Arg::U64(params.limit));
    page
}

fn direction(sort: Sort) -> &'static str {
    if sort.descending {
        "DESC"
    } else {
        "ASC"
    }
}

/// Zone × zone cells (client zone → server zone).
pub fn matrix(tables: &Tables, resolution: Resolution, params: &Params) -> Sql {
    per_conversation(
        |c| filtered_source(tables, resolution, params.window, &params.filters, c),
        &params.filters,
        None,
        Detail::Counters,
    )
    // Renamed first: an aggregate named like a column it reads (`sum(bytes)
    // AS bytes`) would make `sumIf(bytes, ...)` nest aggregates.
    .wrap(
        "SELECT client_zone, server_zone, verdict, flows AS f, packets AS p, bytes AS b FROM ",
        "",
    )
    .wrap(
        "SELECT client_zone, server_zone, count() AS conversations, sum(f) AS flows, \
         sum(p) AS packets, sum(b) AS bytes, \
         countIf(verdict = 'violation') AS violations, \
         sumIf(b, verdict = 'violation') AS violation_bytes FROM ",
        " GROUP BY client_zone, server_zone ORDER BY client_zone, server_zone",
    )
}

/// Violating conversations, newest first, with their evidence, and their
/// count. Always from the raw flows (times to the millisecond).
pub fn violations(tables: &Tables, params: &Params) -> (Sql, Sql) {
    let mut filters = params.filters.clone();
    filters.verdict = Some(crate::query::Verdict::Violation);
    let rows = per_conversation(
        |c| filtered_source(tables, Resolution::Raw, params.window, &filters, c),
        &filters,
        None,
        Detail::Full,
    );
    let total = rows.clone().wrap("SELECT count() FROM ", "");
    let mut page = rows.wrap(
        "SELECT client_vm, client_addr, client_zone, server_vm, server_addr, server_zone, \
         proto, server_port, rule, severity, same_host, policy_revision, \
         start_ms AS first_ms, end_ms AS last_ms, flows, packets, bytes, points FROM ",
        &format!(" ORDER BY last_ms DESC, {TIE_BREAK} LIMIT ?, ?"),
    );
    page.bind(Arg::U64(params.offset))
        .bind(Arg::U64(params.limit));
    (page, total)
}

/// Bytes, packets, flows and violations per `step_ms` bucket (each
/// conversation counted once per bucket).
pub fn timeseries(tables: &Tables, resolution: Resolution, params: &Params, step_ms: u64) -> Sql {
    per_conversation(
        |c| filtered_source(tables, resolution, params.window, &params.filters, c),
        &params.filters,
        Some(step_ms),
        Detail::Counters,
    )
    .wrap(
        "SELECT t_ms, verdict, flows AS f, packets AS p, bytes AS b FROM ",
        "",
    )
    .wrap(
        "SELECT t_ms, sum(f) AS flows, sum(p) AS packets, sum(b) AS bytes, \
         sumIf(f, verdict = 'violation') AS violations, \
         sumIf(b, verdict = 'violation') AS violation_bytes FROM ",
        " GROUP BY t_ms ORDER BY t_ms",
    )
}

/// Flows stored per hour of `window` in `dataset` (`(t_ms, flows)`, in
/// time order), from `observed_1m` (a few rows per observer and minute):
/// what tells whether an hour of a time series has changed since it was
/// last counted.
pub fn hour_counts(tables: &Tables, window: TimeWindow, dataset: Option<&str>) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT toUInt64(toStartOfHour(bucket)) * 1000 AS t, countMerge(flows) FROM {}",
        tables.observed_1m
    ));
    let mut sql = sql.then(rows_where(Resolution::Hour, Some(window), dataset));
    sql.push(" GROUP BY t ORDER BY t");
    sql
}

/// Every dataset's summary (rows of [`crate::model::DatasetRow`]), by name.
pub fn datasets(tables: &Tables) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT dataset, countMerge(flows), minMerge(first_ms), maxMerge(last_ms), \
         toUInt32(minMerge(stored_first)), toUInt32(maxMerge(stored_last)) \
         FROM {} GROUP BY dataset ORDER BY dataset",
        tables.datasets
    ));
    sql
}

/// First and last flow start in `dataset` (for an all-time time series).
pub fn time_span(tables: &Tables, dataset: Option<&str>) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT min(start_ms), max(start_ms), count() FROM {} WHERE 1",
        tables.flows
    ));
    if let Some(dataset) = dataset {
        sql.clause(" AND dataset = ?", [Arg::Text(dataset.to_string())]);
    }
    sql
}

/// The raw flow records behind a conversation, newest first, and their
/// count.
pub fn flows(tables: &Tables, params: &Params) -> (Sql, Sql) {
    let f = &params.filters;
    let mut sql = Sql::default();
    sql.push(&format!("FROM {}", tables.flows));
    // The window bounds `start` (in the sort key) as raw parts do: a
    // listing of an hour reads that hour, not every flow of its dates.
    let mut sql = sql.then(rows_where(
        Resolution::Raw,
        params.window,
        f.dataset.as_deref(),
    ));
    let text = |v: &String| Arg::Text(v.clone());
    match (&f.vm, &f.peer) {
        (Some(vm), Some(peer)) => sql.clause(
            " AND ((src_vm = ? AND dst_vm = ?) OR (src_vm = ? AND dst_vm = ?))",
            [text(vm), text(peer), text(peer), text(vm)],
        ),
        (Some(vm), None) | (None, Some(vm)) => {
            sql.clause(" AND (src_vm = ? OR dst_vm = ?)", [text(vm), text(vm)])
        }
        (None, None) => &mut sql,
    };
    if let Some(proto) = f.proto {
        sql.clause(" AND proto = ?", [Arg::U8(proto)]);
    }
    if let Some(port) = f.port {
        sql.clause(" AND if(reply, src_port, dst_port) = ?", [Arg::U16(port)]);
    }
    if let Some(verdict) = f.verdict {
        sql.clause(" AND verdict = ?", [Arg::Text(verdict.as_str().into())]);
    }
    if let Some(rule) = &f.rule {
        sql.clause(" AND rule = ?", [text(rule)]);
    }
    let mut total = Sql::default();
    total.push("SELECT count() ");
    let total = total.then(sql.clone());
    let mut page = Sql::default();
    page.push(
        "SELECT start_ms, end_ms, observer, encap, exporter, source_id, \
         src_vm, src_addr, src_port, dst_vm, dst_addr, dst_port, proto, reply, \
         packets, bytes, tcp_flags, verdict, rule, severity, policy_revision, dataset ",
    );
    let mut page = page.then(sql);
    page.push(" ORDER BY start_ms DESC, observer, encap, src_port, dst_port LIMIT ?, ?");
    page.bind(Arg::U64(params.offset))
        .bind(Arg::U64(params.limit));
    (page, total)
}

/// Where a VM ran (host, first, last) and in which zones, from its flows.
pub fn vm_placements(tables: &Tables, resolution: Resolution, params: &Params, vm: &str) -> Sql {
    let name = || Arg::Text(vm.to_string());
    let mut inner = Sql::default();
    inner.clause(
        "SELECT if(client_vm = ?, client_host, server_host) AS host, \
         if(client_vm = ?, client_zone, server_zone) AS zone, start_ms, end_ms FROM ",
        [name(), name()],
    );
    let mut sql = inner.then(
        source(
            tables,
            resolution,
            params.window,
            params.filters.dataset.as_deref(),
            &[
                "client_vm",
                "server_vm",
                "client_host",
                "server_host",
                "client_zone",
                "server_zone",
                "start_ms",
                "end_ms",
            ],
        )
        .wrap("", ""),
    );
    sql.clause(" WHERE client_vm = ? OR server_vm = ?", [name(), name()]);
    sql.wrap(
        "SELECT host, arraySort(groupUniqArray(zone)) AS zones, min(start_ms) AS first_ms, \
         max(end_ms) AS last_ms FROM ",
        " GROUP BY host ORDER BY first_ms, host",
    )
}

/// Per host: its conversations (each once, counted where either VM ran).
pub fn hosts(tables: &Tables, resolution: Resolution, params: &Params) -> Sql {
    per_conversation(
        |c| filtered_source(tables, resolution, params.window, &params.filters, c),
        &params.filters,
        None,
        Detail::Full,
    )
    .wrap(
        "SELECT arrayJoin(if(client_host = server_host, [client_host], \
         [client_host, server_host])) AS host, same_host, client_zone, server_zone, verdict, \
         bytes AS b, end_ms AS e FROM ",
        "",
    )
    .wrap(
        "SELECT host, count() AS conversations, countIf(same_host = 1) AS local_conversations, \
         sumIf(b, same_host = 1) AS local_bytes, \
         countIf(same_host = 1 AND client_zone != server_zone) AS local_cross_zone, \
         countIf(verdict = 'violation') AS violations, sum(b) AS bytes, \
         max(e) AS last_ms FROM ",
        " WHERE host != '' GROUP BY host ORDER BY host",
    )
}

/// Per host, the VMs seen running on it (`host` = one host only).
pub fn host_vms(
    tables: &Tables,
    resolution: Resolution,
    params: &Params,
    host: Option<&str>,
) -> Sql {
    let mut sql = source(
        tables,
        resolution,
        params.window,
        params.filters.dataset.as_deref(),
        &["client_host", "client_vm", "server_host", "server_vm"],
    )
    .wrap(
        "SELECT tupleElement(hv, 1) AS host, tupleElement(hv, 2) AS vm FROM \
             (SELECT arrayJoin([(client_host, client_vm), (server_host, server_vm)]) AS hv FROM ",
        ")",
    )
    .wrap(
        "SELECT host, arraySort(groupUniqArray(vm)) AS vms FROM ",
        "",
    );
    sql.push(" WHERE host != '' AND vm != ''");
    if let Some(host) = host {
        sql.clause(" AND host = ?", [Arg::Text(host.to_string())]);
    }
    sql.push(" GROUP BY host ORDER BY host");
    sql
}

/// Latest state of each exporter: counters of each collector's latest
/// snapshot (per collector start), summed over collectors and restarts.
pub fn exporters(tables: &Tables) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT exporter, source_id, any(name) AS name, max(last_seen) AS last_seen, \
         sum(packets) AS packets, sum(flows) AS flows, sum(sequence_gaps) AS sequence_gaps, \
         max(templates) AS templates, sum(drops) AS drops, max(evidence_url) AS evidence_url FROM \
         (SELECT exporter, source_id, collector, started, argMax(name, updated) AS name, \
          max(last_seen) AS last_seen, argMax(packets, updated) AS packets, \
          argMax(flows, updated) AS flows, argMax(sequence_gaps, updated) AS sequence_gaps, \
          argMax(templates, updated) AS templates, argMax(drops, updated) AS drops, \
          argMax(evidence_url, updated) AS evidence_url \
          FROM {} GROUP BY exporter, source_id, collector, started) \
         GROUP BY exporter, source_id ORDER BY name, exporter, source_id",
        tables.exporters
    ));
    sql
}

/// Report: the flows each policy revision judged at each observation point
/// (count, first start, last end; rows of [`crate::report::PointRow`]):
/// the revisions in force and the mirror coverage per host, to the
/// millisecond. The window's whole minutes are read from `observed_1m` (a
/// few rows per observer and minute, whatever the traffic), what is left
/// at its edges from the raw flows; without a window, `observed_1m` alone.
pub fn report_points(tables: &Tables, params: &Params) -> Sql {
    let dataset = params.filters.dataset.as_deref();
    let part = |resolution: Resolution, window: Option<TimeWindow>| {
        let (aggregates, table) = match resolution {
            Resolution::Raw => (
                "count() AS n, min(start_ms) AS f, max(end_ms) AS l",
                &tables.flows,
            ),
            _ => (
                "countMerge(flows) AS n, minMerge(first_ms) AS f, maxMerge(last_ms) AS l",
                &tables.observed_1m,
            ),
        };
        let mut sql = Sql::default();
        sql.push(&format!(
            "SELECT policy_revision AS r, observer AS o, {aggregates} FROM {table}"
        ));
        let mut sql = sql.then(rows_where(resolution, window, dataset));
        sql.push(" GROUP BY r, o");
        sql
    };
    let parts = match params.window {
        None => vec![(Resolution::Minute, None)],
        Some(window) => {
            let parts = split(window, Resolution::Minute);
            if parts.is_empty() {
                // An empty window (the API refuses from >= to): no rows.
                vec![(Resolution::Raw, Some(window))]
            } else {
                parts.into_iter().map(|(r, w)| (r, Some(w))).collect()
            }
        }
    };
    let mut sql = Sql::default();
    for (i, (resolution, window)) in parts.into_iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql = sql.then(part(resolution, window));
    }
    sql.wrap(
        "SELECT r AS revision, o AS observer, sum(n) AS flows, min(f) AS first_ms, \
         max(l) AS last_ms FROM ",
        " GROUP BY r, o",
    )
}

/// Report: the hosts where a VM of the window's conversations ran (a host
/// with VMs but no observation is uncovered), from the rollups at
/// `resolution` (the window's whole hours from `flows_1h`).
pub fn report_vm_hosts(tables: &Tables, resolution: Resolution, params: &Params) -> Sql {
    source(
        tables,
        resolution,
        params.window,
        params.filters.dataset.as_deref(),
        &["client_host", "server_host"],
    )
    .wrap(
        "SELECT client_host AS ch, server_host AS sh FROM ",
        " GROUP BY ch, sh",
    )
    .wrap(
        "SELECT DISTINCT arrayJoin([ch, sh]) AS host FROM ",
        " WHERE host != '' ORDER BY host",
    )
}

/// Report: violating conversations by zone pair and severity, read at
/// `resolution` (counts exact; first and last seen are bucket bounds).
pub fn report_violations(tables: &Tables, resolution: Resolution, params: &Params) -> Sql {
    let mut filters = params.filters.clone();
    filters.verdict = Some(crate::query::Verdict::Violation);
    per_conversation(
        |c| filtered_source(tables, resolution, params.window, &filters, c),
        &filters,
        None,
        Detail::Keys,
    )
    .wrap(
        "SELECT client_zone, server_zone, severity, count() AS conversations, \
         sum(flows) AS flows, sum(bytes) AS bytes, min(start_ms) AS first_ms, \
         max(end_ms) AS last_ms FROM ",
        " GROUP BY client_zone, server_zone, severity \
          ORDER BY client_zone, server_zone, severity",
    )
}

/// Report: conversations switched inside a host between two zones, read
/// at `resolution`.
pub fn report_intra_host(tables: &Tables, resolution: Resolution, params: &Params) -> Sql {
    let mut filters = params.filters.clone();
    filters.same_host = Some(true);
    per_conversation(
        |c| filtered_source(tables, resolution, params.window, &filters, c),
        &filters,
        None,
        Detail::Full,
    )
    .wrap(
        "SELECT client_host AS host, client_vm, client_zone, server_vm, server_zone, verdict, \
         flows, bytes FROM ",
        " WHERE client_zone != server_zone \
          ORDER BY host, verdict DESC, client_vm, server_vm, server_port",
    )
}

/// Report: per exporter, the sequence gaps and drops counted during the
/// window (counters are cumulative per collector run, so the increase is
/// the last value before `to` minus the last before `from`).
pub fn report_exporter_losses(tables: &Tables, params: &Params) -> Sql {
    let (before_to, before_from, args) = match params.window {
        Some(TimeWindow { from_ms, to_ms }) => (
            "updated < toDateTime(?)",
            "updated < toDateTime(?)",
            vec![
                Arg::U32(secs(to_ms)),
                Arg::U32(secs(from_ms)),
                Arg::U32(secs(to_ms)),
                Arg::U32(secs(from_ms)),
            ],
        ),
        None => ("1", "0", Vec::new()),
    };
    let mut sql = Sql::default();
    sql.clause(
        &format!(
            "SELECT name, exporter, source_id, toInt64(sum(gaps)) AS sequence_gaps, \
             toInt64(sum(lost)) AS drops FROM \
             (SELECT name, exporter, source_id, \
              maxIf(sequence_gaps, {before_to}) - maxIf(sequence_gaps, {before_from}) AS gaps, \
              maxIf(drops, {before_to}) - maxIf(drops, {before_from}) AS lost \
              FROM {} GROUP BY name, exporter, source_id, collector, started) \
             GROUP BY name, exporter, source_id ORDER BY name, exporter, source_id",
            tables.exporters
        ),
        args,
    );
    sql
}

/// Exporters as the flows show them, for when the collector has written
/// no `exporters` snapshot yet: flows decoded and last receipt per
/// (exporter, source id); the other counters are unknown (0).
pub fn exporters_from_flows(tables: &Tables) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT exporter, source_id, any(observer) AS name, max(received) AS last_seen, \
         toUInt64(0) AS packets, count() AS flows, toUInt64(0) AS sequence_gaps, \
         toUInt32(0) AS templates, toUInt64(0) AS drops, '' AS evidence_url FROM {} \
         GROUP BY exporter, source_id ORDER BY name, exporter, source_id",
        tables.flows
    ));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{Format, Verdict};

    fn tables() -> Tables {
        Tables {
            flows: "`db`.`flows`".into(),
            flows_1m: "`db`.`flows_1m`".into(),
            flows_10m: "`db`.`flows_10m`".into(),
            flows_1h: "`db`.`flows_1h`".into(),
            flows_1d: "`db`.`flows_1d`".into(),
            exporters: "`db`.`exporters`".into(),
            datasets: "`db`.`datasets`".into(),
            observed_1m: "`db`.`observed_1m`".into(),
        }
    }

    fn params() -> Params {
        Params {
            window: Some(TimeWindow {
                from_ms: 1_793_577_600_000,
                to_ms: 1_793_664_000_000,
            }),
            filters: Filters {
                dataset: Some("lab".into()),
                vm: Some("x' OR 1=1 --".into()),
                verdict: Some(Verdict::Violation),
                same_host: Some(true),
                port: Some(443),
                ..Filters::default()
            },
            limit: 10,
            offset: 0,
            sort: Sort::default(),
            format: Format::Json,
        }
    }

    fn check(sql: &Sql) {
        assert_eq!(
            sql.text.matches('?').count(),
            sql.args.len(),
            "{}",
            sql.text
        );
        assert!(!sql.text.contains("OR 1=1"), "{}", sql.text);
    }

    #[test]
    fn placeholders_match_arguments_and_values_stay_out() {
        let t = tables();
        let p = params();
        for resolution in [
            Resolution::Raw,
            Resolution::Minute,
            Resolution::TenMinutes,
            Resolution::Hour,
            Resolution::Day,
        ] {
            let page = conversation_page(&t, resolution, &p, &[1, 2, 3]);
            check(&page);
            assert!(page.args.contains(&Arg::Text("x' OR 1=1 --".into())));
            check(&conversation_totals(&t, resolution, &p));
            check(&conversation_keys_and_totals(&t, resolution, &p));
            check(&conversations_in_one(&t, resolution, &p));
            check(&matrix(&t, resolution, &p));
            check(&timeseries(&t, resolution, &p, 3_600_000));
            check(&hour_counts(
                &t,
                TimeWindow {
                    from_ms: 0,
                    to_ms: 3_600_000,
                },
                Some("a'b"),
            ));
            check(&hosts(&t, resolution, &p));
            check(&host_vms(&t, resolution, &p, Some("esx-01")));
            check(&vm_placements(&t, resolution, &p, "a'b"));
        }
        let (page, total) = violations(&t, &p);
        check(&page);
        check(&total);
        let (page, total) = flows(&t, &p);
        check(&page);
        check(&total);
        // The raw listing bounds the sort key's `start`, not only `start_ms`.
        assert!(
            total
                .text
                .contains("start >= toDateTime(?) AND start <= toDateTime(?)"),
            "{}",
            total.text
        );
        assert!(total.args.contains(&Arg::U32(1_793_663_999)));
        check(&exporters(&t));
        check(&report_points(&t, &p));
        for resolution in [
            Resolution::Raw,
            Resolution::Minute,
            Resolution::TenMinutes,
            Resolution::Hour,
            Resolution::Day,
        ] {
            check(&report_violations(&t, resolution, &p));
            check(&report_intra_host(&t, resolution, &p));
            check(&report_vm_hosts(&t, resolution, &p));
        }
        check(&report_exporter_losses(&t, &p));
        // The dates of the window: 2026-11-02 and the day before 2026-11-03.
        let page = conversations_in_one(&t, Resolution::Raw, &p);
        assert_eq!(
            page.args.iter().filter(|a| **a == Arg::U16(20_759)).count(),
            2
        );
    }

    #[test]
    fn the_coarsest_table_that_answers() {
        let w = |from_ms, to_ms| TimeWindow { from_ms, to_ms };
        let (d, h, m) = (86_400_000, 3_600_000, 60_000);
        assert_eq!(Resolution::for_step(0), Resolution::Hour);
        assert_eq!(Resolution::for_step(60_000), Resolution::Minute);
        assert_eq!(Resolution::for_step(300_000), Resolution::Minute);
        assert_eq!(Resolution::for_step(1_800_000), Resolution::TenMinutes);
        assert_eq!(Resolution::for_step(7_200_000), Resolution::Hour);
        assert_eq!(Resolution::for_step(3 * d), Resolution::Day);
        assert_eq!(Resolution::for_step(1_000), Resolution::Raw);
        assert_eq!(Resolution::for_window(None), Resolution::Hour);
        assert_eq!(Resolution::for_window(Some(w(5, 5 + d))), Resolution::Hour);
        assert_eq!(
            Resolution::for_window(Some(w(5, 5 + 7 * d))),
            Resolution::Day
        );
        use Resolution::{Day, Hour, Minute, Raw, TenMinutes};
        assert_eq!(split(w(h, 25 * h), Hour), vec![(Hour, w(h, 25 * h))]);
        // A 24-hour view ending at a minute: edges from flows_10m and
        // flows_1m.
        assert_eq!(
            split(w(h + 5 * m, 25 * h + 5 * m), Hour),
            vec![
                (Minute, w(h + 5 * m, h + 10 * m)),
                (TenMinutes, w(h + 10 * m, 2 * h)),
                (Hour, w(2 * h, 25 * h)),
                (Minute, w(25 * h, 25 * h + 5 * m)),
            ]
        );
        // Unaligned: raw milliseconds at both ends.
        assert_eq!(
            split(w(h + 1, 4 * h - 1), Hour),
            vec![
                (Raw, w(h + 1, h + m)),
                (Minute, w(h + m, h + 10 * m)),
                (TenMinutes, w(h + 10 * m, 2 * h)),
                (Hour, w(2 * h, 3 * h)),
                (TenMinutes, w(3 * h, 3 * h + 50 * m)),
                (Minute, w(3 * h + 50 * m, 4 * h - m)),
                (Raw, w(4 * h - m, 4 * h - 1)),
            ]
        );
        // Too short for a whole hour: ten minutes, minutes and raw only.
        assert_eq!(
            split(w(h + 30 * m, h + 40 * m + 1), Hour),
            vec![
                (TenMinutes, w(h + 30 * m, h + 40 * m)),
                (Raw, w(h + 40 * m, h + 40 * m + 1))
            ]
        );
        assert_eq!(split(w(h + 1, h + 2), Hour), vec![(Raw, w(h + 1, h + 2))]);
        // A week ending at a minute: whole days, hours around them.
        assert_eq!(
            split(w(d + 3 * h, 8 * d + 3 * h + 10 * m), Day),
            vec![
                (Hour, w(d + 3 * h, 2 * d)),
                (Day, w(2 * d, 8 * d)),
                (Hour, w(8 * d, 8 * d + 3 * h)),
                (TenMinutes, w(8 * d + 3 * h, 8 * d + 3 * h + 10 * m)),
            ]
        );
        // The parts tile the window.
        for (from, to) in [
            (1, 10 * h + 7),
            (h, h + 1),
            (59_999, 3 * h + 60_001),
            (7, 9 * d + 5 * h + 3),
        ] {
            let parts = split(w(from, to), Day);
            assert_eq!(parts.first().map(|p| p.1.from_ms), Some(from));
            assert_eq!(parts.last().map(|p| p.1.to_ms), Some(to));
            for pair in parts.windows(2) {
                assert_eq!(pair[0].1.to_ms, pair[1].1.from_ms);
            }
        }
        assert_eq!(Hour.used_for(Some(w(h + 1, 4 * h - 1))), Hour);
        assert_eq!(Hour.used_for(Some(w(h + 1, 3 * h - 1))), TenMinutes);
        assert_eq!(Day.used_for(Some(w(d + 3 * h, 8 * d))), Day);
        assert_eq!(Hour.used_for(Some(w(h + m, h + 3 * m))), Minute);
        assert_eq!(Hour.used_for(Some(w(h + 1, h + 2))), Raw);
        assert_eq!(Minute.used_for(None), Minute);
    }
}
