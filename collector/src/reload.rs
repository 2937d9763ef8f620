//! Reload: keep the inventory and policy that enrich and verdict use up to
//! date while the collector runs.
//!
//! * The policy and inventory files (and the CSV files the inventory
//!   imports) are checked every `enrich.reload_interval_ms` by size and a
//!   hash of their content (an edit that keeps the size and the
//!   modification time is still seen), and re-read at once on SIGHUP.
//! * Inventory events posted to the dashboard are rows of the ClickHouse
//!   table `inventory_events`; every `enrich.events_poll_ms` the table's row
//!   count and newest `received_ms` are compared with the last seen, and on
//!   a change every event is read again and applied over the file's
//!   inventory, in time order ([`Inventory::with_events`]).
//!
//! A file that no longer loads never replaces the running inventory or
//! policy: the error is logged, counted in
//! `eastwest_collector_policy_reload_errors_total{file}` and shown by the
//! collector's `GET /status`. An event that cannot apply (a bad field, a MAC
//! another VM holds at that time) is skipped the same way, the others apply.
//! When a change makes VMs of zones the policy keeps apart share a host, it
//! is logged as a warning and counted in `eastwest_collector_coresidency_pairs`.
//!
//! New versions reach the decode thread through a channel it drains between
//! datagrams: no lock on the per-flow path.

use eastwest_core::clock;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clickhouse::Client;
use eastwest_clickhouse::schema::{quote_ident, InventoryEventRow, INVENTORY_EVENTS_TABLE};
use eastwest_core::config::ConfigError;
use eastwest_core::inventory::{Inventory, InventoryEvent};
use eastwest_core::policy::{CoResidency, Policy};
use serde::Serialize;
use tokio::sync::watch;

use crate::config::EnrichConfig;
use crate::metrics::{gauge, labelled, Counter, Gauge, Registry};
use crate::sink::Connection;

/// A new inventory or policy for the decode thread.
#[derive(Debug)]
pub enum Update {
    Inventory(Box<Inventory>),
    Policy(Box<Policy>),
}

/// Which file a reload error is about (the `file` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Policy,
    Inventory,
}

impl Which {
    fn as_str(self) -> &'static str {
        match self {
            Which::Policy => "policy",
            Which::Inventory => "inventory",
        }
    }
}

/// The state of one file, as `GET /status` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileStatus {
    pub path: Option<String>,
    /// Policy revision in use (policy only).
    pub revision: Option<String>,
    /// When the version in use was loaded, epoch milliseconds.
    pub loaded_ms: u64,
    /// Why the last attempt failed, while the file on disk does not load.
    pub error: Option<String>,
    /// Warnings of the version in use (policy only).
    pub warnings: Vec<String>,
}

/// What `GET /status` returns.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadStatus {
    pub policy: FileStatus,
    pub inventory: FileStatus,
    /// Inventory events applied over the file.
    pub events_applied: usize,
    /// Events that could not apply, with why.
    pub events_refused: Vec<String>,
    /// VMs of separated zones sharing a host now.
    pub coresidency: Vec<String>,
}

/// The reload counters (`eastwest_collector_policy_*`,
/// `_inventory_*`, `_coresidency_*`) and the status (`GET /status`).
#[derive(Debug)]
pub struct ReloadMetrics {
    /// Per [`Which`] (policy, then inventory).
    pub reloads: [Counter; 2],
    pub errors: [Counter; 2],
    pub events_applied: Gauge,
    pub events_refused: Gauge,
    pub coresidency_pairs: Gauge,
    pub status: Mutex<ReloadStatus>,
}

impl ReloadMetrics {
    /// The counters, registered in `registry`.
    pub fn new(registry: &mut Registry) -> Arc<ReloadMetrics> {
        let files = [Which::Policy, Which::Inventory].map(Which::as_str);
        Arc::new(ReloadMetrics {
            reloads: labelled(
                registry,
                "policy_reloads",
                "Policy and inventory versions loaded after start-up",
                "file",
                files,
            ),
            errors: labelled(
                registry,
                "policy_reload_errors",
                "Policy or inventory files that failed to load; the running version was kept",
                "file",
                files,
            ),
            events_applied: gauge(
                registry,
                "inventory_events_applied",
                "Inventory events applied over the inventory file",
            ),
            events_refused: gauge(
                registry,
                "inventory_events_refused",
                "Inventory events that could not apply (see GET /status)",
            ),
            coresidency_pairs: gauge(
                registry,
                "coresidency_pairs",
                "Pairs of VMs of zones the policy keeps apart that share a host now",
            ),
            status: Mutex::default(),
        })
    }

    fn index(which: Which) -> usize {
        match which {
            Which::Policy => 0,
            Which::Inventory => 1,
        }
    }

