//! Lists of stored flows (all flows, violations), page by page.

use crate::query::Params;

use super::conversations::TIE_BREAK;
use super::counting::{per_conversation, Detail};
use super::resolution::Resolution;
use super::source::{filtered_source, rows_where};
use super::statement::{Arg, Sql, Tables};

/// Violating conversations, newest first, with their evidence, and their
/// count, read at `resolution`: [`Resolution::Raw`] for the violations
/// list (times to the millisecond, each conversation's policy revision);
/// a rollup's for the compliance report's evidence section, whose cost
/// then follows the conversations, not the flows (times are the bounds of
/// the buckets read, the policy revision empty).
pub fn violations(tables: &Tables, params: &Params, resolution: Resolution) -> (Sql, Sql) {
    let mut filters = params.filters.clone();
    filters.verdict = Some(crate::query::Verdict::Violation);
    let rows = per_conversation(
        |c| filtered_source(tables, resolution, params.window, &filters, c),
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
