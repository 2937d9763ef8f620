//! Sink: batched inserts into ClickHouse.
//!
//! At start-up [`Sink::connect`] asks the server its version
//! (`SELECT version()`), adapts the client to it (servers before 19 get
//! `with_validation(false)` and the settings of
//! `eastwest_clickhouse::schema::query_settings`, e.g.
//! `allow_experimental_low_cardinality_type=1` that 18.16 needs for
//! LowCardinality columns) and runs the idempotent migrations. A server that
//! cannot be reached then is a start-up error, unless `spool_dir` is set:
//! the sink then starts without a connection, spools every batch, and
//! connects and migrates at each retry until the server answers; the stages
//! that need ClickHouse too (retention, the `exporters` table, inventory
//! events) start once it did ([`Sink::connected`]).
//!
//! [`Sink::run`] collects rows into a batch and inserts it when it holds
//! `batch_rows` rows or its first row has waited `flush_interval_ms`. Each
//! row is encoded into the batch's Native block as it arrives
//! ([`FlowsBlock`]) and dropped: a sealed batch is a [`Block`] of bytes,
//! built once, which is what every insert attempt sends and what the spool
//! stores (compressed) when ClickHouse is away. Up to
//! `insert_workers` batches are inserted at once (each on its own HTTP
//! connection and task), so the collector encodes the next batch while the
//! server sorts and writes the last one. A failed insert goes back to the
//! front of the queue and is retried with exponential backoff (250 ms
//! doubling to `retry_max_ms`) while new rows keep being accepted. While
//! inserts succeed but lag behind the input, the sink stops taking rows
//! once a sealed batch waits for a free worker: the stages before it block
//! and the excess is dropped and counted at the receive queue. So the sink
//! holds at most `insert_workers` + 2 batches (in flight, waiting, being
//! filled).
//!
//! With `spool_dir` set, the batches waiting while ClickHouse fails go to
//! the on-disk [`Spool`] (fsynced, one segment per batch), and so does
//! every new batch while the spool holds anything, so the order is kept:
//! the spool is replayed oldest first, a segment removed only after
//! ClickHouse confirmed its insert. A restart (even after kill -9) replays
//! what the spool holds first. A crash between ClickHouse's confirmation
//! and the segment's removal inserts that one batch again on restart (at
//! most one batch of duplicates per crash). Rows not yet sealed into a
//! batch, or sealed while ClickHouse was still answering, are in memory
//! only, as with any UDP collector: a kill -9 loses at most those
//! (`flush_interval_ms` worth). Without a spool, failed batches stay in
//! memory and beyond `max_pending_rows` the oldest are dropped and counted.
//!
//! When the input closes (shutdown), everything left is flushed, retrying
//! for at most `shutdown_timeout_ms`; what is still not stored then is
//! written to the spool (replayed at the next start) or, without one,
//! counted as lost.

use std::sync::Arc;
use std::time::Duration;

use clickhouse::Client;
use eastwest_clickhouse::schema::{FlowRow, FlowsBlock, MigrateError, ServerVersion};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::block::Block;
use crate::config::SinkConfig;
use crate::metrics::{counter, gauge, Counter, Gauge, Registry};
use crate::spool::{Spool, SpoolError, SpoolMetrics};

mod batches;
mod connect;
mod flights;
mod retry;

use batches::Batches;
use connect::connection;
use flights::{insert_block, Flights, Landed};
use retry::Retry;

/// The sink's counters (`eastwest_collector_sink_*`) and its spool's.
#[derive(Debug)]
pub struct SinkMetrics {
    pub rows: Counter,
    pub batches: Counter,
    pub errors: Counter,
    pub dropped_rows: Counter,
    pub pending_rows: Gauge,
    /// 1 while the last insert succeeded (or none was tried yet).
    pub up: Gauge,
    /// The on-disk spool (see `spool.rs`).
    pub spool: Arc<SpoolMetrics>,
}

impl SinkMetrics {
    /// The counters, registered in `registry`.
    pub fn new(registry: &mut Registry) -> Arc<SinkMetrics> {
        let metrics = SinkMetrics {
            rows: counter(registry, "sink_rows", "Rows inserted into ClickHouse"),
            batches: counter(registry, "sink_batches", "Batches inserted into ClickHouse"),
            errors: counter(registry, "sink_errors", "Failed insert attempts"),
            dropped_rows: counter(
                registry,
                "sink_dropped_rows",
                "Rows dropped because ClickHouse stayed away longer than the memory bound allows",
            ),
            pending_rows: gauge(
                registry,
                "sink_pending_rows",
                "Rows held in memory waiting for ClickHouse",
            ),
            up: gauge(registry, "sink_up", "1 when the last insert succeeded"),
            spool: SpoolMetrics::new(registry),
        };
        metrics.up.set(1);
        Arc::new(metrics)
    }
}

