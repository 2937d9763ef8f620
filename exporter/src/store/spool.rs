//! The open segment on its way to disk. The capture thread copies each
//! record into a 1 MiB block aligned for direct I/O; a thread of its own
//! (the spooler) writes every full block at its place in the segment
//! around the page cache (`O_DIRECT`, where the file system takes it;
//! a buffered write where it refuses) and hands the block back for the
//! next. At seal, the last block is written zero-padded to a whole
//! 4096-byte block, the file cut to its length, and the segment handed
//! with its index to the sealer, after every block of it was written.
//! Indexes of capture files pass through the spooler too, so the sealer
//! takes everything in order.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::durable::{open_direct, Aligned};
use super::sealer::Job;
use super::{Shared, SourceKind};

/// Bytes of a block (a multiple of the direct-write alignment).
const BLOCK: usize = 1 << 20;
/// Blocks there are at most (being filled, waiting or being written):
/// beyond, the capture waits for one back, as it would wait in a
/// buffered write to a slow disk.
const BLOCKS: usize = 2;

/// The open segment's file, on the spooler.
#[derive(Debug)]
struct SegmentFile {
    file: File,
    path: PathBuf,
    /// Opened with `O_DIRECT`.
    direct: bool,
}

impl SegmentFile {
    /// Write `block` at `pos`; a direct write the file system refuses is
    /// done again buffered, and so are the segment's next.
    fn write(&mut self, pos: u64, block: &mut Aligned) -> std::io::Result<()> {
        if block.write_at(&self.file, pos, self.direct)? {
            return Ok(());
        }
        self.file = OpenOptions::new().write(true).open(&self.path)?;
        self.direct = false;
        block.write_at(&self.file, pos, false).map(drop)
    }
}

/// What the spooler is given, in order.
#[derive(Debug)]
enum Work {
    /// A new open segment: the blocks that follow are its.
    Open(SegmentFile),
    /// Write a block at this offset of the open segment, then hand it back.
    Block(u64, Aligned),
    /// An index sealed: for a segment, the open one (`covered` bytes
    /// long), whose blocks were all given.
    Seal(Job),
}

/// The capture thread's side: the block being filled.
#[derive(Debug)]
pub(super) struct Spool {
    work: Sender<Work>,
    free: Receiver<Aligned>,
    thread: JoinHandle<()>,
    /// Blocks made so far, at most [`BLOCKS`].
    made: usize,
    /// The block being filled (`None`: none taken yet).
    block: Option<Aligned>,
    /// The open segment's offset of `block`'s first byte.
    pos: u64,
}

impl Spool {
    /// Start the spooler; it hands sealed indexes to `jobs`.
    pub(super) fn start(shared: Arc<Shared>, jobs: Sender<Job>) -> std::io::Result<Spool> {
        let (work, rx) = mpsc::channel();
        let (back, free) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("store-spooler".into())
            .spawn(move || spool(&rx, &back, &jobs, &shared))?;
        Ok(Spool {
            work,
            free,
            thread,
            made: 0,
            block: None,
            pos: 0,
        })
    }

    /// A new open segment at `path`, starting with `header`.
    pub(super) fn open(&mut self, path: &Path, header: &[u8]) -> std::io::Result<()> {
        let (file, direct) = match open_direct(path)? {
            Some(f) => (f, true),
            None => (File::create(path)?, false),
        };
        let path = path.to_owned();
        self.send(Work::Open(SegmentFile { file, path, direct }))?;
        let mut block = match self.block.take() {
            Some(b) => b,
            None => self.take_block()?,
        };
        block.start(BLOCK);
        block.push(header);
        self.block = Some(block);
        self.pos = 0;
        Ok(())
    }

    /// Append `b` to the open segment.
    #[inline]
    pub(super) fn append(&mut self, mut b: &[u8]) -> std::io::Result<()> {
        loop {
            let Some(block) = self.block.as_mut() else {
                return Err(gone());
            };
            let room = BLOCK - block.len();
            if b.len() < room {
                block.push(b);
                return Ok(());
            }
            let (now, later) = b.split_at(room);
            block.push(now);
            self.pass_block()?;
            b = later;
        }
    }

    /// The full block to the spooler, a free one to fill.
    #[cold]
    fn pass_block(&mut self) -> std::io::Result<()> {
        let full = self.block.take().ok_or_else(gone)?;
        self.send(Work::Block(self.pos, full))?;
        self.pos += BLOCK as u64;
        let mut block = self.take_block()?;
        block.start(BLOCK);
        self.block = Some(block);
        Ok(())
    }

    /// A block back from the spooler, or a new one while there are fewer
    /// than [`BLOCKS`], or (all being written) the next one back.
    fn take_block(&mut self) -> std::io::Result<Aligned> {
        if let Ok(b) = self.free.try_recv() {
            return Ok(b);
        }
        if self.made < BLOCKS {
            self.made += 1;
            return Ok(Aligned::default());
        }
        self.free.recv().map_err(|_| gone())
    }