    /// A copy of the status.
    pub fn status(&self) -> ReloadStatus {
        match self.status.lock() {
            Ok(status) => status.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn update(&self, change: impl FnOnce(&mut ReloadStatus)) {
        match self.status.lock() {
            Ok(mut status) => change(&mut status),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }
}

/// Length and content hash of each watched file (None: unreadable). The
/// content, not the modification time: editors and config management can
/// rewrite a file within one mtime tick, or restore an old mtime.
type Stamp = Vec<Option<(u64, u64)>>;

fn stamp(paths: &[PathBuf]) -> Stamp {
    paths
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).ok()?;
            let mut hasher = std::hash::DefaultHasher::new();
            std::hash::Hash::hash_slice(&bytes, &mut hasher);
            Some((bytes.len() as u64, std::hash::Hasher::finish(&hasher)))
        })
        .collect()
}

/// Where the inventory events are: the sink's connection (none while the
/// sink waits for ClickHouse: reading then fails and is retried).
#[derive(Clone)]
pub struct EventSource {
    pub connection: watch::Receiver<Option<Connection>>,
    pub database: String,
}

impl std::fmt::Debug for EventSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSource")
            .field("database", &self.database)
            .finish()
    }
}

impl EventSource {
    fn client(&self) -> Result<Client, clickhouse::error::Error> {
        let connection = self.connection.borrow();
        connection
            .as_ref()
            .map(|c| c.client.clone())
            .ok_or_else(|| {
                clickhouse::error::Error::Custom(
                    "the sink is not connected to ClickHouse yet".into(),
                )
            })
    }

    fn table(&self) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.database),
            quote_ident(INVENTORY_EVENTS_TABLE)
        )
    }

    /// Row count and newest `received_ms`: what tells a change.
    async fn stamp(&self) -> Result<(u64, u64), clickhouse::error::Error> {
        let sql = format!(
            "SELECT count() AS n, max(received_ms) AS newest FROM {}",
            self.table()
        );
        self.client()?.query(&sql).fetch_one::<(u64, u64)>().await
    }

    /// Every event in time order; rows that are not an event's JSON are
    /// returned as refusals.
    async fn fetch(&self) -> Result<(Vec<InventoryEvent>, Vec<String>), clickhouse::error::Error> {
        let sql = format!(
            "SELECT ?fields FROM {} ORDER BY time_ms, received_ms",
            self.table()
        );
        let rows = self
            .client()?
            .query(&sql)
            .fetch_all::<InventoryEventRow>()
            .await?;
        let mut events = Vec::with_capacity(rows.len());
        let mut refused = Vec::new();
        for row in rows {
            match serde_json::from_str::<InventoryEvent>(&row.event) {
                Ok(event) => events.push(event),
                Err(err) => refused.push(format!(
                    "{INVENTORY_EVENTS_TABLE}: event for VM {:?} received at {} ms: {err}",
                    row.vm, row.received_ms
                )),
            }
        }
        Ok((events, refused))
    }
}

/// How many events applied, and why the others did not.
#[derive(Debug)]
struct Refusals {
    applied: usize,
    refused: Vec<String>,
}

/// Watches the files and the events table, and sends new versions.
#[derive(Debug)]
pub struct Reloader {
    inventory_path: Option<PathBuf>,
    policy_path: Option<PathBuf>,
    source: Option<EventSource>,
    interval: Duration,
    events_interval: Duration,
    /// The inventory file's version in use, before events.
    base: Option<Inventory>,
    events: Vec<InventoryEvent>,
    /// Events that are not valid JSON, from the last fetch.
    bad_rows: Vec<String>,
    policy: Option<Policy>,
    inventory_stamp: Stamp,
    policy_stamp: Stamp,
    events_stamp: Option<(u64, u64)>,
    coresidency: Vec<CoResidency>,
    metrics: Arc<ReloadMetrics>,
    updates: mpsc::Sender<Update>,
}

/// What the stages start with.
#[derive(Debug)]
pub struct Loaded {
    pub reloader: Reloader,
    pub inventory: Option<Inventory>,
    pub policy: Option<Policy>,
    pub updates: mpsc::Receiver<Update>,
}

