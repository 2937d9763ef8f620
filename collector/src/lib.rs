//! eastwest-collector: NetFlow v9 / IPFIX / v5 in, enriched and judged flow
//! rows into ClickHouse.
//!
//! Stages, named the same in modules, logs and metrics:
//! [`receive`] (UDP sockets → bounded queue) → [`decode`] (template-scoped
//! NetFlow decoding into [`FlowRow`]s) → [`enrich`] (VM inventory) →
//! [`verdict`] (segmentation policy) → [`sink`] (batched ClickHouse inserts).
//! Decode, enrich and verdict run one after the other on a dedicated thread;
//! the sockets and the sink are Tokio tasks. [`http`] serves `/metrics`,
//! `/healthz` and `/status`; each stage owns its metrics (of the types of
//! the leaf module [`metrics`]) and [`http::Metrics`] assembles them.

pub mod block;
pub mod config;
pub mod decode;
pub mod enrich;
pub mod exporters;
pub mod http;
pub mod kernel;
pub mod metrics;
pub mod receive;
pub mod reload;
pub mod retention;
pub mod sink;
pub mod spool;
pub mod verdict;

/// Hand-built NetFlow v9 packets, shared with the integration tests and bench.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod v9_builder;

use eastwest_core::clock;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use eastwest_clickhouse::schema::FlowRow;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};

use crate::config::{Config, ConfigError};
use crate::decode::{Datagram, Decoder, ExporterStats};
use crate::enrich::Enricher;
use crate::http::Metrics;
use crate::kernel::Listener;
use crate::receive::{AllowList, BindError};
use crate::reload::{EventSource, Reloader, Update, Which};
use crate::sink::{Connection, Sink, SinkError};
use crate::verdict::Judge;

/// Decoded datagrams (each a `Vec` of rows, about 18 from an eastwest
/// exporter) held between verdict and sink: about 18,000 rows. Kept small
/// on purpose: a decoded row takes about 0.5-0.9 KB against about 80 bytes
/// of datagram per flow, so the pauses of a slow ClickHouse are absorbed by
/// the receive queue (`receive.queue_datagrams`) instead. With 8192 here
/// (about 150,000 rows, over 100 MB) the same buffering cost several times
/// the memory.
const ROW_QUEUE: usize = 1024;

/// How often decode publishes its per-exporter snapshot
/// ([`decode::DecodeMetrics::exporters`]), at most; on traffic, and once more at shutdown.
pub const EXPORTER_SNAPSHOT_MS: u64 = 1000;

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    #[error("inventory: {0}")]
    Inventory(eastwest_core::config::ConfigError),
    #[error("policy: {0}")]
    Policy(eastwest_core::config::ConfigError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot serve http on {addr}: {source}")]
    Http {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("the {0} stage stopped abnormally")]
    Stage(&'static str),
    #[error(
        "the {stage} stage did not stop within {secs} s of the shutdown signal; exiting without it"
    )]
    StopTimeout { stage: &'static str, secs: u64 },
}

/// How much longer than the sink's `shutdown_timeout_ms` the other stages
/// may take to stop (their last writes, e.g. the exporters snapshot): a
/// stop is bounded, so `systemctl stop` never waits on a stuck stage.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// A collector with its sockets bound and ClickHouse connected, ready to
/// [`run`](Collector::run).
#[derive(Debug)]
pub struct Collector {
    config: Config,
    sockets: Vec<UdpSocket>,
    allow: AllowList,
    http: Option<TcpListener>,
    sink: Sink,
    enricher: Enricher,
    judge: Judge,
    reloader: Reloader,
    updates: std::sync::mpsc::Receiver<Update>,
    metrics: Arc<Metrics>,
}

