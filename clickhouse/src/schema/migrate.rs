//! The migrations: the statements that bring a database of any earlier
//! schema to the current one, and [`migrate()`], which runs them.

use super::*;

pub(super) fn column_ddl(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| {
            let default = if c.name == "reply" {
                format!(" DEFAULT {REPLY_DEFAULT}")
            } else {
                String::new()
            };
            format!("    {} {}{default}", quote_ident(c.name), c.ch_type)
        })
        .collect::<Vec<_>>()
        .join(",\n")
}

pub(super) fn names(columns: impl IntoIterator<Item = &'static str>) -> String {
    columns
        .into_iter()
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statements that bring the layout's database to the current schema.
/// Each is idempotent (`IF NOT EXISTS`, or guarded by its check), so running
/// them at every start-up is safe; [`migrate()`] runs them.
///
/// From the previous schema (`flows` without `reply`, no rollups, no
/// `exporters`): `reply` is added with [`REPLY_DEFAULT`], so old rows get
/// the same orientation as new ones, and each rollup is backfilled from the
/// `flows` already stored (days it does not hold yet) before its view is
/// created, so the rollups cover the old rows too.
pub fn migrations(layout: &Layout) -> Vec<Step> {
    let db = quote_ident(&layout.database);
    let on = layout.on_cluster();
    let mut steps = vec![Step::always(format!(
        "CREATE DATABASE IF NOT EXISTS {db}{on}"
    ))];
    let distributed = |name: &str, columns: &[Column], sharding: &str| {
        distributed_step(layout, name, columns, sharding)
    };
    let column_exists = |table: &str, column: &str| {
        format!(
            "SELECT count() FROM system.columns WHERE database = {} AND table = {} AND name = {}",
            quote_str(&layout.database),
            quote_str(table),
            quote_str(column)
        )
    };
    let table_exists = |table: &str| {
        format!(
            "SELECT count() FROM system.tables WHERE database = {} AND name = {}",
            quote_str(&layout.database),
            quote_str(table)
        )
    };

    // flows
    steps.push(Step::always(flows_create(
        layout,
        &layout.storage(FLOWS_TABLE),
    )));
    steps.extend(distributed(FLOWS_TABLE, FLOWS_COLUMNS, "rand()"));
    let mut flows_tables = vec![layout.storage_name(FLOWS_TABLE)];
    if layout.cluster.is_some() {
        flows_tables.push(FLOWS_TABLE.to_string());
    }
    for table in &flows_tables {
        steps.push(Step {
            check: Some(column_exists(table, "reply")),
            statement: format!(
                "ALTER TABLE {}{on} ADD COLUMN `reply` UInt8 DEFAULT {REPLY_DEFAULT} AFTER `same_host`",
                layout.table(table)
            ),
        });
    }

    // rollups
    let rollup_columns: Vec<Column> = ROLLUP_COLUMNS.iter().map(|c| c.column).collect();
    let rollup_ddl = column_ddl(&rollup_columns) + &derived_ddl();
    let rollup_names = names(
        ROLLUP_COLUMNS
            .iter()
            .map(|c| c.column.name)
            .chain(ROLLUP_DERIVED.iter().map(|d| d.column.name)),
    );
    for rollup in &ROLLUPS {
        steps.push(Step::always(rollup_create(
            layout,
            &layout.storage(rollup.table),
        )));
        steps.extend(distributed_step_ddl(
            layout,
            rollup.table,
            &rollup_ddl,
            "rand()",
        ));
        // Backfill from the rows stored before the view existed; days the
        // rollup already holds (an interrupted earlier run) are skipped.
        // Run once ON CLUSTER, it reads and writes through the Distributed
        // tables; run per node, each node backfills its own shard from its
        // local tables (the other shards may not have theirs yet).
        let (target, source, global) = match &layout.cluster {
            Some(_) if layout.on_cluster_ddl => (
                layout.table(rollup.table),
                layout.table(FLOWS_TABLE),
                "GLOBAL ",
            ),
            _ => (
                layout.storage(rollup.table),
                layout.storage(FLOWS_TABLE),
                "",
            ),
        };
        let filter = format!(" WHERE date {global}NOT IN (SELECT date FROM {target})");
        let select = match rollup.finer {
            None => rollup_select(rollup, &source, &filter),
            Some(finer) => {
                let finer = match &layout.cluster {
                    Some(_) if layout.on_cluster_ddl => layout.table(finer),
                    _ => layout.storage(finer),
                };
                rollup_from_finer_select(rollup, &finer, &filter)
            }
        };
        steps.push(Step {
            check: Some(table_exists(rollup.view)),
            statement: format!("INSERT INTO {target} ({rollup_names}) {select}"),
        });
        let create_view = Step::always(rollup_view(layout, rollup));
        steps.push(create_view.clone());
        // From a schema without the derived columns: the old view cannot
        // write to the table once they exist (18.16 wants every column of
        // the target from a view), so it is dropped first, the columns are
        // added (rows already stored compute them on read from their
        // DEFAULT) and the view is created again with them. Inserts into
        // `flows` in the moment between the drop and the create would miss
        // the rollups: upgrade with the collectors stopped (their own
        // start-up runs this before they receive anything).
        let storage = layout.storage_name(rollup.table);
        let first = ROLLUP_DERIVED[0].column.name;
        steps.push(Step {
            check: Some(column_exists(&storage, first)),
            statement: format!("DROP TABLE IF EXISTS {}{on}", layout.table(rollup.view)),
        });
        let mut tables = vec![storage];
        if layout.cluster.is_some() {
            tables.push(rollup.table.to_string());
        }
        for table in &tables {
            for d in ROLLUP_DERIVED {
                steps.push(Step {
                    check: Some(column_exists(table, d.column.name)),
                    statement: format!(
                        "ALTER TABLE {}{on} ADD COLUMN {} {} DEFAULT {}",
                        layout.table(table),
                        quote_ident(d.column.name),
                        d.column.ch_type,
                        d.expr
                    ),
                });
            }
        }
        steps.push(create_view);
    }

    steps.extend(repartition_steps(layout));
    steps.extend(underlay_point_steps(layout));
    steps.extend(ROLLUPS.iter().map(|r| Step::always(rollup_view(layout, r))));
    steps.extend(conversations_1h_steps(layout));
    steps.extend(PLACEMENTS.iter().flat_map(|p| placements_steps(layout, p)));
    steps.extend(summary_steps(
        layout,
        DATASETS_TABLE,
        DATASETS_VIEW,
        DATASETS_COLUMNS,
        "(dataset, date)",
        "SELECT date, dataset, countState() AS flows, minState(start_ms) AS first_ms, \
         maxState(end_ms) AS last_ms, minState(received) AS stored_first, \
         maxState(received) AS stored_last FROM {from} GROUP BY date, dataset",
    ));
    steps.extend(summary_steps(
        layout,
        OBSERVED_1M_TABLE,
        OBSERVED_1M_VIEW,
        OBSERVED_1M_COLUMNS,
        "(dataset, bucket, observer, policy_revision)",
        "SELECT date, toStartOfMinute(start) AS bucket, dataset, observer, policy_revision, \
         countState() AS flows, minState(start_ms) AS first_ms, maxState(end_ms) AS last_ms \
         FROM {from} GROUP BY date, bucket, dataset, observer, policy_revision",
    ));
    // A page's conversations are looked up by `conv_hash`: small granules,
    // so each key reads a few rows of each part it is in, not 8,192.
    steps.extend(summary_steps(
        layout,
        CONVERSATIONS_SEEN_TABLE,
        CONVERSATIONS_SEEN_VIEW,
        CONVERSATIONS_SEEN_COLUMNS,
        &conversations_seen_order(),
        &conversations_seen_select(),
    ));
    steps.extend(regranulate_steps(layout));

    steps.extend(summary_steps(
        layout,
        FLOW_EXPORTERS_TABLE,
        FLOW_EXPORTERS_VIEW,
        FLOW_EXPORTERS_COLUMNS,
        "(dataset, exporter, source_id, observer)",
        "SELECT date, dataset, exporter, source_id, observer, countState() AS flows, \
         maxState(received) AS last_received FROM {from} \
         GROUP BY date, dataset, exporter, source_id, observer",
    ));

    // exporters
    steps.push(Step::always(format!(
        "CREATE TABLE IF NOT EXISTS {table}{on} (\n{cols}\n) ENGINE = ReplacingMergeTree(updated) \
         ORDER BY (exporter, source_id, collector)",
        table = layout.storage(EXPORTERS_TABLE),
        cols = column_ddl(EXPORTERS_COLUMNS),
    )));
    steps.extend(distributed(
        EXPORTERS_TABLE,
        EXPORTERS_COLUMNS,
        "cityHash64(exporter, source_id)",
    ));
    // Columns added after the table's first version (main at ed0beda).
    let mut exporters_tables = vec![layout.storage_name(EXPORTERS_TABLE)];
    if layout.cluster.is_some() {
        exporters_tables.push(EXPORTERS_TABLE.to_string());
    }
    for table in &exporters_tables {
        let mut after = "drops";
        for column in EXPORTERS_COLUMNS.iter().skip_while(|c| c.name != "version") {
            steps.push(Step {
                check: Some(column_exists(table, column.name)),
                statement: format!(
                    "ALTER TABLE {}{on} ADD COLUMN {} {} AFTER {}",
                    layout.table(table),
                    quote_ident(column.name),
                    column.ch_type,
                    quote_ident(after)
                ),
            });
            after = column.name;
        }
    }
    steps.extend(inventory_events_migrations(layout));
    steps.extend(series_buckets_migrations(layout));
    steps
}

/// What marks a `point_hash` or `point_rank` expression (a column's
/// `DEFAULT`, a view's query) as current: both once treated each direction
/// of an underlay as an observation point of its own (`point_hash` hashed
/// the observer, `point_rank` ranked the request at the client's host 4 and
/// the reply at the server's 2, and earlier still gave the NVGRE and
/// routed-GRE underlays a port mirror's +1); both now test the capture path
/// first.
pub(super) const UNDERLAY_POINT_MARK: &str = "if(encap IN";

/// From a schema whose `point_hash` and `point_rank` made each direction of
/// an underlay an observation point of its own (so the dashboard, counting
/// a conversation at its best-ranked point, dropped the replies of a
/// conversation seen only on an underlay): each rollup's view (which
/// computes them) is dropped and made again by the steps after these, the
/// rows already stored with an underlay's capture path get both columns
/// again (an `ALTER ... UPDATE` mutation, which the server applies in the
/// background: until it has, the dashboard may count such a conversation
/// as before), and the columns' `DEFAULT`s take the current expressions.
/// Each step is guarded by the current expression being in place, so none
/// runs twice; rows of other capture paths keep their values, which the
/// current expressions give too.
pub(super) fn underlay_point_steps(layout: &Layout) -> Vec<Step> {
    let on = layout.on_cluster();
    let mark = quote_str(&format!("%{UNDERLAY_POINT_MARK}%"));
    // 1 when `table`'s `column` has the current DEFAULT.
    let current = |table: &str, column: &DerivedColumn| {
        format!(
            "SELECT count() FROM system.columns WHERE database = {} AND table = {} \
             AND name = {} AND default_expression LIKE {mark}",
            quote_str(&layout.database),
            quote_str(table),
            quote_str(column.column.name),
        )
    };
    // The mutation computes `conv_hash` from its own expression: rows
    // stored before the column existed hold no value of it.
    let hash = POINT_HASH
        .expr
        .replacen("conv_hash", &format!("({})", CONV_HASH.expr), 1);
    let mut steps = Vec::new();
    for rollup in &ROLLUPS {
        let storage = layout.storage_name(rollup.table);
        // A view that does not exist (yet) is "current": nothing to drop.
        steps.push(Step {
            check: Some(format!(
                "SELECT toUInt64(count() = 0) FROM system.tables WHERE database = {} \
                 AND name = {} AND create_table_query NOT LIKE {mark}",
                quote_str(&layout.database),
                quote_str(rollup.view),
            )),
            statement: format!("DROP TABLE IF EXISTS {}{on}", layout.table(rollup.view)),
        });
        // A mutation rewrites every part of the table on 18.16: only when
        // there are rows to fix. `point_rank`'s DEFAULT is modified last.
        steps.push(Step {
            check: Some(format!(
                "SELECT ({}) + toUInt64((SELECT count() FROM {} WHERE encap IN {UNDERLAYS}) = 0)",
                current(&storage, &POINT_RANK),
                layout.table(&storage),
            )),
            statement: format!(
                "ALTER TABLE {}{on} UPDATE {} = {hash}, {} = {} WHERE encap IN {UNDERLAYS}",
                layout.table(&storage),
                quote_ident(POINT_HASH.column.name),
                quote_ident(POINT_RANK.column.name),
                POINT_RANK.expr
            ),
        });
        let mut tables = vec![storage];
        if layout.cluster.is_some() {
            tables.push(rollup.table.to_string());
        }
        for table in &tables {
            for column in [POINT_HASH, POINT_RANK] {
                steps.push(Step {
                    check: Some(current(table, &column)),
                    statement: format!(
                        "ALTER TABLE {}{on} MODIFY COLUMN {} {} DEFAULT {}",
                        layout.table(table),
                        quote_ident(column.column.name),
                        column.column.ch_type,
                        column.expr
                    ),
                });
            }
        }
    }
    steps
}

/// `CREATE TABLE IF NOT EXISTS` of `flows` as `table` (a quoted name).
pub(super) fn flows_create(layout: &Layout, table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table}{on} (\n{cols}\n) ENGINE = MergeTree() \
         PARTITION BY {PARTITION_KEY} ORDER BY (dataset, start, src_vm, dst_vm)",
        on = layout.on_cluster(),
        cols = column_ddl(FLOWS_COLUMNS),
    )
}

