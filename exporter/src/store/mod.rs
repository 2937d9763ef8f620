//! Stage `store`: the packet store, beside [`cache`](crate::cache). It
//! keeps the mirrored frames as captured (outer encapsulation and all: it
//! is the evidence of where a frame was seen) in rotating segment files,
//! each with an index that finds a conversation's frames without reading
//! the others ([`format`](mod@format) has the byte layout); [`query`] extracts them as
//! pcapng for the evidence server ([`crate::serve`]).
//!
//! Capturing live, frames go to the open segment through a 1 MiB buffer
//! and (key, entry) pairs into an in-memory vector, in capture order: no
//! per-frame lookup (the cache has already done one). A
//! segment is sealed when it holds `segment_bytes` or spans
//! `segment_secs` of capture time, and at the end of the run: a thread of
//! its own (the sealer) groups the entries by [`StoreKey`] (a sort),
//! fsyncs the segment, writes its index to a
//! temporary file, fsyncs it, renames it into place and fsyncs the
//! directory, then applies retention. The capture loop never waits for a
//! disk flush. Replaying files (`--read`), the index points into the
//! capture files and no frame is copied.
//!
//! A crash (or power loss) leaves at most the open segment without an
//! index; [`PacketStore::open`] re-indexes it at start-up, first cutting
//! the damaged tail (a torn record) off. A write error (a full disk) stops
//! the store, logged and reported in its status; the exporter goes on
//! metering.

pub mod format;
pub mod query;

use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

pub use format::{Entry, FormatError, Index, SourceKind, StoreKey};

use crate::capture::Frame;

/// Write buffer of the open segment.
const WRITE_BUFFER: usize = 1 << 20;

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