impl Reloader {
    /// Load the files (an error here stops start-up) and the stored events
    /// (ClickHouse failing here is only logged: the poll retries).
    pub async fn load(
        config: &EnrichConfig,
        source: Option<EventSource>,
        metrics: Arc<ReloadMetrics>,
    ) -> Result<Loaded, (Which, ConfigError)> {
        let base = config
            .inventory
            .as_deref()
            .map(Inventory::load)
            .transpose()
            .map_err(|e| (Which::Inventory, e))?;
        let policy = config
            .policy
            .as_deref()
            .map(Policy::load)
            .transpose()
            .map_err(|e| (Which::Policy, e))?;
        let (updates, receiver) = mpsc::channel();
        let mut reloader = Reloader {
            inventory_path: config.inventory.clone(),
            policy_path: config.policy.clone(),
            source: source.filter(|_| config.inventory.is_some()),
            interval: Duration::from_millis(config.reload_interval_ms),
            events_interval: Duration::from_millis(config.events_poll_ms),
            base: None,
            events: Vec::new(),
            bad_rows: Vec::new(),
            policy: None,
            inventory_stamp: Vec::new(),
            policy_stamp: Vec::new(),
            events_stamp: None,
            coresidency: Vec::new(),
            metrics,
            updates,
        };
        reloader.inventory_stamp = stamp(&reloader.inventory_files(base.as_ref()));
        reloader.policy_stamp = stamp(&reloader.policy_files());
        reloader.base = base;
        reloader.policy_loaded(policy.clone());
        reloader.fetch_events().await;
        let inventory = reloader.inventory().map(|(inventory, outcome)| {
            reloader.record_events(outcome);
            inventory
        });
        reloader.check_coresidency(inventory.as_ref());
        Ok(Loaded {
            reloader,
            inventory,
            policy,
            updates: receiver,
        })
    }

