//! The conversation list: its totals, the page's keys and the page's
//! conversations described in full.

use crate::query::{Params, Sort};

use super::counting::{addr_key, distinct, keys_to_sort_by, per_conversation, Detail};
use super::resolution::Resolution;
use super::seen::{seen, PAGE_ALIAS};
use super::source::{filtered_source, filtered_source_and, where_filters};
use super::statement::{keys_in, Arg, Sql, Tables};

/// The conversation columns of [`per_conversation`] (what
/// [`crate::model::ConversationRow`] reads) but the first and last seen
/// (`start_ms`, `end_ms`), which come last.
pub(super) const CONV_COLUMNS: &str = "client_vm, client_addr, client_zone, client_host, \
    server_vm, server_addr, server_zone, server_host, proto, server_port, \
    verdict, rule, severity, same_host, observers, flows, packets_fwd, bytes_fwd, \
    packets_rev, bytes_rev, packets, bytes";

/// The order of a page after the requested one: the larger conversation
/// first, then the hash (stable); the same whether the page is read in one
/// statement or by its keys. Bytes are summed for the totals anyway;
/// breaking ties by the VM names would cost [`conversation_keys_and_totals`]
/// two more aggregates per row, about a third of its time on 24 hours of
/// 10M flows.
pub(super) const TIE_BREAK: &str = "bytes DESC, h_conv";

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

/// `ORDER BY` of a page of conversations, with the first and last seen
/// read from `start` and `end`.
pub(super) fn page_order(sort: Sort, start: &str, end: &str) -> String {
    let column = match sort.key.column() {
        "start_ms" => start,
        "end_ms" => end,
        column => column,
    };
    format!(" ORDER BY {column} {}, {TIE_BREAK}", direction(sort))
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
        Detail::Keys(keys_to_sort_by(params.sort.key.column())),
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
pub(super) const DESCRIBED: &[&str] = &[
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
///
/// The window's whole hours are read from `conversations_1h`, sorted by
/// `conv_hash`: the page's keys pick a few granules of each part there
/// instead of every row of the window, which the keys statement has read
/// already. A granule read costs a compressed block of each column, so
/// what a key costs grows with the parts it is in (a few per day): the
/// whole days of a week-long window are read from `flows_1d` by time
/// instead (a few hundred thousand rows for a week of 30,000
/// conversations, about a third of the CPU of reading its hours by key on
/// ClickHouse 18.16). The edges finer than an hour are read by time, as
/// the keys statement read them.
pub fn conversation_page(
    tables: &Tables,
    resolution: Resolution,
    params: &Params,
    keys: &[u64],
) -> Sql {
    let tables = &Tables {
        flows_1h: tables.conversations_1h.clone(),
        ..tables.clone()
    };
    let only = keys_in("conv_hash", keys);
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

/// `text` as a statement part without values.
fn text(text: &str) -> Sql {
    let mut sql = Sql::default();
    sql.push(text);
    sql
}

/// The page of conversations in one statement, every conversation of the
/// window grouped in full (for pages larger than [`MAX_PAGE_KEYS`]; the
/// same rows in the same order as [`conversation_keys_and_totals`] then
/// [`conversation_page`] give).
pub fn conversations_in_one(tables: &Tables, resolution: Resolution, params: &Params) -> Sql {
    let rows = per_conversation(
        |c| filtered_source(tables, resolution, params.window, &params.filters, c),
        &params.filters,
        None,
        Detail::Full,
    );
    // The page's first and last seen, exact where `conversations_seen`
    // answers (see [`super::seen`]): every conversation of the window's
    // whole hours is read there, as the page's keys are not known before.
    let seen = seen(
        tables,
        params.window,
        params.filters.dataset.as_deref(),
        None,
        "h_conv",
        "b_start",
        "b_end",
    );
    let Some(seen) = seen else {
        let mut page = rows.wrap(
            &format!("SELECT {CONV_COLUMNS}, start_ms, end_ms FROM "),
            &format!(
                "{} LIMIT ?, ?",
                page_order(params.sort, "start_ms", "end_ms")
            ),
        );
        page.bind(Arg::U64(params.offset))
            .bind(Arg::U64(params.limit));
        return page;
    };
    let order = page_order(params.sort, "b_start", "b_end");
    let mut page = rows.wrap(
        &format!("SELECT h_conv, {CONV_COLUMNS}, start_ms AS b_start, end_ms AS b_end FROM "),
        &format!("{order} LIMIT ?, ?"),
    );
    page.bind(Arg::U64(params.offset))
        .bind(Arg::U64(params.limit));
    text(&format!("SELECT {CONV_COLUMNS}, "))
        .then(seen.first)
        .then(text(" AS start_ms, "))
        .then(seen.last)
        .then(text(" AS end_ms FROM "))
        .then(page.wrap("", PAGE_ALIAS))
        .then(seen.join)
        .then(text(&order))
}

pub(super) fn direction(sort: Sort) -> &'static str {
    if sort.descending {
        "DESC"
    } else {
        "ASC"
    }
}