impl Collector {
    /// Load inventory and policy, bind the sockets, connect to ClickHouse
    /// and migrate. Every failure here is a clear start-up error.
    pub async fn new(config: Config) -> Result<Collector, Error> {
        config.validate()?;
        // Check the files before binding anything; loaded again below with
        // the stored inventory events once ClickHouse is connected.
        Enricher::load(config.enrich.inventory.as_deref()).map_err(Error::Inventory)?;
        Judge::load(config.enrich.policy.as_deref()).map_err(Error::Policy)?;
        let allow = AllowList::new(config.receive.allow_networks()?);
        let sockets = config
            .receive
            .listen
            .iter()
            .map(|&addr| receive::bind(addr, config.receive.recv_buffer_bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let metrics = Arc::new(Metrics::new());
        let _ = metrics
            .receive
            .listeners
            .set(sockets.iter().map(Listener::of).collect());
        let http = match config.http.listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| Error::Http { addr, source })?,
            ),
            None => None,
        };
        let sink = Sink::connect(&config.clickhouse, metrics.sink.clone()).await?;
        let events = EventSource {
            connection: sink.connected(),
            database: config.clickhouse.database.clone(),
        };
        let loaded = Reloader::load(&config.enrich, Some(events), Arc::clone(&metrics.reload))
            .await
            .map_err(|(which, err)| match which {
                Which::Inventory => Error::Inventory(err),
                Which::Policy => Error::Policy(err),
            })?;
        Ok(Collector {
            config,
            sockets,
            allow,
            http,
            sink,
            enricher: Enricher::new(loaded.inventory),
            judge: Judge::new(loaded.policy),
            reloader: loaded.reloader,
            updates: loaded.updates,
            metrics,
        })
    }

    /// The UDP addresses actually bound (useful with port 0).
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// The address `/metrics` is served on, if enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Run until `shutdown` completes, then stop receiving, drain the
    /// queues and flush every row to ClickHouse.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (datagram_tx, datagram_rx) = mpsc::channel(self.config.receive.queue_datagrams);
        let (row_tx, row_rx) = mpsc::channel(ROW_QUEUE);

        let receivers: Vec<_> = self
            .sockets
            .into_iter()
            .map(|socket| {
                tokio::spawn(receive::run(
                    socket,
                    self.allow.clone(),
                    datagram_tx.clone(),
                    self.metrics.receive.clone(),
                    stop_rx.clone(),
                ))
            })
            .collect();
        drop(datagram_tx);

        let stages = Stages {
            decoder: Decoder::new(&self.config.decode),
            enricher: self.enricher,
            judge: self.judge,
            updates: self.updates,
            dataset: self.config.enrich.dataset_default.clone(),
            metrics: self.metrics.clone(),
            next_snapshot_ms: 0,
        };
        let reload = tokio::spawn(self.reloader.run(stop_rx.clone()));
        let process = tokio::task::spawn_blocking(move || stages.run(datagram_rx, row_tx));
        // Retention and the exporters table start once the sink is
        // connected (at once, unless it started without ClickHouse). Old
        // partitions are dropped on every node (each holds its shard).
        let connected = self.sink.connected();
        let retention = {
            let (layout, config) = (
                self.config.clickhouse.layout(),
                self.config.retention.clone(),
            );
            let live = self.config.enrich.dataset_default.clone();
            let (connected, stop) = (connected.clone(), stop_rx.clone());
            tokio::spawn(async move {
                let Some(connection) = connection(connected, stop.clone()).await else {
                    return;
                };
                let mut nodes = tokio::task::JoinSet::new();
                for client in connection.nodes {
                    let retention =
                        retention::Retention::new(client, layout.clone(), config.clone(), &live);
                    nodes.spawn(retention.run(stop.clone()));
                }
                while let Some(ended) = nodes.join_next().await {
                    if let Err(err) = ended {
                        tracing::error!(%err, "retention: a task failed");
                    }
                }
            })
        };
        // The exporters table gets decode's last snapshot too: its writer
        // stops after decode has.
        let (decoded_tx, decoded_rx) = watch::channel(false);
        let exporters = {
            let metrics = self.metrics.decode.clone();
            let interval = Duration::from_millis(self.config.clickhouse.exporters_interval_ms);
            let started_ms = clock::now_ms();
            tokio::spawn(async move {
                let Some(connection) = connection(connected, decoded_rx.clone()).await else {
                    return;
                };
                exporters::ExportersWriter::new(
                    connection.client,
                    metrics,
                    exporters::host_name(),
                    started_ms,
                    interval,
                )
                .run(decoded_rx)
                .await
            })
        };
        let sink = tokio::spawn(self.sink.run(row_rx));
        let http = self.http.map(|listener| {
            let mut stop = stop_rx.clone();
            let app = http::router(self.metrics.clone());
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|&s| s).await;
                };
                if let Err(err) = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    tracing::error!(%err, "http: server failed");
                }
            })
        });

        shutdown.await;
        tracing::info!("shutting down: draining queues and flushing to ClickHouse");
        let _ = stop_tx.send(true);
        // The stage being waited for, named if the stop overruns.
        let waiting = std::sync::Mutex::new("receive");
        let wait = |stage| *waiting.lock().unwrap_or_else(|e| e.into_inner()) = stage;
        let stop = async {
            for receiver in receivers {
                receiver.await.map_err(|_| Error::Stage("receive"))?;
            }
            wait("decode");
            process.await.map_err(|_| Error::Stage("decode"))?;
            let _ = decoded_tx.send(true);
            wait("exporters");
            exporters.await.map_err(|_| Error::Stage("exporters"))?;
            wait("sink");
            sink.await.map_err(|_| Error::Stage("sink"))?;
            wait("reload");
            reload.await.map_err(|_| Error::Stage("reload"))?;
            wait("retention");
            retention.await.map_err(|_| Error::Stage("retention"))?;
            if let Some(http) = http {
                wait("http");
                http.await.map_err(|_| Error::Stage("http"))?;
            }
            Ok(())
        };
        let limit = Duration::from_millis(self.config.clickhouse.shutdown_timeout_ms) + STOP_GRACE;
        match tokio::time::timeout(limit, stop).await {
            Ok(stopped) => stopped,
            Err(_) => {
                let stage = *waiting.lock().unwrap_or_else(|e| e.into_inner());
                tracing::error!(stage, "shutdown: a stage did not stop in time");
                Err(Error::StopTimeout {
                    stage,
                    secs: limit.as_secs(),
                })
            }
        }
    }
}

