//! The writer side: the open segment (or the capture file being
//! replayed) and its in-memory index, fed frame by frame by the pipeline.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::builder::{Builder, FlowIds, Scratch, Spare};
use super::recover::recover;
use super::sealer::{Job, Sealer};
use super::spool::Spool;
use super::{
    external_index_path, format, io_err, segment_index_path, segment_path, Entry, Keyer, Shared,
    SourceKind, StatusHandle, StoreConfig, StoreError, StoreKey, StoreStatus,
};
use crate::cache::{FlowId, StoreMark};
use crate::capture::Frame;

/// Where the open index's frames go.
#[derive(Debug)]
enum Target {
    /// A segment of the store (live capture), `len` bytes long, written
    /// through the [`Spool`].
    Segment { len: u64 },
    /// A capture file being replayed: nothing is written but the index.
    External { path: String, kind: SourceKind },
}

/// Frames an index of a capture file takes: as many as a segment holds
/// of the smallest Ethernet frames (64 bytes and their record header),
/// so both kinds of index take at most the same memory to build and seal.
/// A replay writes nothing but its index, so it need not be cut as often
/// as a segment is, and each index keys every flow it meets again.
fn external_frames(config: &StoreConfig) -> u64 {
    (config.segment_bytes / (format::RECORD_HEADER_LEN as u64 + 64)).max(1)
}

#[derive(Debug)]
struct Open {
    seq: u64,
    target: Target,
    builder: Builder,
    /// What the index takes before it is sealed: frame bytes for a
    /// segment ([`StoreConfig::segment_bytes`]), frames for a capture
    /// file ([`external_frames`]).
    room: u64,
    /// End of the last frame referenced (capture files).
    covered: u64,
    /// Capture time at which the index spans `segment_secs` (MAX before
    /// its first frame).
    seal_ns: u64,
}

impl Open {
    fn new(seq: u64, target: Target, builder: Builder, config: &StoreConfig) -> Self {
        let room = match target {
            Target::Segment { .. } => config.segment_bytes,
            Target::External { .. } => external_frames(config),
        };
        Open {
            seq,
            target,
            builder,
            room,
            covered: 0,
            seal_ns: u64::MAX,
        }
    }
}