/// Longest a single insert may take before it counts as failed.
const INSERT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(
        "cannot reach ClickHouse at {url}: {}; start it (scripts/clickhouse/run start DIR) \
         or point --clickhouse-url at a running server",
        eastwest_core::error::Chain(.source)
    )]
    Unreachable {
        url: String,
        source: clickhouse::error::Error,
    },
    #[error("ClickHouse at {url} reports version {version:?}, which is not a version number")]
    Version { url: String, version: String },
    #[error("migrating database {database} on ClickHouse at {url}: {source}")]
    Migrate {
        url: String,
        database: String,
        source: MigrateError,
    },
    #[error("{0}")]
    Spool(#[from] SpoolError),
}

/// The clients of a sink connected to its server: adapted to its version,
/// the database selected, the schema up to date.
#[derive(Clone)]
pub struct Connection {
    /// For inserts and other statements.
    pub client: Client,
    /// One per node of the cluster (or the one server).
    pub nodes: Vec<Client>,
    pub version: ServerVersion,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("nodes", &self.nodes.len())
            .field("version", &self.version)
            .finish()
    }
}

/// The sink stage: its connection, its batching rules and the spool.
pub struct Sink {
    /// `None` until ClickHouse answered and the schema is migrated (a
    /// start with a spool while ClickHouse is down).
    connection: Option<Connection>,
    /// The connection for the other stages, once there.
    connected: watch::Sender<Option<Connection>>,
    config: SinkConfig,
    metrics: Arc<SinkMetrics>,
    spool: Option<Spool>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("url", &self.config.url)
            .field("database", &self.config.database)
            .field("connection", &self.connection)
            .finish()
    }
}

impl Sink {
    /// Detect the server version, adapt the client and migrate the schema
    /// (on every node of the cluster, in turn, with `cluster`). With
    /// `spool_dir` set, a server that does not answer is no start-up error:
    /// the sink starts without a connection, spools every batch and
    /// connects (and migrates) when the server answers.
    pub async fn connect(
        config: &SinkConfig,
        metrics: Arc<SinkMetrics>,
    ) -> Result<Sink, SinkError> {
        let spool = match &config.spool_dir {
            Some(dir) => Some(Spool::open(
                dir,
                config.spool_max_bytes,
                metrics.spool.clone(),
            )?),
            None => None,
        };
        let connection = match connection(config).await {
            Ok(connection) => Some(connection),
            Err(err @ SinkError::Unreachable { .. }) if spool.is_some() => {
                tracing::warn!(%err, "sink: starting without ClickHouse; batches go to the spool, the schema is migrated when it answers");
                metrics.up.set(0);
                None
            }
            Err(err) => return Err(err),
        };
        Ok(Sink {
            connected: watch::Sender::new(connection.clone()),
            connection,
            config: config.clone(),
            metrics,
            spool,
        })
    }

    /// The connection, now or once there: `None` until the sink connected.
    pub fn connected(&self) -> watch::Receiver<Option<Connection>> {
        self.connected.subscribe()
    }

    /// Connect when not connected yet; false while the server does not
    /// answer (or its schema cannot be migrated: logged, retried).
    async fn reconnect(&mut self, flights: &mut Flights, retry: &mut Retry) -> bool {
        if self.connection.is_some() {
            return true;
        }
        match connection(&self.config).await {
            Ok(connection) => {
                flights.client = connection.client.clone();
                self.connection = Some(connection.clone());
                self.connected.send_replace(Some(connection));
                retry.succeeded();
                true
            }
            Err(err) => {
                let wait = retry.failed(Instant::now());
                tracing::warn!(%err, retry_in_ms = wait.as_millis() as u64, "sink: still no ClickHouse");
                false
            }
        }
    }

    /// The inserting client; `None` before the sink connected.
    pub fn client(&self) -> Option<&Client> {
        self.connection.as_ref().map(|c| &c.client)
    }

    /// Insert one batch.
    pub async fn insert(&self, rows: &[FlowRow]) -> Result<(), clickhouse::error::Error> {
        let client = self.client().ok_or(clickhouse::error::Error::Custom(
            "not connected to ClickHouse".into(),
        ))?;
        insert_block(
            client,
            Block::new(FlowsBlock::from_rows(rows)),
            INSERT_TIMEOUT,
        )
        .await
    }

