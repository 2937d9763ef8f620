//! The stored flow records, page by page.

use crate::query::Params;

use super::resolution::Resolution;
use super::source::rows_where;
use super::statement::{Arg, Sql, Tables};

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
