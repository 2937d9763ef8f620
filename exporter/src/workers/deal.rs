//! The reading side of `--workers N`: frames read from the capture
//! (files in shared read blocks, live frames copied) into batches, dealt to
//! the workers round robin.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::blocks::Block;
use crate::capture::{self, FileSource, Frame, LiveSource, ReadFor, Replayed, Shared};
use crate::config::Config;
use crate::{open_live, wall_ms, KernelLog, RunError};

use super::{ToStore, BATCH, LIVE_FLUSH_MS};

/// A batch of frames from the reading thread.
#[derive(Debug, Default)]
pub(super) struct Frames {
    /// The read block of the built-in reader the frames are in, shared
    /// (not copied); one per batch.
    pub(super) block: Option<Block>,
    /// Frames copied out of the capture: live capture, libpcap, records
    /// across the end of a block.
    pub(super) bytes: Vec<u8>,
    /// Where each frame is, its length on the wire, its time.
    pub(super) frames: Vec<(At, u32, u64)>,
    /// With a packet store: each frame's capture time (ns) and offset in
    /// its file.
    pub(super) stored: Vec<(u64, u64)>,
    /// Time the caches may expire up to after these frames.
    pub(super) tick_ms: u64,
}

/// Where a frame of a batch is: its start and end in the batch's block
/// (`shared`) or in its copied bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    start: usize,
    end: usize,
    shared: bool,
}

impl Frames {
    /// The bytes of the frame at `at`.
    pub(super) fn data(&self, at: At) -> &[u8] {
        let bytes = match (&self.block, at.shared) {
            (Some(block), true) => &block[..],
            _ => &self.bytes[..],
        };
        bytes.get(at.start..at.end).unwrap_or(&[])
    }
}

/// The reading side: fills batches and deals them out round robin.
pub(super) struct Dealer {
    outputs: Vec<SyncSender<Arc<Frames>>>,
    /// Batches the workers are done with, to be filled again: a
    /// fresh 1.6 MB buffer per batch cost a page fault per 4 KiB (the
    /// system time of `--workers 2` was twice one worker's).
    recycled: Receiver<Frames>,
    /// With a packet store: every batch, and where each file begins.
    store: Option<SyncSender<ToStore>>,
    next: usize,
    pub(super) batch: Frames,
    /// False once a worker is gone (it only stops when its peers do).
    pub(super) open: bool,
}

impl Dealer {
    /// A dealer to `outputs` (one per worker), refilling the batches that
    /// come back on `recycled`, every batch also to `store` when set.
    pub(super) fn new(
        outputs: Vec<SyncSender<Arc<Frames>>>,
        recycled: Receiver<Frames>,
        store: Option<SyncSender<ToStore>>,
    ) -> Dealer {
        Dealer {
            outputs,
            recycled,
            store,
            next: 0,
            batch: Frames::default(),
            open: true,
        }
    }

    /// Add `f` (in `shared`'s block, or copied) to the batch.
    fn push(&mut self, f: &Frame<'_>, now_ms: u64, shared: Option<Shared<'_>>) {
        let at = match shared {
            Some((block, start)) => {
                if !self
                    .batch
                    .block
                    .as_ref()
                    .is_some_and(|b| Arc::ptr_eq(b, block))
                {
                    // One block per batch.
                    if self.batch.block.is_some() {
                        self.flush(self.batch.tick_ms);
                    }
                    self.batch.block = Some(Arc::clone(block));
                }
                At {
                    start,
                    end: start + f.data.len(),
                    shared: true,
                }
            }
            None => {
                let start = self.batch.bytes.len();
                self.batch.bytes.extend_from_slice(f.data);
                At {
                    start,
                    end: self.batch.bytes.len(),
                    shared: false,
                }
            }
        };
        self.batch.frames.push((at, f.wire_len, now_ms));
        if self.store.is_some() {
            self.batch.stored.push((f.ts_ns, f.offset));
        }
        self.batch.tick_ms = self.batch.tick_ms.max(now_ms);
        if self.batch.frames.len() >= BATCH {
            self.flush(now_ms);
        }
    }