/// An AggregatingMergeTree summing up `flows` (`datasets`, `observed_1m`,
/// `conversations_seen`, `flow_exporters`): the table, ordered by `order_by` (the sort key
/// in parentheses, and any `SETTINGS`), and its view
/// (`select`, with `{from}` for the table read), backfilled from the `flows`
/// stored before the view existed.
pub(super) fn summary_steps(
    layout: &Layout,
    table: &str,
    view: &str,
    columns: &[Column],
    order_by: &str,
    select: &str,
) -> Vec<Step> {
    let mut steps = vec![Step::always(summary_create(
        layout,
        &layout.storage(table),
        columns,
        order_by,
    ))];
    steps.extend(distributed_step_ddl(
        layout,
        table,
        &column_ddl(columns),
        "rand()",
    ));
    let names = names(columns.iter().map(|c| c.name));
    steps.push(Step {
        check: Some(format!(
            "SELECT count() FROM system.tables WHERE database = {} AND name = {}",
            quote_str(&layout.database),
            quote_str(view)
        )),
        statement: format!(
            "INSERT INTO {} ({names}) {}",
            layout.storage(table),
            select.replace("{from}", &layout.storage(FLOWS_TABLE))
        ),
    });
    steps.push(Step::always(summary_view(layout, table, view, select)));
    steps
}

