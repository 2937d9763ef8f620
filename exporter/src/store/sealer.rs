//! The sealer thread: fsyncs a sealed segment, writes its index durably,
//! then applies retention and publishes the status.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use super::builder::{Builder, Scratch, Spare};
use super::{Shared, SourceKind};

/// One sealed file set, oldest first in the sealer's list.
#[derive(Debug, Clone)]
pub(super) struct Held {
    pub(super) seq: u64,
    pub(super) first_ns: u64,
    pub(super) last_ns: u64,
    pub(super) bytes: u64,
    pub(super) files: Vec<PathBuf>,
}

/// What a file written around the page cache (`O_DIRECT`) is aligned to:
/// its memory's address, the length written and the file offset.
const DIRECT_ALIGN: usize = 4096;

/// An encoded index in memory a direct write takes as it is: the bytes
/// start at an address aligned to [`DIRECT_ALIGN`] and have room after
/// them for the padding to a whole block.
#[derive(Debug, Default)]
pub(super) struct Encoded {
    buf: Vec<u8>,
    /// Where the bytes start in `buf`.
    at: usize,
}

impl Encoded {
    /// Empty, with room for `len` bytes: the vector to append them to.
    pub(super) fn start(&mut self, len: usize) -> &mut Vec<u8> {
        self.buf.clear();
        self.buf.reserve(len + 2 * DIRECT_ALIGN);
        self.at = self
            .buf
            .as_ptr()
            .align_offset(DIRECT_ALIGN)
            .min(DIRECT_ALIGN);
        self.buf.resize(self.at, 0);
        &mut self.buf
    }

    /// The encoded bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        self.buf.get(self.at..).unwrap_or_default()
    }

    /// Write the bytes to a new file at `path` around the page cache (no
    /// copy into it) and fsync it; false, with nothing written, when the
    /// memory is not aligned or the file system does not take direct
    /// writes.
    fn write_direct(&mut self, path: &Path) -> std::io::Result<bool> {
        let len = self.bytes().len();
        self.buf
            .resize(self.at + len.next_multiple_of(DIRECT_ALIGN), 0);
        let aligned = self
            .buf
            .as_ptr()
            .wrapping_add(self.at)
            .align_offset(DIRECT_ALIGN)
            == 0;
        let written = match self.buf.get(self.at..) {
            Some(padded) if aligned => direct(path, padded, len as u64),
            _ => Ok(false),
        };
        self.buf.truncate(self.at + len);
        written
    }
}

/// [`Encoded::write_direct`] of `padded`, whose first `len` bytes are
/// the file's.
fn direct(path: &Path, padded: &[u8], len: u64) -> std::io::Result<bool> {
    let unsupported = |e: &std::io::Error| e.raw_os_error() == Some(libc::EINVAL);
    let opened = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path);
    let mut f = match opened {
        Ok(f) => f,
        Err(e) if unsupported(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    match f.write_all(padded) {
        Ok(()) => {}
        Err(e) if unsupported(&e) => return Ok(false),
        Err(e) => return Err(e),
    }
    f.set_len(len)?;
    f.sync_all()?;
    Ok(true)
}

/// Write `index` to `path` so that after a crash it is either whole or
/// absent: a temporary file (written around the page cache where the
/// file system allows), fsync, rename, fsync of the directory.
pub(super) fn write_durably(path: &Path, index: &mut Encoded) -> std::io::Result<()> {
    let tmp = path.with_extension("ewpi.tmp");
    if !index.write_direct(&tmp)? {
        let mut f = File::create(&tmp)?;
        f.write_all(index.bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}
/// A sealed index for the sealer thread.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) seq: u64,
    pub(super) segment: Option<(File, PathBuf)>,
    pub(super) index_path: PathBuf,
    pub(super) builder: Builder,
    pub(super) source: SourceKind,
    /// The capture file (empty for a segment).
    pub(super) path: String,
    pub(super) covered: u64,
}
/// The sealer thread's state: the sealed sets, oldest first.
#[derive(Debug)]
pub(super) struct Sealer {
    pub(super) held: Vec<Held>,
    pub(super) shared: Arc<Shared>,
    pub(super) max_bytes: u64,
    pub(super) max_age_ns: u64,
    /// Working memory kept from one index to the next.
    pub(super) scratch: Scratch,
    /// Where a sealed builder's vectors go back to the writer.
    pub(super) spares: Sender<Spare>,
}

impl Sealer {
    pub(super) fn run(&mut self, jobs: Receiver<Job>) {
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

    fn seal(&mut self, job: Job) -> std::io::Result<Held> {
        let mut files = Vec::new();
        let mut bytes = 0;
        if let Some((file, path)) = &job.segment {
            file.sync_all()?;
            bytes += file.metadata()?.len();
            files.push(path.clone());
        }
        let (header, spare) =
            job.builder
                .finish(&mut self.scratch, job.source, job.path, job.covered);
        // The writer may be gone (closing): the memory is then freed.
        let _ = self.spares.send(spare);
        write_durably(&job.index_path, &mut self.scratch.index)?;
        bytes += self.scratch.index.bytes().len() as u64;
        files.push(job.index_path);
        Ok(Held {
            seq: job.seq,
            first_ns: header.first_ns,
            last_ns: header.last_ns,
            bytes,
            files,
        })
    }

    /// Remove the oldest sets beyond `max_bytes` or older than `max_age`
    /// (against `now_ns`, the newest capture time), then publish the
    /// status.
    pub(super) fn retain(&mut self, now_ns: u64) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An index written durably reads back whole, its length exact
    /// (the direct write's padding cut off), on a disk file system and,
    /// where there is one, on tmpfs (kernels before 6.6 refuse direct
    /// writes there: the buffered write).
    #[test]
    fn an_index_is_written_whole_directly_or_not() {
        let base = std::env::temp_dir().join(format!("ew-sealer-{}", std::process::id()));
        let shm = Path::new("/dev/shm").join(format!("ew-sealer-{}", std::process::id()));
        for dir in [base, shm] {
            if fs::create_dir_all(&dir).is_err() {
                continue;
            }
            for len in [1usize, 4095, 4096, 4097, 3 * 4096 + 24] {
                let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let mut index = Encoded::default();
                index.start(len).extend_from_slice(&bytes);
                let path = dir.join(format!("seg-{len}.ewpi"));
                write_durably(&path, &mut index).expect("written");
                assert_eq!(
                    fs::read(&path).expect("read back"),
                    bytes,
                    "{len} bytes in {dir:?}"
                );
                assert_eq!(index.bytes(), bytes, "the encoded bytes are kept");
                assert!(!path.with_extension("ewpi.tmp").exists());
            }
            fs::remove_dir_all(&dir).expect("clean up");
        }
    }
}
