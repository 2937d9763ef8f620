//! The SQL of every API query, built from checked [`Params`](crate::query::Params) as text plus
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

mod conversations;
mod counting;
mod flows;
mod inventory;
mod matrix;
mod report;
mod resolution;
mod seen;
mod series;
mod source;
mod statement;
#[cfg(test)]
mod tests;
mod violations;

pub use conversations::{
    conversation_keys_and_totals, conversation_page, conversation_totals, conversations_in_one,
    MAX_PAGE_KEYS,
};
pub use flows::flows;
pub use inventory::{
    datasets, exporters, exporters_from_flows, host_vms, hosts, time_span, vm_placements,
};
pub use matrix::matrix;
pub use report::{
    report_exporter_losses, report_intra_host, report_points, report_violations, report_vm_hosts,
};
pub use resolution::{split, Resolution, DAY_WINDOW_MS};
pub use seen::{seen_lookup, seen_times};
pub use series::{bucket_counts, sealed_buckets, sealed_index, timeseries};
pub use source::rows_in;
pub use statement::{Arg, Sql, Tables};
pub use violations::{
    ended_by, newest_in, stored_end, violation_count, violations, violations_of, OPEN_END_MS,
};
