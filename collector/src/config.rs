//! The collector's configuration: a TOML file (`--config`), every key
//! optional with the defaults below, and command-line flags that override
//! it. `deploy/collector.toml` documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use eastwest_core::policy::Cidr;
use serde::Deserialize;

/// Everything the collector needs to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub receive: ReceiveConfig,
    pub decode: DecodeConfig,
    pub enrich: EnrichConfig,
    pub clickhouse: SinkConfig,
    pub retention: RetentionConfig,
    pub http: HttpConfig,
}

/// `[receive]`: the UDP listeners.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiveConfig {
    /// UDP addresses to listen on for NetFlow v9 / IPFIX / v5.
    pub listen: Vec<SocketAddr>,
    /// SO_RCVBUF asked of the kernel per socket, in bytes; 0 keeps the OS
    /// default. The kernel may cap it (net.core.rmem_max).
    pub recv_buffer_bytes: usize,
    /// Datagrams held between receive and decode; when full, new datagrams
    /// are dropped and counted (receive never waits). This queue absorbs
    /// the pauses of a slow ClickHouse: a datagram (about 1.5 KB for 15-30
    /// flows) is far smaller than the rows decoded from it.
    pub queue_datagrams: usize,
    /// Exporter networks (CIDR, or a bare address) datagrams are accepted
    /// from; empty accepts every sender. Others are counted and dropped.
    pub allow: Vec<String>,
}

impl Default for ReceiveConfig {
    fn default() -> Self {
        ReceiveConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 2055))],
            recv_buffer_bytes: 4 << 20,
            queue_datagrams: 65_536,
            allow: Vec::new(),
        }
    }
}

/// `[decode]`: the NetFlow decoder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeConfig {
    /// Exporter scopes ((address, source id) pairs) whose templates are kept;
    /// the least recently used is forgotten beyond this.
    pub max_exporters: usize,
    /// Templates (and, separately, options templates) kept per scope; a
    /// scope defining more forgets the least recently used ones, counted in
    /// `eastwest_collector_decode_templates_evicted_total`. Bounds what a
    /// template flood can cost: about `max_exporters` × `max_templates`
    /// templates at worst.
    pub max_templates: usize,
    /// How long data flowsets that arrive before their template are held
    /// (milliseconds) waiting for it; then they are counted as
    /// `missing_template`. 0 counts them at once.
    pub template_wait_ms: u64,
    /// Memory for held flowsets across all exporters (bytes); beyond it the
    /// oldest are counted as `missing_template` to make room.
    pub template_wait_bytes: usize,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_exporters: 10_000,
            max_templates: 256,
            template_wait_ms: 10_000,
            template_wait_bytes: 16 << 20,
        }
    }
}

/// `[enrich]`: inventory, policy and the dataset label.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    /// VM inventory (TOML); without it VM and host columns stay empty.
    pub inventory: Option<PathBuf>,
    /// Segmentation policy (TOML); without it zones stay empty and every
    /// verdict is `unknown`.
    pub policy: Option<PathBuf>,
    /// Value of the `dataset` column for every row.
    pub dataset_default: String,
    /// How often the inventory and policy files are checked for changes
    /// (modification time and size), in milliseconds; 0 = only on SIGHUP.
    pub reload_interval_ms: u64,
    /// How often ClickHouse's `inventory_events` table is polled for
    /// events posted to the dashboard, in milliseconds; 0 = only on SIGHUP.
    pub events_poll_ms: u64,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        EnrichConfig {
            inventory: None,
            policy: None,
            dataset_default: "live".to_string(),
            reload_interval_ms: 2000,
            events_poll_ms: 5000,
        }
    }
}