/// One sealed file set, oldest first in the sealer's list.
#[derive(Debug, Clone)]
struct Held {
    seq: u64,
    first_ns: u64,
    last_ns: u64,
    bytes: u64,
    files: Vec<PathBuf>,
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

/// The sequence number and kind of a store file name.
fn parse_name(name: &str) -> Option<(&str, u64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    let (kind, seq) = stem.split_once('-')?;
    Some((kind, seq.parse().ok()?, ext))
}

/// Computes a frame's flow key from its bytes and capture time (the
/// decapper's and the cache's view of it, frames given in order); `None`
/// when the frame is not IP.
pub type Keyer<'a> = &'a mut dyn FnMut(&[u8], u64) -> Option<StoreKey>;

/// Write `bytes` to `path` so that after a crash it is either whole or
/// absent: a temporary file, fsync, rename, fsync of the directory.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("ewpi.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Check the store's files at start-up: re-index segments without a
/// valid index (cutting a damaged tail off first), drop what cannot be
/// read. Returns the sealed sets, oldest first, and the next sequence
/// number.
fn recover(
    dir: &Path,
    keyer: Keyer<'_>,
    status: &mut StoreStatus,
) -> Result<(Vec<Held>, u64), StoreError> {
    let mut names = Vec::new();
    for item in fs::read_dir(dir).map_err(io_err(dir))? {
        let item = item.map_err(io_err(dir))?;
        if let Some(name) = item.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    let mut held = Vec::new();
    let mut next_seq = 1;
    let drop_file = |path: &Path, why: &str, status: &mut StoreStatus| {
        tracing::warn!(target: "store", path = %path.display(), why, "dropping a damaged store file");
        status.files_dropped += 1;
        fs::remove_file(path).map_err(io_err(path))
    };
    for name in &names {
        let path = dir.join(name);
        if name.ends_with(".tmp") {
            fs::remove_file(&path).map_err(io_err(&path))?;
            continue;
        }
        let Some((kind, seq, ext)) = parse_name(name) else {
            continue;
        };
        next_seq = next_seq.max(seq + 1);
        match (kind, ext) {
            ("seg", "ewpk") => {
                if let Some(h) = recover_segment(dir, seq, &mut *keyer, status)? {
                    held.push(h);
                }
            }
            ("seg", "ewpi") if !segment_path(dir, seq).exists() => {
                drop_file(&path, "index without its segment", status)?;
            }
            ("ext", "ewpi") => {
                let bytes = fs::read(&path).map_err(io_err(&path))?;
                match Index::parse(&bytes) {
                    Ok(idx) => held.push(Held {
                        seq,
                        first_ns: idx.header.first_ns,
                        last_ns: idx.header.last_ns,
                        bytes: bytes.len() as u64,
                        files: vec![path],
                    }),
                    Err(e) => drop_file(&path, &e.to_string(), status)?,
                }
            }
            _ => {}
        }
    }
    held.sort_by_key(|h| h.seq);
    Ok((held, next_seq))
}

/// One segment at start-up: its index if valid, else re-indexed.
fn recover_segment(
    dir: &Path,
    seq: u64,
    keyer: Keyer<'_>,
    status: &mut StoreStatus,
) -> Result<Option<Held>, StoreError> {
    let seg = segment_path(dir, seq);
    let idx_path = segment_index_path(dir, seq);
    let seg_len = fs::metadata(&seg).map_err(io_err(&seg))?.len();
    if let Ok(bytes) = fs::read(&idx_path) {
        if let Ok(idx) = Index::parse(&bytes) {
            if idx.header.covered == seg_len {
                return Ok(Some(Held {
                    seq,
                    first_ns: idx.header.first_ns,
                    last_ns: idx.header.last_ns,
                    bytes: seg_len + bytes.len() as u64,
                    files: vec![seg, idx_path],
                }));
            }
        }
    }
    let data = fs::read(&seg).map_err(io_err(&seg))?;
    let (frames, valid) = match format::scan_segment(&data) {
        Ok(scan) => scan,
        Err(e) => {
            tracing::warn!(target: "store", path = %seg.display(), error = %e, "dropping an unreadable segment");
            status.files_dropped += 1;
            fs::remove_file(&seg).map_err(io_err(&seg))?;
            if idx_path.exists() {
                fs::remove_file(&idx_path).map_err(io_err(&idx_path))?;
            }
            return Ok(None);
        }
    };
    let cut = seg_len - valid;
    if cut > 0 {
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .and_then(|f| {
                f.set_len(valid)?;
                f.sync_all()
            })
            .map_err(io_err(&seg))?;
        status.tail_bytes_dropped += cut;
    }
    let mut builder = Builder::default();
    for f in &frames {
        let start = (f.pos as usize).saturating_add(format::RECORD_HEADER_LEN);
        let body = data
            .get(start..start.saturating_add(f.header.cap_len as usize))
            .unwrap_or_default();
        builder.add(
            keyer(body, f.header.ts_ns),
            Entry {
                pos: f.pos,
                ts_ns: f.header.ts_ns,
                cap_len: f.header.cap_len,
                wire_len: f.header.wire_len,
            },
        );
    }
    let idx = builder.finish(SourceKind::Segment, String::new(), valid);
    let bytes = idx.encode();
    write_durably(&idx_path, &bytes).map_err(io_err(&idx_path))?;
    status.segments_recovered += 1;
    tracing::warn!(
        target: "store",
        path = %seg.display(),
        frames = frames.len(),
        tail_bytes_dropped = cut,
        "re-indexed a segment left open (crash or power loss)"
    );
    if frames.is_empty() {
        fs::remove_file(&seg).map_err(io_err(&seg))?;
        fs::remove_file(&idx_path).map_err(io_err(&idx_path))?;
        return Ok(None);
    }
    Ok(Some(Held {
        seq,
        first_ns: idx.header.first_ns,
        last_ns: idx.header.last_ns,
        bytes: valid + bytes.len() as u64,
        files: vec![seg, idx_path],
    }))
}

/// The index of the open segment, in memory: one (key, entry) per frame,
/// appended in capture order (sequential memory, no per-frame lookup);
/// grouped by key when sealed, on the sealer thread.
#[derive(Debug, Default)]
struct Builder {
    frames: Vec<(StoreKey, Entry)>,
    unindexed: u32,
    first_ns: Option<u64>,
}

impl Builder {
    #[inline]
    fn add(&mut self, key: Option<StoreKey>, e: Entry) {
        self.first_ns.get_or_insert(e.ts_ns);
        match key {
            Some(k) => self.frames.push((k, e)),
            None => self.unindexed = self.unindexed.saturating_add(1),
        }
    }

    fn finish(self, source: SourceKind, path: String, covered: u64) -> Index {
        // Sort (key hash, time, capture order) triples of integers rather
        // than the keys themselves (comparing two keys is a dozen field
        // compares): the frames of a flow come together, in time order. Two
        // keys of one hash interleaved in time would make two runs of the
        // same key, which the index allows.
        let hasher = foldhash::fast::FixedState::default();
        let mut order: Vec<(u64, u64, u32)> = self
            .frames
            .iter()
            .enumerate()
            .map(|(i, (k, e))| (hasher.hash_one(k), e.ts_ns, i as u32))
            .collect();
        order.sort_unstable();
        let mut flows: Vec<(StoreKey, Vec<Entry>)> = Vec::new();
        for (_, _, i) in order {
            let Some(&(k, e)) = self.frames.get(i as usize) else {
                continue;
            };
            match flows.last_mut() {
                Some((last, list)) if *last == k => list.push(e),
                _ => flows.push((k, vec![e])),
            }
        }
        Index::build(source, path, covered, self.unindexed, flows)
    }
}

/// Where the open index's frames go.
#[derive(Debug)]
enum Target {
    /// A segment of the store (live capture).
    Segment { file: BufWriter<File>, len: u64 },
    /// A capture file being replayed: nothing is written but the index.
    External { path: String, kind: SourceKind },
}

#[derive(Debug)]
struct Open {
    seq: u64,
    target: Target,
    builder: Builder,
    /// Frame bytes since the index opened.
    bytes: u64,
    /// End of the last frame referenced (capture files).
    covered: u64,
}

/// A sealed index for the sealer thread.
#[derive(Debug)]
struct Job {
    seq: u64,
    segment: Option<(File, PathBuf)>,
    index_path: PathBuf,
    builder: Builder,
    source: SourceKind,
    /// The capture file (empty for a segment).
    path: String,
    covered: u64,
}

/// The writer side of the store, owned by the pipeline.
#[derive(Debug)]
pub struct PacketStore {
    dir: PathBuf,
    config: StoreConfig,
    next_seq: u64,
    open: Option<Open>,
    shared: Arc<Shared>,
    jobs: Option<Sender<Job>>,
    sealer: Option<JoinHandle<()>>,
    /// The newest capture time seen ("now" for retention).
    newest_ns: u64,
    frames: u64,
    unindexed: u64,
    reported_stop: bool,
}

impl PacketStore {
    /// Open (creating) the store directory, check and recover its files,
    /// start the sealer.
    pub fn open(config: &StoreConfig, dir: &Path, keyer: Keyer<'_>) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut status = StoreStatus::default();
        let (held, next_seq) = recover(dir, keyer, &mut status)?;
        if status.segments_recovered + status.files_dropped > 0 {
            tracing::warn!(
                target: "store",
                recovered = status.segments_recovered,
                tail_bytes_dropped = status.tail_bytes_dropped,
                dropped = status.files_dropped,
                "packet store checked"
            );
        }
        let shared = Arc::new(Shared::default());
        let newest_ns = held.iter().map(|h| h.last_ns).max().unwrap_or(0);
        let mut sealer = Sealer {
            held,
            shared: Arc::clone(&shared),
            max_bytes: config.max_bytes.saturating_sub(config.segment_bytes),
            max_age_ns: config.max_age_secs.saturating_mul(1_000_000_000),
        };
        *shared.status() = status;
        sealer.retain(newest_ns);
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("store-sealer".into())
            .spawn(move || sealer.run(rx))
            .map_err(io_err(dir))?;
        Ok(PacketStore {
            dir: dir.to_owned(),
            config: config.clone(),
            next_seq,
            open: None,
            shared,
            jobs: Some(tx),
            sealer: Some(handle),
            newest_ns,
            frames: 0,
            unindexed: 0,
            reported_stop: false,
        })
    }

    /// What the store holds now.
    pub fn status(&self) -> StoreStatus {
        let mut s = self.shared.status().clone();
        s.frames_stored = self.frames;
        s.frames_unindexed = self.unindexed;
        s
    }

    /// A handle for readers of the status (the evidence server).
    pub fn status_handle(&self) -> StatusHandle {
        StatusHandle(Arc::clone(&self.shared))
    }

    /// Replaying: the frames that follow are those of the file at `path`
    /// (`format`: what its header says, `None` when it is read by
    /// libpcap). They are indexed where they are, or copied into the
    /// store's segments when they cannot be read again (standard input,
    /// libpcap).
    pub fn begin_source(&mut self, path: &Path, format: Option<eastwest_core::pcapfile::Format>) {
        match format {
            _ if path == Path::new("-") => self.begin_segments(),
            Some(eastwest_core::pcapfile::Format::Pcap) => self.begin_file(path, SourceKind::Pcap),
            Some(eastwest_core::pcapfile::Format::Pcapng) => {
                self.begin_file(path, SourceKind::Pcapng);
            }
            None => self.begin_segments(),
        }
    }

    /// Replaying: the frames that follow are `path`'s (a `kind` file),
    /// indexed where they are.
    pub fn begin_file(&mut self, path: &Path, kind: SourceKind) {
        self.seal();
        let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        self.open = Some(Open {
            seq: self.take_seq(),
            target: Target::External {
                path: path.display().to_string(),
                kind,
            },
            builder: Builder::default(),
            bytes: 0,
            covered: 0,
        });
    }

    /// The frames that follow go into the store's own segments (live
    /// capture, and replays from standard input or libpcap, whose frames
    /// cannot be found again by offset).
    pub fn begin_segments(&mut self) {
        if matches!(
            self.open.as_ref().map(|o| &o.target),
            Some(Target::External { .. })
        ) {
            self.seal();
        }
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Store one frame with its flow key (`None`: not IP).
    #[inline]
    pub fn append(&mut self, f: &Frame<'_>, key: Option<StoreKey>) {
        if self.shared.stopped.load(Ordering::Relaxed) {
            self.report_stop();
            return;
        }
        self.newest_ns = self.newest_ns.max(f.ts_ns);
        if let Some(open) = &self.open {
            let span = f
                .ts_ns
                .saturating_sub(open.builder.first_ns.unwrap_or(f.ts_ns));
            if open.bytes >= self.config.segment_bytes
                || span >= self.config.segment_secs.saturating_mul(1_000_000_000)
            {
                self.roll();
            }
        }
        if self.open.is_none() {
            if let Err(e) = self.open_segment() {
                self.shared.stop(format!("cannot open a segment: {e}"));
                return;
            }
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let cap_len = f.data.len() as u32;
        let pos = match &mut open.target {
            Target::Segment { file, len } => {
                let h = format::RecordHeader {
                    ts_ns: f.ts_ns,
                    cap_len,
                    wire_len: f.wire_len.max(cap_len),
                };
                let written = file
                    .write_all(&h.encode())
                    .and_then(|()| file.write_all(f.data));
                if let Err(e) = written {
                    self.open = None;
                    self.shared.stop(format!("writing a segment: {e}"));
                    return;
                }
                let pos = *len;
                *len += (format::RECORD_HEADER_LEN + f.data.len()) as u64;
                pos
            }
            Target::External { .. } => {
                // Whatever the format, a frame's data ends before this.
                open.covered = open
                    .covered
                    .max(f.offset + (format::RECORD_HEADER_LEN as u64) + u64::from(cap_len));
                f.offset
            }
        };
        open.bytes += u64::from(cap_len);
        self.frames += 1;
        if key.is_none() {
            self.unindexed += 1;
        }
        open.builder.add(
            key,
            Entry {
                pos,
                ts_ns: f.ts_ns,
                cap_len,
                wire_len: f.wire_len.max(cap_len),
            },
        );
    }

    /// Seal the open index and go on in a new one (a new segment, or the
    /// same capture file).
    fn roll(&mut self) {
        let external = match self.open.as_ref().map(|o| &o.target) {
            Some(Target::External { path, kind }) => Some((path.clone(), *kind)),
            _ => None,
        };
        self.seal();
        if let Some((path, kind)) = external {
            self.open = Some(Open {
                seq: self.take_seq(),
                target: Target::External { path, kind },
                builder: Builder::default(),
                bytes: 0,
                covered: 0,
            });
        }
    }

    fn open_segment(&mut self) -> std::io::Result<()> {
        let seq = self.take_seq();
        let path = segment_path(&self.dir, seq);
        let mut file = BufWriter::with_capacity(WRITE_BUFFER, File::create(&path)?);
        file.write_all(&format::segment_header(seq))?;
        self.open = Some(Open {
            seq,
            target: Target::Segment {
                file,
                len: format::SEGMENT_HEADER_LEN as u64,
            },
            builder: Builder::default(),
            bytes: 0,
            covered: 0,
        });
        Ok(())
    }

    /// Let capture time pass without a frame: seal the open segment once
    /// it spans `segment_secs`, so its frames can be served.
    pub fn tick(&mut self, now_ns: u64) {
        let due = self.open.as_ref().is_some_and(|o| {
            o.builder.first_ns.is_some_and(|first| {
                now_ns.saturating_sub(first)
                    >= self.config.segment_secs.saturating_mul(1_000_000_000)
            })
        });
        if due {
            self.roll();
        }
    }

    /// Hand the open index to the sealer.
    pub fn seal(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        if open.builder.first_ns.is_none() {
            // Nothing was stored: an empty segment file is removed.
            if let Target::Segment { .. } = open.target {
                let path = segment_path(&self.dir, open.seq);
                if let Err(e) = fs::remove_file(&path) {
                    tracing::warn!(target: "store", path = %path.display(), error = %e, "cannot remove an empty segment");
                }
            }
            return;
        }
        let job = match open.target {
            Target::Segment { file, len } => {
                let file = match file.into_inner() {
                    Ok(f) => f,
                    Err(e) => {
                        self.shared
                            .stop(format!("writing a segment: {}", e.error()));
                        return;
                    }
                };
                Job {
                    seq: open.seq,
                    segment: Some((file, segment_path(&self.dir, open.seq))),
                    index_path: segment_index_path(&self.dir, open.seq),
                    builder: open.builder,
                    source: SourceKind::Segment,
                    path: String::new(),
                    covered: len,
                }
            }
            Target::External { path, kind } => Job {
                seq: open.seq,
                segment: None,
                index_path: external_index_path(&self.dir, open.seq),
                builder: open.builder,
                source: kind,
                path,
                covered: open.covered,
            },
        };
        if let Some(jobs) = &self.jobs {
            if jobs.send(job).is_err() {
                self.shared.stop("the sealer thread is gone".into());
            }
        }
    }

    /// Seal the open index and wait for the sealer to finish every index.
    pub fn close(&mut self) {
        self.seal();
        self.jobs = None;
        if let Some(handle) = self.sealer.take() {
            if handle.join().is_err() {
                self.shared.stop("the sealer thread panicked".into());
            }
        }
    }

    fn report_stop(&mut self) {
        if !self.reported_stop {
            self.reported_stop = true;
            self.open = None;
        }
    }
}

impl Drop for PacketStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// The store's status, readable from another thread.
#[derive(Debug, Clone)]
pub struct StatusHandle(Arc<Shared>);

impl StatusHandle {
    pub fn get(&self) -> StoreStatus {
        self.0.status().clone()
    }
}

/// The sealer thread's state: the sealed sets, oldest first.
#[derive(Debug)]
struct Sealer {
    held: Vec<Held>,
    shared: Arc<Shared>,
    max_bytes: u64,
    max_age_ns: u64,
}

impl Sealer {
    fn run(&mut self, jobs: Receiver<Job>) {
        for job in jobs {
            if self.shared.stopped.load(Ordering::Relaxed) {
                continue;
            }
            let index_path = job.index_path.clone();
            match self.seal(job) {
                Ok(held) => {
                    let newest = held.last_ns;
                    self.held.push(held);
                    self.retain(newest);
                }
                Err(e) => self
                    .shared
                    .stop(format!("sealing {}: {e}", index_path.display())),
            }
        }
    }

    fn seal(&self, job: Job) -> std::io::Result<Held> {
        let mut files = Vec::new();
        let mut bytes = 0;
        if let Some((file, path)) = &job.segment {
            file.sync_all()?;
            bytes += file.metadata()?.len();
            files.push(path.clone());
        }
        let index = job.builder.finish(job.source, job.path, job.covered);
        let encoded = index.encode();
        write_durably(&job.index_path, &encoded)?;
        bytes += encoded.len() as u64;
        files.push(job.index_path);
        Ok(Held {
            seq: job.seq,
            first_ns: index.header.first_ns,
            last_ns: index.header.last_ns,
            bytes,
            files,
        })
    }

    /// Remove the oldest sets beyond `max_bytes` or older than `max_age`
    /// (against `now_ns`, the newest capture time), then publish the
    /// status.
    fn retain(&mut self, now_ns: u64) {
        let mut total: u64 = self.held.iter().map(|h| h.bytes).sum();
        let mut expired = 0;
        while let Some(oldest) = self.held.first() {
            let too_old = oldest.last_ns.saturating_add(self.max_age_ns) < now_ns;
            if !(too_old || total > self.max_bytes) {
                break;
            }
            let oldest = self.held.remove(0);
            for f in &oldest.files {
                if let Err(e) = fs::remove_file(f) {
                    tracing::warn!(target: "store", path = %f.display(), error = %e, "cannot remove an expired file");
                }
            }
            total -= oldest.bytes;
            expired += 1;
        }
        let mut status = self.shared.status();
        status.segments_expired += expired;
        status.segments = self.held.len() as u64;
        status.bytes = total;
        status.oldest_ns = self.held.iter().map(|h| h.first_ns).min();
        status.newest_ns = self.held.iter().map(|h| h.last_ns).max();
    }
}