/// `CREATE TABLE IF NOT EXISTS` of a summary table as `target` (a quoted
/// name): an AggregatingMergeTree of `columns` sorted by `order_by`.
pub(super) fn summary_create(
    layout: &Layout,
    target: &str,
    columns: &[Column],
    order_by: &str,
) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {target}{on} (\n{cols}\n) ENGINE = AggregatingMergeTree() \
         PARTITION BY {PARTITION_KEY} ORDER BY {order_by}",
        on = layout.on_cluster(),
        cols = column_ddl(columns),
    )
}

/// `CREATE MATERIALIZED VIEW IF NOT EXISTS` of the view that feeds the
/// summary `table` with `select` (reading `{from}`) from `flows`.
pub(super) fn summary_view(layout: &Layout, table: &str, view: &str, select: &str) -> String {
    format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {view}{on} TO {target} AS {select}",
        view = layout.table(view),
        on = layout.on_cluster(),
        target = layout.storage(table),
        select = select.replace("{from}", &layout.storage(FLOWS_TABLE)),
    )
}

/// The sort key (and granule) of [`CONVERSATIONS_SEEN_TABLE`].
fn conversations_seen_order() -> String {
    format!("(dataset, conv_hash, bucket) SETTINGS index_granularity = {BY_KEY_GRANULE}")
}