/// `[clickhouse]`: the sink.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinkConfig {
    /// HTTP interface of the ClickHouse server.
    pub url: String,
    /// Database holding the `flows` table (created when missing).
    pub database: String,
    /// ClickHouse user and password; empty means the server's default user.
    pub user: String,
    pub password: String,
    /// A batch is inserted when it holds this many rows ...
    pub batch_rows: usize,
    /// ... or when its oldest row has waited this long (milliseconds).
    pub flush_interval_ms: u64,
    /// Batches inserted at once, each on its own connection (at least 1).
    pub insert_workers: usize,
    /// Rows kept in memory while ClickHouse is failing; older batches are
    /// dropped (and counted) beyond this.
    pub max_pending_rows: usize,
    /// Longest wait between two retries of a failed insert (milliseconds);
    /// the wait starts at 250 ms and doubles up to this.
    pub retry_max_ms: u64,
    /// How long shutdown may spend flushing what is left (milliseconds).
    pub shutdown_timeout_ms: u64,
    /// Directory of the on-disk spool: while ClickHouse is unreachable or
    /// failing, batches are written here (fsynced) and replayed in order
    /// when it returns, also after a restart. None keeps them in memory
    /// only (`max_pending_rows`).
    pub spool_dir: Option<PathBuf>,
    /// Largest size of the spool in bytes; beyond it the oldest segments
    /// are dropped and counted (`eastwest_collector_spool_dropped_rows_total`).
    pub spool_max_bytes: u64,
    /// How often the per-exporter snapshot is written to the `exporters`
    /// table (milliseconds; also once at shutdown).
    pub exporters_interval_ms: u64,
    /// ClickHouse cluster (as named in the servers' `remote_servers`) to
    /// spread the tables over: each table `T` is stored in `T_local` on
    /// every shard with a `Distributed` table `T` over them; inserts go
    /// through `flows` with `insert_distributed_sync=1`, so a confirmed
    /// insert is stored on its shard. None: one server.
    pub cluster: Option<String>,
    /// HTTP URLs of every node of `cluster`: the collector creates and
    /// migrates the tables on each in turn (no `ON CLUSTER`, which needs
    /// ZooKeeper on 18.16) and drops old partitions on each. Empty: `url`
    /// only.
    pub cluster_nodes: Vec<String>,
}

impl SinkConfig {
    /// Where the schema lives.
    pub fn layout(&self) -> eastwest_clickhouse::schema::Layout {
        match &self.cluster {
            Some(cluster) => {
                eastwest_clickhouse::schema::Layout::cluster_per_node(&self.database, cluster)
            }
            None => eastwest_clickhouse::schema::Layout::single(&self.database),
        }
    }

    /// The servers the schema is migrated (and retention run) on.
    pub fn nodes(&self) -> Vec<String> {
        if self.cluster.is_some() && !self.cluster_nodes.is_empty() {
            self.cluster_nodes.clone()
        } else {
            vec![self.url.clone()]
        }
    }
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            url: "http://127.0.0.1:18123".to_string(),
            database: "eastwest".to_string(),
            user: String::new(),
            password: String::new(),
            batch_rows: 200_000,
            flush_interval_ms: 1000,
            insert_workers: 2,
            max_pending_rows: 1_000_000,
            retry_max_ms: 30_000,
            shutdown_timeout_ms: 10_000,
            spool_dir: None,
            // 30 million flows, 10 minutes at 50,000 flows/s, at about
            // 55 bytes a flow (`cargo bench --bench spool`).
            spool_max_bytes: 2 << 30,
            exporters_interval_ms: 10_000,
            cluster: None,
            cluster_nodes: Vec::new(),
        }
    }
}

/// `[retention]`: how long data is kept (see `retention.rs`). Live data
/// keeps days by the flows' own time, per table (0 = forever); a replayed
/// dataset stays until it is deleted, or `datasets_days` after it was
/// stored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Raw `flows`.
    pub flows_days: u32,
    /// The 1-minute rollup `flows_1m`.
    pub flows_1m_days: u32,
    /// The 1-hour rollup `flows_1h`.
    pub flows_1h_days: u32,
    /// Days a replayed dataset (`exporter --dataset`) is kept, counted
    /// from when its last flow was stored; 0 = until deleted.
    pub datasets_days: u32,
    /// How often old partitions are looked for (milliseconds).
    pub interval_ms: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            flows_days: 30,
            flows_1m_days: 90,
            flows_1h_days: 730,
            datasets_days: 0,
            interval_ms: 3_600_000,
        }
    }
}

/// `[http]`: the operations endpoint (`/metrics`, `/healthz`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to serve on; none disables the endpoint.
    pub listen: Option<SocketAddr>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl ReceiveConfig {
    /// `allow` parsed; the error names the entry.
    pub fn allow_networks(&self) -> Result<Vec<Cidr>, ConfigError> {
        self.allow
            .iter()
            .map(|text| {
                Cidr::parse(text).map_err(|message| ConfigError::Invalid {
                    key: "receive.allow",
                    message,
                })
            })
            .collect()
    }
}

