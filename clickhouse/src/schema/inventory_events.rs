//! `inventory_events` (owned by the policy area; see core/src/inventory.rs).

use super::*;

/// Changes posted to the dashboard (`POST /api/v1/inventory/events`); the
/// collector polls the table and applies them over the inventory file.
pub const INVENTORY_EVENTS_TABLE: &str = "inventory_events";

/// Columns of `inventory_events`, in the order of [`InventoryEventRow`].
pub const INVENTORY_EVENTS_COLUMNS: &[Column] = &[
    col(
        "received",
        "DateTime",
        "when the dashboard stored the event",
    ),
    col(
        "received_ms",
        "UInt64",
        "the same in epoch milliseconds; with `time_ms` orders the events",
    ),
    col(
        "time_ms",
        "UInt64",
        "when the change took effect (the event's `time`), epoch milliseconds",
    ),
    col("vm", "String", "the VM the event is about"),
    col(
        "event",
        "String",
        "the event as posted, JSON of `core::inventory::InventoryEvent`",
    ),
];

/// One row of `inventory_events`.
#[derive(
    Default, Debug, Clone, PartialEq, Eq, clickhouse::Row, serde::Serialize, serde::Deserialize,
)]

pub struct InventoryEventRow {
    pub received: u32,
    pub received_ms: u64,
    pub time_ms: u64,
    pub vm: String,
    pub event: String,
}

/// The idempotent DDL of `inventory_events` (part of [`migrations`]).
pub(super) fn inventory_events_migrations(layout: &Layout) -> Vec<Step> {
    let mut steps = vec![Step::always(format!(
        "CREATE TABLE IF NOT EXISTS {table}{on} (\n{cols}\n) ENGINE = MergeTree() \
         ORDER BY (time_ms, received_ms)",
        table = layout.storage(INVENTORY_EVENTS_TABLE),
        on = layout.on_cluster(),
        cols = column_ddl(INVENTORY_EVENTS_COLUMNS),
    ))];
    steps.extend(distributed_step(
        layout,
        INVENTORY_EVENTS_TABLE,
        INVENTORY_EVENTS_COLUMNS,
        "rand()",
    ));
    steps
}