/// From a schema whose `conversations_1h` and `conversations_seen` had
/// 256-row granules (and `conversations_1h` its whole sort key as primary
/// index): each is copied into a table of the current definition
/// ([`BY_KEY_GRANULE`]) that then takes its name (one `RENAME`), the old
/// one is dropped, and its view, dropped first, is made again. Guarded
/// like [`repartition_steps`] by "this table already has the current
/// granule", so an interrupted upgrade copies again at the next start-up;
/// it copies the two tables' rows once (a fraction of `flows_1h`'s size
/// each).
pub(super) fn regranulate_steps(layout: &Layout) -> Vec<Step> {
    let conversations_1h = &CONVERSATIONS_1H;
    let mut steps = regranulate(
        layout,
        conversations_1h.table,
        conversations_1h.view,
        |copy| conversations_1h_create(layout, copy),
        ROLLUP_COLUMNS
            .iter()
            .map(|c| c.column.name)
            .chain(ROLLUP_DERIVED.iter().map(|d| d.column.name)),
    );
    steps.push(Step::always(rollup_view(layout, conversations_1h)));
    steps.extend(regranulate(
        layout,
        CONVERSATIONS_SEEN_TABLE,
        CONVERSATIONS_SEEN_VIEW,
        |copy| {
            summary_create(
                layout,
                copy,
                CONVERSATIONS_SEEN_COLUMNS,
                &conversations_seen_order(),
            )
        },
        CONVERSATIONS_SEEN_COLUMNS.iter().map(|c| c.name),
    ));
    steps.push(Step::always(summary_view(
        layout,
        CONVERSATIONS_SEEN_TABLE,
        CONVERSATIONS_SEEN_VIEW,
        &conversations_seen_select(),
    )));
    steps
}

