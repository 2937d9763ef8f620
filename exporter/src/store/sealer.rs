//! The sealer thread: fsyncs a sealed segment, writes its index durably,
//! then applies retention and publishes the status.

use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use super::builder::{Builder, Scratch, Spare};
use super::durable::write_durably;
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