/// The sink's connection once there; `None` if `stop` comes first.
async fn connection(
    mut connected: watch::Receiver<Option<Connection>>,
    mut stop: watch::Receiver<bool>,
) -> Option<Connection> {
    tokio::select! {
        connection = connected.wait_for(Option::is_some) => connection.ok().and_then(|c| c.clone()),
        _ = stop.wait_for(|&s| s) => None,
    }
}

/// Load, bind, connect, then run until `shutdown`.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    Collector::new(config).await?.run(shutdown).await
}

/// Decode → enrich → verdict, on one thread.
struct Stages {
    decoder: Decoder,
    enricher: Enricher,
    judge: Judge,
    /// New inventories and policies from [`reload`], taken between datagrams.
    updates: std::sync::mpsc::Receiver<Update>,
    dataset: String,
    metrics: Arc<Metrics>,
    /// When decode next publishes its exporter snapshot (epoch ms).
    next_snapshot_ms: u64,
}

impl Stages {
    fn run(mut self, mut input: mpsc::Receiver<Datagram>, output: mpsc::Sender<Vec<FlowRow>>) {
        let runtime = tokio::runtime::Handle::current();
        let mut unpublished = false;
        while let Some(datagram) = self.next(&runtime, &mut input, unpublished) {
            unpublished = true;
            while let Ok(update) = self.updates.try_recv() {
                match update {
                    Update::Inventory(inventory) => {
                        self.enricher = Enricher::new(Some(*inventory));
                        self.judge.forget_placements();
                    }
                    Update::Policy(policy) => self.judge = Judge::new(Some(*policy)),
                }
            }
            let rows = self.process(&datagram);
            if datagram.received_ms >= self.next_snapshot_ms {
                self.publish_exporters();
                self.next_snapshot_ms = datagram.received_ms + EXPORTER_SNAPSHOT_MS;
                unpublished = false;
            }
            if !rows.is_empty() && output.blocking_send(rows).is_err() {
                break;
            }
        }
        self.publish_exporters();
    }

    /// The next datagram; None when the input is closed. When the input
    /// runs dry with datagrams decoded since the last exporter snapshot
    /// (`unpublished`), the snapshot is published when it falls due even
    /// if no datagram comes: otherwise the end of a burst (a replay) would
    /// stay out of the `exporters` table until the next datagram.
    fn next(
        &mut self,
        runtime: &tokio::runtime::Handle,
        input: &mut mpsc::Receiver<Datagram>,
        unpublished: bool,
    ) -> Option<Datagram> {
        match input.try_recv() {
            Ok(datagram) => return Some(datagram),
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        if !unpublished {
            return input.blocking_recv();
        }
        let due = self.next_snapshot_ms.saturating_sub(clock::now_ms());
        let waited = runtime.block_on(tokio::time::timeout(
            Duration::from_millis(due),
            input.recv(),
        ));
        match waited {
            Ok(datagram) => datagram,
            Err(_) => {
                self.publish_exporters();
                self.next_snapshot_ms = clock::now_ms() + EXPORTER_SNAPSHOT_MS;
                input.blocking_recv()
            }
        }
    }

    fn publish_exporters(&self) {
        let stats: Arc<[ExporterStats]> = self.decoder.exporter_stats().into();
        self.metrics.decode.exporters.send_replace(stats);
    }

    fn process(&mut self, datagram: &Datagram) -> Vec<FlowRow> {
        let metrics = &self.metrics.decode;
        metrics.packets.inc();
        // Room for the records the datagram likely holds (eastwest's IPv4
        // record is 83 bytes), so the vector is rarely grown row by row.
        let mut rows = Vec::with_capacity(datagram.payload.len() / 64 + 1);
        let report = self.decoder.decode(datagram, &self.dataset, &mut rows);
        metrics.flows.inc_by(report.flows as u64);
        metrics.late.inc_by(report.late);
        metrics.held.inc_by(report.held);
        metrics.templates_evicted.inc_by(report.templates_evicted);
        let (held, held_bytes) = self.decoder.held();
        metrics.held_flowsets.set(held as u64);
        metrics.held_bytes.set(held_bytes as u64);
        for reason in report.errors {
            metrics.error(reason);
        }
        for row in &mut rows {
            let endpoints = self.enricher.enrich(row);
            self.metrics.enrich.count(&endpoints);
            self.judge.judge(endpoints, row);
            self.metrics.verdict.count(row.verdict);
        }
        rows
    }
}
