//! The zone matrix: conversations and bytes per (client zone, server zone).

use crate::query::Params;

use super::counting::{per_conversation, Detail};
use super::resolution::Resolution;
use super::source::filtered_source;
use super::statement::{Sql, Tables};

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