impl Config {
    /// Read and validate a TOML configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text).map_err(|err| match err {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parse and validate configuration text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: String::new(),
            message: err.to_string().trim_end().replace('\n', " "),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Check the values serde cannot: non-empty lists, positive sizes, a
    /// database name that is a plain identifier, an http:// URL.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_string(),
            })
        };
        if self.receive.listen.is_empty() {
            return invalid("receive.listen", "needs at least one address");
        }
        if self.receive.queue_datagrams == 0 {
            return invalid("receive.queue_datagrams", "must be at least 1");
        }
        self.receive.allow_networks()?;
        if self.decode.max_templates == 0 || self.decode.max_templates > 65_535 {
            return invalid("decode.max_templates", "must be between 1 and 65535");
        }
        if self.decode.max_exporters == 0 {
            return invalid("decode.max_exporters", "must be at least 1");
        }
        let sink = &self.clickhouse;
        if !sink.url.starts_with("http://") && !sink.url.starts_with("https://") {
            return invalid("clickhouse.url", "must start with http:// or https://");
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if sink.database.is_empty() || !sink.database.chars().all(plain) {
            return invalid(
                "clickhouse.database",
                "must be letters, digits and underscores",
            );
        }
        if sink
            .cluster
            .as_ref()
            .is_some_and(|c| c.is_empty() || !c.chars().all(plain))
        {
            return invalid(
                "clickhouse.cluster",
                "must be letters, digits and underscores",
            );
        }
        if sink
            .cluster_nodes
            .iter()
            .any(|u| !u.starts_with("http://") && !u.starts_with("https://"))
        {
            return invalid(
                "clickhouse.cluster_nodes",
                "each must start with http:// or https://",
            );
        }
        if sink.batch_rows == 0 {
            return invalid("clickhouse.batch_rows", "must be at least 1");
        }
        if sink.insert_workers == 0 || sink.insert_workers > 64 {
            return invalid("clickhouse.insert_workers", "must be between 1 and 64");
        }
        if sink.flush_interval_ms == 0 {
            return invalid("clickhouse.flush_interval_ms", "must be at least 1");
        }
        if sink.max_pending_rows < sink.batch_rows {
            return invalid(
                "clickhouse.max_pending_rows",
                "must be at least clickhouse.batch_rows",
            );
        }
        if self.retention.interval_ms < 1000 {
            return invalid("retention.interval_ms", "must be at least 1000");
        }
        if sink.exporters_interval_ms < 100 {
            return invalid("clickhouse.exporters_interval_ms", "must be at least 100");
        }
        if sink.spool_max_bytes < 1 << 20 {
            return invalid(
                "clickhouse.spool_max_bytes",
                "must be at least 1048576 (1 MiB)",
            );
        }
        if sink.retry_max_ms < 250 {
            return invalid("clickhouse.retry_max_ms", "must be at least 250");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn deploy_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/collector.toml");
        let config = Config::load(&path).unwrap();
        assert_eq!(config.clickhouse.batch_rows, 200_000);
        assert!(config.http.listen.is_some());
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = Config::parse("[receive]\nlisten = [\"127.0.0.1:2055\"]\nbuffer = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("buffer") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected() {
        for (text, key) in [
            ("[receive]\nlisten = []", "receive.listen"),
            ("[receive]\nallow = [\"10.0.0.1/8\"]", "receive.allow"),
            ("[receive]\nallow = [\"exporters\"]", "receive.allow"),
            ("[clickhouse]\ndatabase = \"a-b\"", "clickhouse.database"),
            ("[clickhouse]\nurl = \"127.0.0.1:8123\"", "clickhouse.url"),
            ("[clickhouse]\nbatch_rows = 0", "clickhouse.batch_rows"),
            (
                "[clickhouse]\ninsert_workers = 0",
                "clickhouse.insert_workers",
            ),
            ("[decode]\nmax_templates = 0", "decode.max_templates"),
            ("[clickhouse]\ncluster = \"a b\"", "clickhouse.cluster"),
            (
                "[clickhouse]\ncluster = \"c\"\ncluster_nodes = [\"127.0.0.1:1\"]",
                "clickhouse.cluster_nodes",
            ),
        ] {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(err.starts_with(key), "{text}: {err}");
        }
    }
}