/// [`regranulate_steps`] for one table: `view` dropped, the table's
/// `columns` copied into `create(copy)`, which then takes its name; the
/// caller makes the view again.
fn regranulate(
    layout: &Layout,
    table: &str,
    view: &str,
    create: impl Fn(&str) -> String,
    columns: impl IntoIterator<Item = &'static str>,
) -> Vec<Step> {
    let on = layout.on_cluster();
    let name = layout.storage_name(table);
    let check = format!(
        "SELECT toUInt64(count() = 0) FROM system.tables WHERE database = {} \
         AND name = {} AND engine_full NOT LIKE {}",
        quote_str(&layout.database),
        quote_str(&name),
        quote_str(&format!("%index_granularity = {BY_KEY_GRANULE}%"))
    );
    let columns = names(columns);
    let table = layout.table(&name);
    let copy = layout.table(&format!("{name}__regranulate"));
    let old = layout.table(&format!("{name}__old"));
    let mut steps: Vec<Step> = [
        format!("DROP TABLE IF EXISTS {}{on}", layout.table(view)),
        format!("DROP TABLE IF EXISTS {copy}{on}"),
        create(&copy),
        format!("INSERT INTO {copy} ({columns}) SELECT {columns} FROM {table}"),
        format!("RENAME TABLE {table} TO {old}, {copy} TO {table}{on}"),
    ]
    .into_iter()
    .map(|statement| Step {
        check: Some(check.clone()),
        statement,
    })
    .collect();
    steps.push(Step::always(format!("DROP TABLE IF EXISTS {old}{on}")));
    steps
}