    /// Send the batch (maybe empty: a tick) to the next worker.
    pub(super) fn flush(&mut self, tick_ms: u64) {
        let n = self.outputs.len();
        let next = match self.recycled.try_recv() {
            Ok(mut frames) => {
                frames.block = None;
                frames.bytes.clear();
                frames.frames.clear();
                frames.stored.clear();
                frames.tick_ms = 0;
                frames
            }
            Err(_) => Frames {
                block: None,
                bytes: Vec::with_capacity(BATCH * 1600),
                frames: Vec::with_capacity(BATCH),
                stored: Vec::new(),
                tick_ms: 0,
            },
        };
        let mut batch = std::mem::replace(&mut self.batch, next);
        batch.tick_ms = batch.tick_ms.max(tick_ms);
        self.batch.tick_ms = batch.tick_ms;
        let batch = Arc::new(batch);
        if let Some(tx) = self.outputs.get(self.next) {
            self.open &= tx.send(Arc::clone(&batch)).is_ok();
        }
        if let Some(tx) = &self.store {
            self.open &= tx.send(ToStore::Frames(batch)).is_ok();
        }
        self.next = (self.next + 1) % n;
    }

    /// Replaying: the frames that follow are `file`'s.
    fn begin_file(&mut self, file: &FileSource) {
        if self.store.is_none() {
            return;
        }
        let last = self.batch.tick_ms;
        self.flush(last);
        if let Some(tx) = &self.store {
            let message = ToStore::File(file.path().to_owned(), file.format());
            self.open &= tx.send(message).is_ok();
        }
    }
}

/// Files or an interface, opened.
pub(super) enum Input {
    Files(Vec<FileSource>),
    Live(LiveSource),
}

impl Input {
    pub(super) fn open(config: &Config) -> Result<Input, RunError> {
        if let Some(interface) = &config.capture.interface {
            return Ok(Input::Live(open_live(config, interface)?));
        }
        let files = config
            .capture
            .read
            .iter()
            .map(|p| FileSource::open(p, config.capture.file_reader, ReadFor::Workers))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Input::Files(files))
    }

    /// Read every frame into `dealer` until the end or `shutdown`; the
    /// capture errors, and a live capture's kernel counters.
    pub(super) fn deal(
        self,
        config: &Config,
        dealer: &mut Dealer,
        shutdown: &AtomicBool,
    ) -> (Vec<String>, Option<capture::KernelCounters>) {
        let mut errors = Vec::new();
        match self {
            Input::Live(mut live) => {
                let mut log =
                    KernelLog::new(Duration::from_secs(config.capture.stats_interval_secs));
                let mut next_flush = Instant::now();
                while !shutdown.load(Ordering::Relaxed) && dealer.open {
                    match live.next_event() {
                        Ok(capture::Live::Frame(f)) => dealer.push(&f, wall_ms(), None),
                        Ok(capture::Live::Idle) => dealer.flush(wall_ms()),
                        Err(e) => {
                            tracing::error!(target: "capture", error = %e, "live capture failed");
                            errors.push(e.to_string());
                            break;
                        }
                    }
                    if Instant::now() >= next_flush {
                        next_flush = Instant::now() + Duration::from_millis(LIVE_FLUSH_MS);
                        dealer.flush(wall_ms());
                    }
                    if log.due() {
                        log.read_counters(&mut live);
                    }
                }
                let counters = log.read_counters(&mut live);
                (errors, counters)
            }
            Input::Files(mut files) => {
                capture::replay(&mut files, config.send.speed, true, &mut errors, |event| {
                    match event {
                        Replayed::File(file) => dealer.begin_file(file),
                        Replayed::Frame(f, ms, shared) => dealer.push(f, ms, shared),
                        Replayed::Check => {
                            if shutdown.load(Ordering::Relaxed) || !dealer.open {
                                return ControlFlow::Break(());
                            }
                        }
                    }
                    ControlFlow::Continue(())
                });
                (errors, None)
            }
        }
    }
}