    /// Seal the open segment (its last block written, then `job` given to
    /// the sealer), or an index of a capture file (`job` given to the
    /// sealer).
    pub(super) fn seal(&mut self, job: Job) -> std::io::Result<()> {
        if job.source == SourceKind::Segment {
            let last = self.block.take().ok_or_else(gone)?;
            self.send(Work::Block(self.pos, last))?;
        }
        self.send(Work::Seal(job))
    }

    /// Forget what the open segment holds (nothing but its header: it is
    /// removed).
    pub(super) fn discard(&mut self) {
        if let Some(b) = self.block.as_mut() {
            b.start(BLOCK);
        }
    }

    /// Wait for the spooler to have written and handed on everything.
    pub(super) fn close(self) -> bool {
        drop(self.work);
        self.thread.join().is_ok()
    }

    fn send(&self, w: Work) -> std::io::Result<()> {
        self.work.send(w).map_err(|_| gone())
    }
}

fn gone() -> std::io::Error {
    std::io::Error::other("the store's spooler thread is gone")
}

/// The spooler thread: write the blocks, hand them back, hand the sealed
/// indexes on to the sealer.
fn spool(work: &Receiver<Work>, back: &Sender<Aligned>, jobs: &Sender<Job>, shared: &Shared) {
    let mut open: Option<SegmentFile> = None;
    for w in work {
        match w {
            Work::Open(f) => open = Some(f),
            Work::Block(pos, mut block) => {
                if let Some(f) = open.as_mut() {
                    if !shared.stopped.load(Ordering::Relaxed) {
                        if let Err(e) = f.write(pos, &mut block) {
                            open = None;
                            shared.stop(format!("writing a segment: {e}"));
                        }
                    }
                }
                // The capture may be gone (closing): the block is then freed.
                let _ = back.send(block);
            }
            Work::Seal(mut job) => {
                if job.source == SourceKind::Segment {
                    let Some(f) = open.take() else {
                        continue;
                    };
                    // A direct write's padding cut off.
                    if f.direct {
                        if let Err(e) = f.file.set_len(job.covered) {
                            shared.stop(format!("writing a segment: {e}"));
                            continue;
                        }
                    }
                    job.segment = Some((f.file, f.path));
                }
                if jobs.send(job).is_err() {
                    shared.stop("the sealer thread is gone".into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::builder::{Builder, FlowIds, Spare};
    use super::*;

    /// Two segments through one spooler, on a disk file system and,
    /// where there is one, on tmpfs (kernels before 6.6 refuse direct
    /// writes there: buffered): each file holds exactly what was
    /// appended, whether it ends mid-block or at a block's end, and
    /// reaches the sealer after its last block.
    #[test]
    fn a_segment_is_written_whole_through_the_blocks() {
        let base = std::env::temp_dir().join(format!("ew-spool-{}", std::process::id()));
        let shm = Path::new("/dev/shm").join(format!("ew-spool-{}", std::process::id()));
        for dir in [base, shm] {
            if fs::create_dir_all(&dir).is_err() {
                continue;
            }
            let shared = Arc::new(Shared::default());
            let (jobs, sealed) = mpsc::channel();
            let mut spool = Spool::start(Arc::clone(&shared), jobs).expect("spooler");
            // More blocks than there are: some come back for reuse.
            for (seq, len) in [(1u64, 5 * BLOCK + 1234), (2, 2 * BLOCK)] {
                let path = dir.join(format!("seg-{seq}.ewpk"));
                let mut want = vec![seq as u8; 16];
                spool.open(&path, &want).expect("open");
                let mut n = 0usize;
                while want.len() < len {
                    let size = (n * 37 % 3000 + 1).min(len - want.len());
                    let record: Vec<u8> = (0..size).map(|i| (i + n) as u8).collect();
                    spool.append(&record).expect("append");
                    want.extend_from_slice(&record);
                    n += 1;
                }
                let job = Job {
                    seq,
                    segment: None,
                    index_path: path.with_extension("ewpi"),
                    builder: Builder::new(Spare::default(), 0, &mut FlowIds::default()),
                    source: SourceKind::Segment,
                    path: String::new(),
                    covered: want.len() as u64,
                };
                spool.seal(job).expect("seal");
                let job = sealed.recv().expect("handed to the sealer");
                let (_, written) = job.segment.expect("the segment");
                assert_eq!(written, path);
                let got = fs::read(&path).expect("read back");
                assert_eq!(got.len(), want.len(), "{path:?}");
                assert!(got == want, "{path:?}: the bytes appended");
            }
            assert!(spool.close());
            assert!(!shared.stopped.load(Ordering::Relaxed));
            fs::remove_dir_all(&dir).expect("clean up");
        }
    }
}