/// From a schema whose tables were partitioned by `date` alone (before
/// datasets had partitions of their own): each of `flows` and the rollups
/// is copied into a table partitioned by [`PARTITION_KEY`] that then takes
/// its name (one `RENAME` of both), and the old table is dropped. The
/// rollups' views are dropped first (they read `flows` and write the
/// rollups) and made again by the steps after these. Every step is guarded
/// by "this table is already partitioned so", so an interrupted upgrade
/// starts its copy again at the next start-up; the upgrade copies every
/// stored row once (time and disk space in proportion: plan for it on a
/// large database) and, like every upgrade, runs with the collectors
/// stopped (their own start-up runs it before they receive anything).
pub(super) fn repartition_steps(layout: &Layout) -> Vec<Step> {
    let on = layout.on_cluster();
    let old_tables = |tables: &[String]| {
        format!(
            "SELECT toUInt64(count() = 0) FROM system.tables WHERE database = {} \
             AND name IN ({}) AND partition_key = 'date'",
            quote_str(&layout.database),
            tables
                .iter()
                .map(|t| quote_str(t))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    type Create = fn(&Layout, &str) -> String;
    let tables: Vec<(String, Create, Vec<&str>)> = std::iter::once((
        layout.storage_name(FLOWS_TABLE),
        flows_create as Create,
        FLOWS_COLUMNS.iter().map(|c| c.name).collect(),
    ))
    .chain(ROLLUPS.iter().map(|rollup| {
        (
            layout.storage_name(rollup.table),
            rollup_create as Create,
            ROLLUP_COLUMNS
                .iter()
                .map(|c| c.column.name)
                .chain(ROLLUP_DERIVED.iter().map(|d| d.column.name))
                .collect(),
        )
    }))
    .collect();
    let all: Vec<String> = tables.iter().map(|(name, _, _)| name.clone()).collect();
    let mut steps: Vec<Step> = ROLLUPS
        .iter()
        .map(|rollup| Step {
            check: Some(old_tables(&all)),
            statement: format!("DROP TABLE IF EXISTS {}{on}", layout.table(rollup.view)),
        })
        .collect();
    for (name, create, columns) in &tables {
        let check = old_tables(std::slice::from_ref(name));
        let table = layout.table(name);
        let copy = layout.table(&format!("{name}__repartition"));
        let old = layout.table(&format!("{name}__old"));
        let columns = names(columns.iter().copied());
        for statement in [
            format!("DROP TABLE IF EXISTS {copy}{on}"),
            create(layout, &copy),
            format!("INSERT INTO {copy} ({columns}) SELECT {columns} FROM {table}"),
            format!("RENAME TABLE {table} TO {old}, {copy} TO {table}{on}"),
        ] {
            steps.push(Step {
                check: Some(check.clone()),
                statement,
            });
        }
        steps.push(Step::always(format!("DROP TABLE IF EXISTS {old}{on}")));
    }
    steps
}

/// Why a migration failed.
#[derive(Debug, thiserror::Error)]
#[error("{statement}: {source}")]
pub struct MigrateError {
    pub statement: String,
    pub source: clickhouse::error::Error,
}

/// Run [`migrations`] on `client` (already adapted to the server version,
/// without a database set): each check, and each statement whose check
/// answered 0.
pub async fn migrate(client: &clickhouse::Client, layout: &Layout) -> Result<(), MigrateError> {
    for step in migrations(layout) {
        if let Some(check) = &step.check {
            let found: u64 =
                client
                    .query(check)
                    .fetch_one()
                    .await
                    .map_err(|source| MigrateError {
                        statement: check.clone(),
                        source,
                    })?;
            if found > 0 {
                continue;
            }
        }
        client
            .query(&step.statement)
            .execute()
            .await
            .map_err(|source| MigrateError {
                statement: first_line(&step.statement),
                source,
            })?;
    }
    Ok(())
}

pub(super) fn first_line(statement: &str) -> String {
    statement.lines().next().unwrap_or_default().to_string()
}
