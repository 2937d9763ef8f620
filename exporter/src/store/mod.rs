//! Stage `store`: the packet store, beside [`cache`](crate::cache). It
//! keeps the mirrored frames as captured (outer encapsulation and all: it
//! is the evidence of where a frame was seen) in rotating segment files,
//! each with an index that finds a conversation's frames without reading
//! the others ([`format`](mod@format) has the byte layout); [`query`] extracts them as
//! pcapng for the evidence server ([`crate::serve`]).
//!
//! Capturing live, frames go to the open segment through 1 MiB blocks,
//! written around the page cache by a thread of their own (`spool`),
//! and their entries, then their flows' places, into in-memory vectors,
//! in capture order: no per-frame lookup (the cache has already done one
//! and keeps the store's [`StoreMark`](crate::cache::StoreMark) in the
//! flow's entry; with workers, a flow is named by its shard's
//! [`FlowId`](crate::cache::FlowId); a flow's key is built on its first
//! frame in the index). A
//! segment is sealed when it holds `segment_bytes` or spans
//! `segment_secs` of capture time, and at the end of the run: a thread of
//! its own (the sealer) groups the entries by [`StoreKey`] (a table of
//! the segment's flows and a counting sort, no sort of the frames),
//! fsyncs the segment, writes its index to a
//! temporary file (direct I/O where the file system allows), fsyncs it,
//! renames it into place and fsyncs the
//! directory, then applies retention. The capture loop never waits for a
//! disk flush. Replaying files (`--read`), the index points into the
//! capture files and no frame is copied.
//!
//! A crash (or power loss) leaves at most the open segment without an
//! index; [`PacketStore::open`] re-indexes it at start-up, first cutting
//! the damaged tail (a torn record) off. A write error (a full disk) stops
//! the store, logged and reported in its status; the exporter goes on
//! metering.
//!
//! Where it lives: `writer` (the open segment and its in-memory index,
//! fed by the pipeline), `builder` (that index, grouped by key when
//! sealed), `spool` (the open segment's blocks and the thread writing
//! them), `sealer` (the sealer thread and retention), `durable` (the
//! index file write), `recover` (start-up), this module (config, status,
//! file names).

mod builder;
mod durable;
pub mod format;
pub mod query;
mod recover;
mod sealer;
mod spool;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

pub use format::{Entry, FormatError, Index, SourceKind, StoreKey};
pub use writer::PacketStore;

/// `[store]`: the packet store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the store (`--packet-store`); no store when unset.
    pub dir: Option<PathBuf>,
    /// Most bytes the store keeps (segments and indexes, the open segment
    /// included); the oldest segment goes first.
    pub max_bytes: u64,
    /// Segments whose newest frame is older than this (in capture time,
    /// against the newest frame stored) are removed.
    pub max_age_secs: u64,
    /// A segment is sealed (and indexed) at this size...
    pub segment_bytes: u64,
    /// ...or when it spans this much capture time.
    pub segment_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            dir: None,
            max_bytes: 10 << 30,
            max_age_secs: 7 * 24 * 3600,
            segment_bytes: 64 << 20,
            segment_secs: 60,
        }
    }
}

impl StoreConfig {
    /// What parsing cannot check.
    pub fn validate(&self) -> Result<(), String> {
        if self.segment_bytes < 4096 {
            return Err("store.segment_bytes must be at least 4096".into());
        }
        if self.max_bytes < 2 * self.segment_bytes {
            return Err("store.max_bytes must be at least twice store.segment_bytes".into());
        }
        if self.max_age_secs == 0 || self.segment_secs == 0 {
            return Err("store.max_age_secs and store.segment_secs must be at least 1".into());
        }
        Ok(())
    }
}

/// Why the store could not open.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("packet store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What the store holds and what happened to it. Field names are the JSON
/// keys under `store` in `--stats-json` and `GET /store`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreStatus {
    /// Sealed segments (or capture-file indexes) held.
    pub segments: u64,
    /// Their bytes on disk (segments and indexes).
    pub bytes: u64,
    /// Capture time of the oldest frame held, ns since the Unix epoch
    /// (`null` when empty).
    pub oldest_ns: Option<u64>,
    /// Capture time of the newest frame indexed.
    pub newest_ns: Option<u64>,
    /// Frames written (or, replaying, referenced) this run.
    pub frames_stored: u64,
    /// Frames stored but not indexed (not IP: no flow key).
    pub frames_unindexed: u64,
    /// Segments removed by retention this run.
    pub segments_expired: u64,
    /// Segments re-indexed at start-up (no index or a damaged one).
    pub segments_recovered: u64,
    /// Bytes of damaged segment tails cut off at start-up.
    pub tail_bytes_dropped: u64,
    /// Files dropped at start-up (unreadable segment or index).
    pub files_dropped: u64,
    /// Why the store stopped (a write error); `null` while it runs.
    pub stopped: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    status: Mutex<StoreStatus>,
    stopped: AtomicBool,
}

impl Shared {
    fn status(&self) -> MutexGuard<'_, StoreStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self, why: String) {
        tracing::error!(target: "store", reason = %why, "packet store stopped; metering goes on");
        self.stopped.store(true, Ordering::Relaxed);
        self.status().stopped.get_or_insert(why);
    }
}

/// File names of sequence number `seq`.
pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("seg-{seq:012}.ewpk"))
}

pub fn segment_index_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("seg-{seq:012}.ewpi"))
}

pub fn external_index_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("ext-{seq:012}.ewpi"))
}

/// Computes a frame's flow key from its bytes and capture time (the
/// decapper's and the cache's view of it, frames given in order); `None`
/// when the frame is not IP.
pub type Keyer<'a> = &'a mut dyn FnMut(&[u8], u64) -> Option<StoreKey>;

/// The store's status, readable from another thread.
#[derive(Debug, Clone)]
pub struct StatusHandle(Arc<Shared>);

impl StatusHandle {
    pub fn get(&self) -> StoreStatus {
        self.0.status().clone()
    }
}
