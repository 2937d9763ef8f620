//! The violations list: violating conversations newest first, read at the
//! cost of the page rather than of the window's flows.
//!
//! ClickHouse 18.16 cannot read a table in its sort order to stop at a
//! `LIMIT`, so ordering a window's conversations by last seen reads every
//! flow of it. Instead the store reads the window's newest slice of raw
//! flows ([`newest_in`]) and bounds what the rest of the window could
//! place above them ([`ended_by`]): a conversation last seen in the slice
//! after every flow that started before it is last seen exactly there, and
//! no conversation missing from the slice ranks above it. When the slice
//! holds enough of them for the page, the page's conversations are read in
//! full ([`violations_of`]) from that slice and the rollups for the rest of
//! the window; the count comes from the rollups ([`violation_count`]).

use crate::query::{Params, TimeWindow};
use eastwest_clickhouse::schema::date_of_ms;
use eastwest_core::policy::VerdictKind;

use super::conversations::TIE_BREAK;
use super::counting::{per_conversation, Detail};
use super::resolution::Resolution;
use super::source::{filtered_source, parts_source, pushed_filters, secs};
use super::statement::{keys_in, Arg, Sql, Tables};

/// The end of an all-time window's newest slice (2100-01-01, a date and
/// time every server takes): a window bound no stored flow reaches.
pub const OPEN_END_MS: u64 = 4_102_444_800_000;

const DAY_MS: u64 = 86_400_000;

/// `params` restricted to violations.
fn violating(params: &Params) -> crate::query::Filters {
    let mut filters = params.filters.clone();
    filters.verdict = Some(VerdictKind::Violation);
    filters
}

/// The page of violations of `rows` (one row per conversation in full,
/// [`Detail::Full`]), newest first: the columns of
/// [`crate::model::ViolationRow`].
fn page(rows: Sql, params: &Params) -> Sql {
    let mut page = rows.wrap(
        "SELECT client_vm, client_addr, client_zone, server_vm, server_addr, server_zone, \
         proto, server_port, rule, severity, same_host, policy_revision, \
         start_ms AS first_ms, end_ms AS last_ms, flows, packets, bytes, points, \
         h_conv AS conv_hash FROM ",
        &format!(" ORDER BY last_ms DESC, {TIE_BREAK} LIMIT ?, ?"),
    );
    page.bind(Arg::U64(params.offset))
        .bind(Arg::U64(params.limit));
    page
}

/// Violating conversations, newest first, with their evidence, read at
/// `resolution` over the whole window: [`Resolution::Raw`] for the
/// violations list when the newest slices do not answer it (times to the
/// millisecond, each conversation's policy revision); a rollup's for the
/// compliance report's evidence section, whose cost then follows the
/// conversations, not the flows (times are the bounds of the buckets
/// read, the policy revision empty).
pub fn violations(tables: &Tables, params: &Params, resolution: Resolution) -> Sql {
    let filters = violating(params);
    page(
        per_conversation(
            |c| filtered_source(tables, resolution, params.window, &filters, c),
            &filters,
            None,
            Detail::Full,
        ),
        params,
    )
}

/// How many violating conversations match `params`, read at `resolution`
/// (a conversation is the same at every resolution, so the count is).
pub fn violation_count(tables: &Tables, params: &Params, resolution: Resolution) -> Sql {
    let filters = violating(params);
    per_conversation(
        |c| filtered_source(tables, resolution, params.window, &filters, c),
        &filters,
        None,
        Detail::Counters,
    )
    .wrap("SELECT count() FROM ", "")
}

/// The last end of the flows stored in `dataset` (all datasets: `None`),
/// epoch milliseconds, 0 when there are none: from `datasets`, a row per
/// dataset and day.
pub fn stored_end(tables: &Tables, dataset: Option<&str>) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT maxMerge(last_ms) FROM {} WHERE 1",
        tables.datasets
    ));
    if let Some(dataset) = dataset {
        sql.clause(" AND dataset = ?", [Arg::Text(dataset.to_string())]);
    }
    sql
}

/// At least the last end of every flow (of `dataset`) that started in
/// `[from_ms, before_ms)`, epoch milliseconds (0: none): the days wholly
/// before `before_ms`'s from `datasets`, that day's minutes from
/// `observed_1m` (at most a day of rows per observer, whatever the window
/// and the traffic).
pub fn ended_by(tables: &Tables, from_ms: u64, before_ms: u64, dataset: Option<&str>) -> Sql {
    let day_start = before_ms / DAY_MS * DAY_MS;
    let minutes_from = from_ms.max(day_start);
    let mut sql = Sql::default();
    sql.clause(
        &format!(
            "SELECT greatest((SELECT maxMerge(last_ms) FROM {} \
             WHERE date >= toDate(?) AND date < toDate(?)",
            tables.datasets
        ),
        [
            Arg::U16(date_of_ms(from_ms)),
            Arg::U16(date_of_ms(day_start)),
        ],
    );
    let in_dataset = |sql: &mut Sql| {
        if let Some(dataset) = dataset {
            sql.clause(" AND dataset = ?", [Arg::Text(dataset.to_string())]);
        }
    };
    in_dataset(&mut sql);
    sql.clause(
        &format!(
            "), (SELECT maxMerge(last_ms) FROM {} \
             WHERE bucket >= toDateTime(?) AND bucket < toDateTime(?) \
             AND date >= toDate(?) AND date <= toDate(?)",
            tables.observed_1m
        ),
        [
            Arg::U32(secs(minutes_from)),
            Arg::U32(secs(before_ms)),
            Arg::U16(date_of_ms(minutes_from)),
            Arg::U16(date_of_ms(before_ms.saturating_sub(1))),
        ],
    );
    in_dataset(&mut sql);
    sql.push("))");
    sql
}

/// The violating conversations matching `params` with a flow in `slice`
/// (raw flows), newest first by their last seen there: `(h_conv,
/// end_ms)` rows, at most `at_most`.
pub fn newest_in(tables: &Tables, params: &Params, slice: TimeWindow, at_most: u64) -> Sql {
    let filters = violating(params);
    let pushed = pushed_filters(&filters, Sql::default());
    let mut sql = per_conversation(
        |c| {
            parts_source(
                tables,
                &[(Resolution::Raw, slice)],
                filters.dataset.as_deref(),
                &pushed,
                c,
            )
        },
        &filters,
        None,
        Detail::Keys(&["end_ms"]),
    )
    .wrap("SELECT h_conv, end_ms FROM ", "");
    sql.clause(" ORDER BY end_ms DESC, h_conv LIMIT ?", [Arg::U64(at_most)]);
    sql
}

/// The page of violations `params` asks for among the conversations
/// `keys`, each in full over `parts` (the window cut into the tables
/// that answer it: its newest slice from raw flows, the rest from the
/// rollups), newest first.
pub fn violations_of(
    tables: &Tables,
    params: &Params,
    parts: &[(Resolution, TimeWindow)],
    keys: &[u64],
) -> Sql {
    let filters = violating(params);
    let pushed = pushed_filters(&filters, keys_in("conv_hash", keys));
    page(
        per_conversation(
            |c| parts_source(tables, parts, filters.dataset.as_deref(), &pushed, c),
            &filters,
            None,
            Detail::Full,
        ),
        params,
    )
}
