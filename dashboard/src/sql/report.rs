//! The compliance report's statements.

use crate::query::{Params, TimeWindow};

use super::counting::{per_conversation, Detail};
use super::resolution::{split, Resolution};
use super::source::{filtered_source, placements_source, rows_where, secs};
use super::statement::{Arg, Sql, Tables};

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
/// with VMs but no observation is uncovered), from the placements at
/// `resolution` (`placements_source`).
pub fn report_vm_hosts(tables: &Tables, resolution: Resolution, params: &Params) -> Sql {
    placements_source(tables, resolution, params, None).wrap(
        "SELECT DISTINCT host FROM ",
        " WHERE host != '' ORDER BY host",
    )
}

/// Report: violating conversations by zone pair and severity, read at
/// `resolution` (counts exact; first and last seen are bucket bounds).
pub fn report_violations(tables: &Tables, resolution: Resolution, params: &Params) -> Sql {
    let mut filters = params.filters.clone();
    filters.verdict = Some(eastwest_core::policy::VerdictKind::Violation);
    per_conversation(
        |c| filtered_source(tables, resolution, params.window, &filters, c),
        &filters,
        None,
        Detail::Keys(&[
            "client_zone",
            "server_zone",
            "severity",
            "start_ms",
            "end_ms",
        ]),
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