    /// Batch and insert the rows from `input` until it closes, then flush.
    pub async fn run(mut self, mut input: mpsc::Receiver<Vec<FlowRow>>) {
        let mut batches = Batches::new(&self.config, self.metrics.clone());
        let mut retry = Retry::new(Duration::from_millis(self.config.retry_max_ms));
        let mut flights = Flights::new(
            self.client().cloned().unwrap_or_default(),
            self.config.insert_workers,
        );
        let interval = Duration::from_millis(self.config.flush_interval_ms);
        if self.connection.is_none() {
            // Spool from the first batch; connect at the first retry.
            retry.failed(Instant::now());
        }
        loop {
            if retry.due(Instant::now()) && self.reconnect(&mut flights, &mut retry).await {
                if self.spooling() && flights.is_empty() {
                    // Replay one segment per turn, so new rows keep being
                    // taken (and spooled behind) during a long catch-up:
                    // first every row already waiting, as the loop below
                    // takes one datagram's rows per turn, and a catch-up
                    // of hundreds of segments would otherwise back decode
                    // up until the receive queue overflows.
                    while let Ok(rows) = input.try_recv() {
                        batches.push(rows, Instant::now() + interval);
                    }
                    self.replay_one(&batches, &mut retry, Instant::now() + INSERT_TIMEOUT)
                        .await;
                }
                // Not `else`: the replay may just have emptied the spool,
                // and a batch sealed meanwhile must go now. Left waiting,
                // with nothing in flight and no batch being filled, no
                // wake-up would ever launch it, and rows would no longer be
                // taken (the input is closed to them while one waits).
                if !self.spooling() && retry.due(Instant::now()) {
                    flights.launch(&mut batches);
                }
            }
            if retry.at.is_some() || self.spooling() {
                self.spill(&mut batches).await;
            }
            let replay_next = self.spooling() && flights.is_empty() && retry.at.is_none();
            let wake = [
                batches.deadline,
                (batches.has_pending() || self.spooling() || self.connection.is_none())
                    .then_some(retry.at)
                    .flatten(),
                replay_next.then(Instant::now),
            ]
            .into_iter()
            .flatten()
            .min();
            // While ClickHouse answers but is slower than the input, stop
            // taking rows once a sealed batch waits for a free worker:
            // decode then blocks, the receive queue (datagrams, far smaller
            // than their rows) fills, and beyond it the excess is dropped
            // and counted, with memory bounded, instead of piling up here.
            // While it fails, keep taking rows (spool or memory bound).
            let accepting = retry.at.is_some() || self.spooling() || batches.pending.is_empty();
            tokio::select! {
                rows = input.recv(), if accepting => match rows {
                    Some(rows) => batches.push(rows, Instant::now() + interval),
                    None => break,
                },
                Some(landed) = flights.next(), if !flights.is_empty() => {
                    self.landed(landed, &mut batches, &mut retry);
                }
                _ = sleep_until(wake) => {
                    if batches.deadline.is_some_and(|d| d <= Instant::now()) {
                        batches.seal();
                    }
                }
            }
        }
        batches.seal();
        // Everything from here ends by `give_up`: inserts still running
        // then are abandoned (their batches spooled, so a server that
        // stored one anyway sees it again: at least once), a connection
        // attempt is cut off, and the drain's inserts get the time left.
        let give_up = Instant::now() + Duration::from_millis(self.config.shutdown_timeout_ms);
        loop {
            match tokio::time::timeout_at(give_up, flights.next()).await {
                Ok(Some(landed)) => self.landed(landed, &mut batches, &mut retry),
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!("sink: inserts still running at the shutdown deadline; their batches are kept");
                    flights.abandon(&mut batches);
                    break;
                }
            }
        }
        while (batches.has_pending() || self.spooling()) && Instant::now() < give_up {
            if let Some(at) = retry.at {
                tokio::time::sleep_until(at.min(give_up)).await;
            }
            let connected =
                tokio::time::timeout_at(give_up, self.reconnect(&mut flights, &mut retry));
            if connected.await.unwrap_or(false) {
                self.drain(&mut batches, &mut retry, give_up).await;
            }
        }
        self.spill(&mut batches).await;
        let left = batches.pending_rows;
        if left > 0 {
            self.metrics.dropped_rows.inc_by(left as u64);
            tracing::error!(rows = left, url = %self.config.url, "sink: ClickHouse unavailable at shutdown, rows lost");
        }
        if let Some(spool) = &self.spool {
            if !spool.is_empty() {
                tracing::warn!(
                    rows = spool.rows(),
                    "sink: rows left in the spool, replayed at the next start"
                );
            }
        }
        self.metrics.pending_rows.set(0);
        tracing::info!(rows = self.metrics.rows.get(), "sink: stopped");
    }

    /// Account for an insert that ended: counted when stored, else back to
    /// the front of the queue (retried, or spooled).
    fn landed(&self, landed: Landed, batches: &mut Batches, retry: &mut Retry) {
        match landed.result {
            Ok(()) => self.stored(landed.batch.rows(), retry),
            Err(err) => {
                self.failed(&err, batches, retry);
                batches.put_front(landed.batch);
            }
        }
    }

    fn stored(&self, rows: usize, retry: &mut Retry) {
        self.metrics.rows.inc_by(rows as u64);
        self.metrics.batches.inc();
        self.metrics.up.set(1);
        retry.succeeded();
        tracing::debug!(rows, "sink: batch inserted");
    }

    fn failed(&self, err: &clickhouse::error::Error, batches: &Batches, retry: &mut Retry) {
        self.metrics.errors.inc();
        self.metrics.up.set(0);
        let wait = retry.failed(Instant::now());
        let spooled = self.spool.as_ref().map_or(0, Spool::rows);
        tracing::warn!(err = %eastwest_core::error::Chain(err), url = %self.config.url, pending_rows = batches.pending_rows, spooled_rows = spooled, retry_in_ms = wait.as_millis() as u64, "sink: insert failed, will retry");
    }

    /// True while the spool holds batches: new ones queue behind them.
    fn spooling(&self) -> bool {
        self.spool.as_ref().is_some_and(|s| !s.is_empty())
    }

    /// Move the batches waiting in memory to the spool, oldest first. A
    /// batch the spool cannot take stays in memory (and is retried).
    async fn spill(&mut self, batches: &mut Batches) {
        while self.spool.is_some() {
            let Some(batch) = batches.take_front() else {
                break;
            };
            match self
                .on_disk(move |spool| spool.push(&batch).map_err(|e| (e, batch)))
                .await
            {
                Some(Ok(())) => {}
                Some(Err((err, batch))) => {
                    tracing::error!(%err, "sink: cannot spool, keeping the batch in memory");
                    batches.put_front(batch);
                    break;
                }
                None => break,
            }
        }
    }

    /// Run `f` on the spool on a blocking thread (file writes and fsync).
    async fn on_disk<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Spool) -> R + Send + 'static,
    ) -> Option<R> {
        let mut spool = self.spool.take()?;
        match tokio::task::spawn_blocking(move || {
            let result = f(&mut spool);
            (spool, result)
        })
        .await
        {
            Ok((spool, result)) => {
                self.spool = Some(spool);
                Some(result)
            }
            Err(err) => {
                tracing::error!(%err, "sink: the spool task failed; spooling is off until restart");
                None
            }
        }
    }

    /// Insert the oldest spooled batch and remove its segment; false when
    /// that failed (the retry is scheduled).
    async fn replay_one(&mut self, batches: &Batches, retry: &mut Retry, by: Instant) -> bool {
        let batch = match self.on_disk(Spool::front).await {
            Some(Ok(Some(batch))) => batch,
            Some(Ok(None)) | None => return false,
            Some(Err(err)) => {
                tracing::error!(%err, "sink: cannot read the spool, will retry");
                retry.failed(Instant::now());
                return false;
            }
        };
        let rows = batch.rows();
        if !self.insert_counted(batch, batches, retry, by).await {
            return false;
        }
        if let Some(Err(err)) = self.on_disk(Spool::pop).await {
            // Left on disk, it would be inserted twice: say so.
            tracing::error!(%err, rows, "sink: cannot remove a replayed segment; its rows will be inserted again");
            retry.failed(Instant::now());
            return false;
        }
        true
    }

    /// Insert spooled batches, then those in memory, oldest first, until
    /// one fails or `by` passes (at shutdown, one at a time).
    async fn drain(&mut self, batches: &mut Batches, retry: &mut Retry, by: Instant) {
        while self.spooling() {
            if !self.replay_one(batches, retry, by).await {
                return;
            }
        }
        while let Some(batch) = batches.pending.front() {
            if !self.insert_counted(batch.clone(), batches, retry, by).await {
                return;
            }
            batches.pop();
        }
    }

    /// Insert one batch by `by` (or within [`INSERT_TIMEOUT`]) and account
    /// for it; false when it failed.
    async fn insert_counted(
        &self,
        batch: Block,
        batches: &Batches,
        retry: &mut Retry,
        by: Instant,
    ) -> bool {
        let rows = batch.rows();
        let Some(client) = self.client() else {
            return false;
        };
        let within = by
            .saturating_duration_since(Instant::now())
            .min(INSERT_TIMEOUT);
        match insert_block(client, batch, within).await {
            Ok(()) => {
                self.stored(rows, retry);
                true
            }
            Err(err) => {
                self.failed(&err, batches, retry);
                false
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
