//! What is where: datasets and their time span, hosts and their VMs, where a
//! VM ran, exporters.

use crate::query::Params;

use super::counting::{per_conversation, Detail};
use super::resolution::Resolution;
use super::source::{filtered_source, placements_source};
use super::statement::{Arg, Sql, Tables};

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

/// Where a VM ran (host, first, last) and in which zones, from its flows.
pub fn vm_placements(tables: &Tables, resolution: Resolution, params: &Params, vm: &str) -> Sql {
    placements_source(tables, resolution, params, Some(vm)).wrap(
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
        Detail::Hosts,
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

/// Per host, the VMs seen running on it (`host` = one host only), from
/// the placement tables (`placements_source`).
pub fn host_vms(
    tables: &Tables,
    resolution: Resolution,
    params: &Params,
    host: Option<&str>,
) -> Sql {
    let mut sql = placements_source(tables, resolution, params, None).wrap(
        "SELECT host, arraySort(groupUniqArray(vm)) AS vms FROM ",
        " WHERE host != '' AND vm != ''",
    );
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

/// Exporters as the flows show them, for when the collector has written
/// no `exporters` snapshot yet: flows stored and last receipt per
/// (exporter, source id), from `flow_exporters` (a row per observation
/// domain and day, not per flow); the other counters are unknown (0).
/// An exporter's name is the observer it sent the newest flow for (ties:
/// the greatest name), so the answer does not depend on how parts merged.
pub fn exporters_from_flows(tables: &Tables) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT exporter, source_id, argMax(observer, (last, observer)) AS name, \
         max(last) AS last_seen, toUInt64(0) AS packets, sum(n) AS flows, \
         toUInt64(0) AS sequence_gaps, toUInt32(0) AS templates, toUInt64(0) AS drops, \
         '' AS evidence_url FROM (SELECT exporter, source_id, observer, \
         maxMerge(last_received) AS last, countMerge(flows) AS n FROM {} \
         GROUP BY exporter, source_id, observer) \
         GROUP BY exporter, source_id ORDER BY name, exporter, source_id",
        tables.flow_exporters
    ));
    sql
}