/// The writer side of the store, owned by the pipeline.
#[derive(Debug)]
pub struct PacketStore {
    dir: PathBuf,
    config: StoreConfig,
    next_seq: u64,
    open: Option<Open>,
    shared: Arc<Shared>,
    /// Where the open segment's bytes and the sealed indexes go
    /// (`None`: closed).
    spool: Option<Spool>,
    sealer: Option<JoinHandle<()>>,
    /// The newest capture time seen ("now" for retention).
    newest_ns: u64,
    frames: u64,
    unindexed: u64,
    reported_stop: bool,
    /// Frames of the last index sealed: the next one's room.
    frames_hint: usize,
    /// The cache's flows known to the open index.
    flow_ids: FlowIds,
    /// Sealed builders' memory, back from the sealer.
    spares: Receiver<Spare>,
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
        let (spare_tx, spares) = mpsc::channel();
        let mut sealer = Sealer {
            held,
            shared: Arc::clone(&shared),
            max_bytes: config.max_bytes.saturating_sub(config.segment_bytes),
            max_age_ns: config.max_age_secs.saturating_mul(1_000_000_000),
            scratch: Scratch::default(),
            spares: spare_tx,
        };
        *shared.status() = status;
        sealer.retain(newest_ns);
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("store-sealer".into())
            .spawn(move || sealer.run(rx))
            .map_err(io_err(dir))?;
        let spool = Spool::start(Arc::clone(&shared), tx).map_err(io_err(dir))?;
        Ok(PacketStore {
            dir: dir.to_owned(),
            config: config.clone(),
            next_seq,
            open: None,
            shared,
            spool: Some(spool),
            sealer: Some(handle),
            newest_ns,
            frames: 0,
            unindexed: 0,
            reported_stop: false,
            frames_hint: 0,
            flow_ids: FlowIds::default(),
            spares,
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
        let target = Target::External {
            path: path.display().to_string(),
            kind,
        };
        self.open = Some(Open::new(
            self.take_seq(),
            target,
            self.builder(),
            &self.config,
        ));
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

    /// A builder for a new index, in the memory of a sealed one when the
    /// sealer has handed one back (the others it did are freed).
    fn builder(&mut self) -> Builder {
        let spare = self.spares.try_iter().last().unwrap_or_default();
        Builder::new(spare, self.frames_hint, &mut self.flow_ids)
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Whether a frame captured at `ts_ns` goes into a new index (the
    /// open one is sealed first): before that, every frame written must
    /// be indexed.
    #[inline]
    pub fn would_seal(&self, ts_ns: u64) -> bool {
        self.open
            .as_ref()
            .is_some_and(|open| open.room == 0 || ts_ns >= open.seal_ns)
    }

    /// Write one frame (a segment) or note where it is (a capture file)
    /// into the open index, where [`PacketStore::index`] or
    /// [`PacketStore::index_flow`] keys it once the frame is keyed;
    /// false when the store stopped.
    #[inline(always)]
    pub fn write(&mut self, f: &Frame<'_>) -> bool {
        let going = self.open.is_some()
            && !self.would_seal(f.ts_ns)
            && !self.shared.stopped.load(Ordering::Relaxed);
        if !going && !self.make_room(f.ts_ns) {
            return false;
        }
        self.newest_ns = self.newest_ns.max(f.ts_ns);
        let Some(open) = self.open.as_mut() else {
            return false;
        };
        let cap_len = f.data.len() as u32;
        let wire_len = f.wire_len.max(cap_len);
        let pos = match &mut open.target {
            Target::Segment { len } => {
                let h = format::RecordHeader {
                    ts_ns: f.ts_ns,
                    cap_len,
                    wire_len,
                };
                if let Err(e) = write_record(self.spool.as_mut(), &h, f.data) {
                    self.open = None;
                    self.shared.stop(format!("writing a segment: {e}"));
                    return false;
                }
                let pos = *len;
                *len += (format::RECORD_HEADER_LEN + f.data.len()) as u64;
                open.room = open.room.saturating_sub(u64::from(cap_len));
                pos
            }
            Target::External { .. } => {
                // Whatever the format, a frame's data ends before this.
                open.covered = open
                    .covered
                    .max(f.offset + (format::RECORD_HEADER_LEN as u64) + u64::from(cap_len));
                open.room = open.room.saturating_sub(1);
                f.offset
            }
        };
        if open.builder.first_ns.is_none() {
            let span = self.config.segment_secs.saturating_mul(1_000_000_000);
            open.seal_ns = f.ts_ns.saturating_add(span);
        }
        open.builder.push(Entry {
            pos,
            ts_ns: f.ts_ns,
            cap_len,
            wire_len,
        });
        self.frames += 1;
        true
    }

    /// [`PacketStore::write`] off its common path: the store stopped,
    /// the open index is to be sealed or there is none. False when the
    /// frame cannot be stored.
    #[cold]
    #[inline(never)]
    fn make_room(&mut self, ts_ns: u64) -> bool {
        if self.shared.stopped.load(Ordering::Relaxed) {
            self.report_stop();
            return false;
        }
        if self.would_seal(ts_ns) {
            self.roll();
        }
        if self.open.is_none() {
            if let Err(e) = self.open_segment() {
                self.shared.stop(format!("cannot open a segment: {e}"));
                return false;
            }
        }
        true
    }

    /// Index the oldest frame [`PacketStore::write`] wrote and not yet
    /// indexed (before any other frame that would seal the index) under
    /// its flow key (`None`: not IP).
    #[inline]
    pub fn index(&mut self, key: Option<StoreKey>) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if key.is_none() {
            self.unindexed += 1;
        }
        open.builder.place(key);
    }

    /// The mark the next frame to index gives its flow in the cache
    /// ([`FlowCache::ingest_marked`]); `None`: no frame waits for its
    /// key.
    ///
    /// [`FlowCache::ingest_marked`]: crate::cache::FlowCache::ingest_marked
    #[inline]
    pub fn mark(&self) -> Option<StoreMark> {
        self.open.as_ref().and_then(|o| o.builder.mark())
    }

    /// [`PacketStore::index`] of a frame the cache counted in a flow
    /// marked `mark` ([`FlowCache::last_mark`] after
    /// [`FlowCache::ingest_marked`] with [`PacketStore::mark`]), whose
    /// key `key` gives (asked once per flow and index).
    ///
    /// [`FlowCache::last_mark`]: crate::cache::FlowCache::last_mark
    /// [`FlowCache::ingest_marked`]: crate::cache::FlowCache::ingest_marked
    #[inline]
    pub fn index_marked(&mut self, mark: StoreMark, key: impl FnOnce() -> StoreKey) {
        if let Some(open) = self.open.as_mut() {
            open.builder.place_marked(mark, key);
        }
    }

    /// [`PacketStore::index`] of a frame the cache counted in `flow`,
    /// whose key `key` gives (asked once per flow and index).
    #[inline]
    pub fn index_flow(&mut self, flow: FlowId, key: impl FnOnce() -> StoreKey) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        open.builder.place_flow(&mut self.flow_ids, flow, key);
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
            let target = Target::External { path, kind };
            self.open = Some(Open::new(
                self.take_seq(),
                target,
                self.builder(),
                &self.config,
            ));
        }
    }

    fn open_segment(&mut self) -> std::io::Result<()> {
        let seq = self.take_seq();
        let path = segment_path(&self.dir, seq);
        let spool = self
            .spool
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the store is closed"))?;
        spool.open(&path, &format::segment_header(seq))?;
        let target = Target::Segment {
            len: format::SEGMENT_HEADER_LEN as u64,
        };
        self.open = Some(Open::new(seq, target, self.builder(), &self.config));
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
        self.frames_hint = open.builder.len();
        if open.builder.first_ns.is_none() {
            // Nothing was stored: an empty segment file is removed.
            if let Target::Segment { .. } = open.target {
                if let Some(spool) = &mut self.spool {
                    spool.discard();
                }
                let path = segment_path(&self.dir, open.seq);
                if let Err(e) = fs::remove_file(&path) {
                    tracing::warn!(target: "store", path = %path.display(), error = %e, "cannot remove an empty segment");
                }
            }
            return;
        }
        let job = match open.target {
            Target::Segment { len } => Job {
                seq: open.seq,
                // The spooler's, once every block is written.
                segment: None,
                index_path: segment_index_path(&self.dir, open.seq),
                builder: open.builder,
                source: SourceKind::Segment,
                path: String::new(),
                covered: len,
            },
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
        if let Some(spool) = &mut self.spool {
            if let Err(e) = spool.seal(job) {
                self.shared.stop(format!("sealing: {e}"));
            }
        }
    }

    /// Seal the open index and wait for the sealer to finish every index.
    pub fn close(&mut self) {
        self.seal();
        if let Some(spool) = self.spool.take() {
            if !spool.close() {
                self.shared.stop("the spooler thread panicked".into());
            }
        }
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

/// Append one record (header and frame) to the open segment.
#[inline(never)]
fn write_record(
    spool: Option<&mut Spool>,
    h: &format::RecordHeader,
    data: &[u8],
) -> std::io::Result<()> {
    let spool = spool.ok_or_else(|| std::io::Error::other("the store is closed"))?;
    spool.append(&h.encode())?;
    spool.append(data)
}