    fn inventory_files(&self, inventory: Option<&Inventory>) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.inventory_path.iter().cloned().collect();
        if let Some(inventory) = inventory {
            files.extend(inventory.files().iter().cloned());
        }
        files
    }

    fn policy_files(&self) -> Vec<PathBuf> {
        self.policy_path.iter().cloned().collect()
    }

    /// The file's inventory with the events applied, and the refusals.
    fn inventory(&self) -> Option<(Inventory, Refusals)> {
        let base = self.base.as_ref()?;
        let (inventory, refused) = base.with_events(&self.events, INVENTORY_EVENTS_TABLE);
        let applied = self.events.len() - refused.len();
        let mut refused: Vec<String> = refused.iter().map(ToString::to_string).collect();
        refused.extend(self.bad_rows.iter().cloned());
        Some((inventory, Refusals { applied, refused }))
    }

    /// Log and show what the events did.
    fn record_events(&self, outcome: Refusals) {
        for why in &outcome.refused {
            tracing::warn!(%why, "reload: inventory event refused");
        }
        let reload = &self.metrics;
        reload.events_refused.set(outcome.refused.len() as u64);
        let path = self
            .inventory_path
            .as_deref()
            .map(|p| p.display().to_string());
        reload.update(|status| {
            status.inventory.path = path;
            status.inventory.loaded_ms = clock::now_ms();
            // Events applied over the kept inventory do not make a broken
            // file good: its error stays until the file loads.
            status.events_applied = outcome.applied;
            status.events_refused = outcome.refused;
        });
        reload.events_applied.set(outcome.applied as u64);
    }

    fn policy_loaded(&mut self, policy: Option<Policy>) {
        let path = self.policy_path.as_deref().map(|p| p.display().to_string());
        let revision = policy.as_ref().map(|p| p.revision().to_string());
        let warnings = policy
            .as_ref()
            .map(|p| p.warnings().iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        self.metrics.update(|status| {
            status.policy = FileStatus {
                path,
                revision,
                loaded_ms: clock::now_ms(),
                error: None,
                warnings,
            };
        });
        self.policy = policy;
    }

    fn failed(&self, which: Which, err: &ConfigError) {
        tracing::error!(file = which.as_str(), %err, "reload: keeping the running version");
        let reload = &self.metrics;
        let message = err.to_string();
        reload.update(|status| match which {
            Which::Policy => status.policy.error = Some(message),
            Which::Inventory => status.inventory.error = Some(message),
        });
        reload.errors[ReloadMetrics::index(which)].inc();
    }

    /// Log each pair of separated VMs that newly shares a host.
    fn check_coresidency(&mut self, inventory: Option<&Inventory>) {
        let (Some(policy), Some(inventory)) = (&self.policy, inventory) else {
            return;
        };
        let now = policy.separation_violations(inventory);
        for pair in now.iter().filter(|p| !self.coresidency.contains(p)) {
            tracing::warn!(
                host = %pair.host,
                zones = %format!("{} / {}", pair.zones.0, pair.zones.1),
                vms = %format!("{} / {}", pair.vms.0, pair.vms.1),
                "co-residency: VMs of zones the policy keeps apart share a host"
            );
        }
        let described: Vec<String> = now
            .iter()
            .map(|p| {
                format!(
                    "{} ({}) and {} ({}) share {}",
                    p.vms.0, p.zones.0, p.vms.1, p.zones.1, p.host
                )
            })
            .collect();
        self.metrics.coresidency_pairs.set(now.len() as u64);
        self.metrics.update(|status| status.coresidency = described);
        self.coresidency = now;
    }

    /// Re-read the files that changed (all of them with `force`).
    pub fn check_files(&mut self, force: bool) {
        let files = self.policy_files();
        let policy_stamp = stamp(&files);
        if let Some(path) = self.policy_path.clone() {
            if force || policy_stamp != self.policy_stamp {
                self.policy_stamp = policy_stamp;
                match Policy::load(&path) {
                    Ok(policy) => {
                        tracing::info!(path = %path.display(), revision = policy.revision(), "reload: policy loaded");
                        let _ = self.updates.send(Update::Policy(Box::new(policy.clone())));
                        self.policy_loaded(Some(policy));
                        let inventory = self.inventory().map(|(inventory, _)| inventory);
                        self.check_coresidency(inventory.as_ref());
                        self.metrics.reloads[ReloadMetrics::index(Which::Policy)].inc();
                    }
                    Err(err) => self.failed(Which::Policy, &err),
                }
            }
        }
        let inventory_stamp = stamp(&self.inventory_files(self.base.as_ref()));
        if let Some(path) = self.inventory_path.clone() {
            if force || inventory_stamp != self.inventory_stamp {
                self.inventory_stamp = inventory_stamp;
                self.load_inventory(&path);
            }
        }
    }

    fn load_inventory(&mut self, path: &Path) {
        match Inventory::load(path) {
            Ok(base) => {
                tracing::info!(path = %path.display(), vms = base.current().count(), "reload: inventory loaded");
                // The CSV files it names may have changed too.
                self.inventory_stamp = stamp(&self.inventory_files(Some(&base)));
                self.base = Some(base);
                self.metrics.update(|status| status.inventory.error = None);
                self.send_inventory();
                self.metrics.reloads[ReloadMetrics::index(Which::Inventory)].inc();
            }
            Err(err) => self.failed(Which::Inventory, &err),
        }
    }

    fn send_inventory(&mut self) {
        if let Some((inventory, outcome)) = self.inventory() {
            self.check_coresidency(Some(&inventory));
            let _ = self.updates.send(Update::Inventory(Box::new(inventory)));
            self.record_events(outcome);
        }
    }

    /// Read the events again; true if they changed.
    async fn fetch_events(&mut self) -> bool {
        let Some(source) = self.source.clone() else {
            return false;
        };
        let stamp = match source.stamp().await {
            Ok(stamp) => stamp,
            Err(err) => {
                tracing::warn!(%err, "reload: cannot read inventory events; retrying");
                return false;
            }
        };
        if Some(stamp) == self.events_stamp {
            return false;
        }
        match source.fetch().await {
            Ok((events, bad_rows)) => {
                tracing::info!(events = events.len(), "reload: inventory events read");
                self.events = events;
                self.bad_rows = bad_rows;
                self.events_stamp = Some(stamp);
                true
            }
            Err(err) => {
                tracing::warn!(%err, "reload: cannot read inventory events; retrying");
                false
            }
        }
    }

    /// Apply the events if the table changed.
    pub async fn check_events(&mut self) {
        if self.fetch_events().await {
            self.send_inventory();
        }
    }

    /// Poll until `stop` turns true; SIGHUP reloads everything at once.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        async fn tick(interval: &mut Option<tokio::time::Interval>) {
            match interval {
                Some(interval) => {
                    interval.tick().await;
                }
                None => std::future::pending().await,
            }
        }
        let every = |d: Duration| {
            (!d.is_zero()).then(|| {
                let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i
            })
        };
        let mut files = every(self.interval);
        let mut events = every(self.events_interval);
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let hup = async {
                match &mut hangup {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hup = std::future::pending::<Option<()>>();
            let stopped = async {
                let _ = stop.wait_for(|&s| s).await;
            };
            tokio::select! {
                () = stopped => break,
                () = tick(&mut files) => self.check_files(false),
                () = tick(&mut events) => self.check_events().await,
                Some(()) = hup => {
                    tracing::info!("SIGHUP: reloading inventory, events and policy");
                    self.check_files(true);
                    self.events_stamp = None;
                    self.check_events().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_sees_an_edit_that_keeps_size_and_modification_time() {
        let dir = std::env::temp_dir().join(format!("eastwest-stamp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("policy.toml");
        std::fs::write(&path, "default = \"deny\"\n").unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let before = stamp(std::slice::from_ref(&path));

        std::fs::write(&path, "default = \"allo\"\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.modified().unwrap(), meta.len()), (mtime, 17));
        let after = stamp(std::slice::from_ref(&path));
        assert_ne!(before, after, "same size and mtime, new content");

        assert_eq!(after, stamp(std::slice::from_ref(&path)), "unchanged file");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(stamp(std::slice::from_ref(&path)), vec![None], "unreadable");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
