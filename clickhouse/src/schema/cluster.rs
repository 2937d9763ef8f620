//! Where the schema lives ([`Layout`]: one server or every shard of a
//! cluster) and the migration step ([`Step`]) the DDL is made of.

use super::*;

/// Where the schema lives: a database on one server, or on every shard of
/// a ClickHouse cluster (`cluster`, as named in the servers'
/// `remote_servers`). With a cluster, each table `T` is stored in `T_local`
/// on every shard (created `ON CLUSTER`) and `T` is a `Distributed` table
/// over them, so readers and writers use the same names either way.
///
/// The DDL is issued either once `ON CLUSTER` (the server's distributed DDL
/// queue, which needs ZooKeeper on ClickHouse 18.16) or, with
/// `on_cluster_ddl` false, without it, to every node in turn (the caller
/// runs [`migrate()`] once per node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub database: String,
    pub cluster: Option<String>,
    pub on_cluster_ddl: bool,
}

impl Layout {
    /// One server, one database.
    pub fn single(database: &str) -> Layout {
        Layout {
            database: database.to_string(),
            cluster: None,
            on_cluster_ddl: false,
        }
    }

    /// Every shard of `cluster`, the DDL run on each node in turn (no
    /// `ON CLUSTER`, so no ZooKeeper needed).
    pub fn cluster_per_node(database: &str, cluster: &str) -> Layout {
        Layout {
            database: database.to_string(),
            cluster: Some(cluster.to_string()),
            on_cluster_ddl: false,
        }
    }

    /// `db`.`name` of the table readers and writers use.
    pub fn table(&self, name: &str) -> String {
        format!("{}.{}", quote_ident(&self.database), quote_ident(name))
    }

    /// The table holding the rows on this server (`T_local` in a cluster).
    pub(super) fn storage_name(&self, name: &str) -> String {
        match self.cluster {
            Some(_) => format!("{name}_local"),
            None => name.to_string(),
        }
    }

    pub(super) fn storage(&self, name: &str) -> String {
        self.table(&self.storage_name(name))
    }

    /// ` ON CLUSTER c`, or nothing (one server, or DDL run per node).
    pub(super) fn on_cluster(&self) -> String {
        match &self.cluster {
            Some(cluster) if self.on_cluster_ddl => {
                format!(" ON CLUSTER {}", quote_ident(cluster))
            }
            _ => String::new(),
        }
    }

    /// The tables that hold rows partitioned by [`PARTITION_KEY`] on each
    /// server, for retention and the deletion of a dataset: `flows`, the
    /// rollups, `conversations_1h`, the placements, `datasets`, `observed_1m`,
    /// `conversations_seen`, `flow_exporters` and `series_buckets`.
    pub fn partitioned_tables(&self) -> Vec<(&'static str, String)> {
        std::iter::once(FLOWS_TABLE)
            .chain(ROLLUPS.iter().map(|r| r.table))
            .chain([CONVERSATIONS_1H.table])
            .chain(PLACEMENTS.iter().map(|p| p.table))
            .chain([
                DATASETS_TABLE,
                OBSERVED_1M_TABLE,
                CONVERSATIONS_SEEN_TABLE,
                FLOW_EXPORTERS_TABLE,
                SERIES_BUCKETS_TABLE,
            ])
            .map(|name| (name, self.storage_name(name)))
            .collect()
    }
}

/// One migration step: a statement, run only when `check` (a query
/// answering one `UInt64`) answers 0, or always when there is no check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub check: Option<String>,
    pub statement: String,
}

impl Step {
    pub(super) fn always(statement: String) -> Step {
        Step {
            check: None,
            statement,
        }
    }
}

/// The `Distributed` table over `T_local` in a cluster layout; nothing on
/// one server.
pub(super) fn distributed_step(
    layout: &Layout,
    name: &str,
    columns: &[Column],
    sharding: &str,
) -> Option<Step> {
    distributed_step_ddl(layout, name, &column_ddl(columns), sharding)
}

/// [`distributed_step`] with the columns' DDL as given.
pub(super) fn distributed_step_ddl(
    layout: &Layout,
    name: &str,
    cols: &str,
    sharding: &str,
) -> Option<Step> {
    layout.cluster.as_ref().map(|cluster| {
        Step::always(format!(
            "CREATE TABLE IF NOT EXISTS {table}{on} (\n{cols}\n) ENGINE = Distributed({c}, {db}, {local}, {sharding})",
            table = layout.table(name),
            on = layout.on_cluster(),
            c = quote_ident(cluster),
            db = quote_ident(&layout.database),
            local = quote_ident(&layout.storage_name(name)),
        ))
    })
}
