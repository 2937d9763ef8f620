//! Spool: batches kept on disk while ClickHouse is unreachable or failing.
//!
//! One segment file per batch, named by a sequence number
//! (`00000000000000000042.seg`) so the oldest comes first. A segment is
//! written to `NAME.tmp`, fsynced, renamed to `NAME.seg` and the directory
//! fsynced: only then does the sink count its rows as spooled (before that
//! they are in memory, like every row not yet confirmed by ClickHouse).
//! A `.tmp` left by a crash was never acknowledged and is removed at start.
//!
//! Layout of a segment: the magic `EWSPOOL2`, the row count (u32 LE), the
//! payload length (u64 LE), the CRC-32 (IEEE) of the payload (u32 LE), then
//! the payload: the batch's Native block, the very bytes an insert sends
//! ([`Block`]), compressed with LZ4 (block format, its uncompressed size
//! first as u32 LE). A segment whose header, checksum, compression or row
//! count does not match is renamed to `NAME.corrupt` (kept for inspection),
//! logged and its rows counted as dropped; a truncated one too.
//!
//! Segments of the earlier layout (magic `EWSPOOL1`, the rows as a JSON
//! array of [`FlowRow`], written by collectors before the Native spool) are
//! still read: their rows are encoded into a block and replayed like the
//! others, so an upgrade with a spool left on disk loses nothing.
//!
//! The spool is bounded by `max_bytes`: before a new segment would exceed
//! it, the oldest segments are deleted, logged and their rows counted in
//! `eastwest_collector_spool_dropped_rows_total` — never silently.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use eastwest_clickhouse::schema::{native_block_rows, FlowRow, FlowsBlock};

use crate::block::Block;
use crate::metrics::{counter, gauge, Counter, Gauge, Registry};

/// The spool's figures (`eastwest_collector_spool_*`): what it holds, what
/// it lost.
#[derive(Debug)]
pub struct SpoolMetrics {
    pub bytes: Gauge,
    pub segments: Gauge,
    pub rows: Gauge,
    pub dropped_rows: Counter,
    pub errors: Counter,
}

impl SpoolMetrics {
    /// The figures, registered in `registry`.
    pub fn new(registry: &mut Registry) -> Arc<SpoolMetrics> {
        Arc::new(SpoolMetrics {
            bytes: gauge(
                registry,
                "spool_bytes",
                "Bytes of batches spooled on disk while ClickHouse is away",
            ),
            segments: gauge(
                registry,
                "spool_segments",
                "Segment files (one batch each) in the spool",
            ),
            rows: gauge(
                registry,
                "spool_rows",
                "Rows in the spool, fsynced, waiting for ClickHouse",
            ),
            dropped_rows: counter(
                registry,
                "spool_dropped_rows",
                "Rows lost from the spool: oldest segments dropped at the size limit, or corrupt",
            ),
            errors: counter(
                registry,
                "spool_errors",
                "Spool writes, reads or removals that failed (disk full, permissions)",
            ),
        })
    }
}

const MAGIC: &[u8; 8] = b"EWSPOOL2";
/// The magic of segments whose payload is the rows as JSON.
const MAGIC_JSON: &[u8; 8] = b"EWSPOOL1";
const HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// Why a spool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("spool {path}: corrupt segment ({reason})")]
    Corrupt { path: PathBuf, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One segment on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    seq: u64,
    rows: u64,
    bytes: u64,
}

/// The spool directory and what it holds, oldest segment first.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segments: VecDeque<Segment>,
    bytes: u64,
    rows: u64,
    next_seq: u64,
    metrics: Arc<SpoolMetrics>,
}

impl Spool {
    /// Open (creating it if needed) the spool in `dir`: remove unfinished
    /// `.tmp` writes, index the segments left by an earlier run (a crash or
    /// a shutdown with ClickHouse away), to be replayed first.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        metrics: Arc<SpoolMetrics>,
    ) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut segments = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                fs::remove_file(&path).map_err(io_err(&path))?;
                tracing::warn!(path = %path.display(), "spool: removed a segment whose write never finished");
                continue;
            }
            let Some(seq) = name
                .strip_suffix(".seg")
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            match read_header(&path) {
                Ok((rows, bytes)) => segments.push(Segment { seq, rows, bytes }),
                Err(err) => {
                    // A truncated segment still names its rows: they are
                    // lost, and counted.
                    let rows = header_rows(&path).unwrap_or(0);
                    tracing::error!(%err, rows, "spool: unreadable segment set aside, its rows are lost");
                    set_aside(&path);
                    metrics.errors.inc();
                    metrics.dropped_rows.inc_by(rows);
                }
            }
        }
        segments.sort_by_key(|s| s.seq);
        let next_seq = segments.last().map_or(0, |s| s.seq + 1);
        let spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            bytes: segments.iter().map(|s| s.bytes).sum(),
            rows: segments.iter().map(|s| s.rows).sum(),
            segments: segments.into(),
            next_seq,
            metrics,
        };
        if !spool.is_empty() {
            tracing::info!(segments = spool.segments.len(), rows = spool.rows, bytes = spool.bytes, dir = %dir.display(), "spool: found batches of an earlier run, replaying them first");
        }
        spool.publish();
        Ok(spool)
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Rows on disk.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.seg"))
    }

    fn publish(&self) {
        self.metrics.bytes.set(self.bytes);
        self.metrics.segments.set(self.segments.len() as u64);
        self.metrics.rows.set(self.rows);
    }

    /// Write `block` as the newest segment and fsync it; on `Ok` its rows
    /// are on disk. Oldest segments are dropped (and counted) first when the
    /// new one would take the spool past `max_bytes`.
    pub fn push(&mut self, block: &Block) -> Result<(), SpoolError> {
        let payload = compress(block);
        let rows = block.rows();
        let bytes = (HEADER_LEN + payload.len()) as u64;
        while !self.segments.is_empty() && self.bytes + bytes > self.max_bytes {
            self.drop_oldest();
        }
        let seq = self.next_seq;
        let path = self.path(seq);
        let tmp = path.with_extension("tmp");
        let write = || -> io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(MAGIC)?;
            file.write_all(&(rows as u32).to_le_bytes())?;
            file.write_all(&(payload.len() as u64).to_le_bytes())?;
            file.write_all(&crc32(&payload).to_le_bytes())?;
            file.write_all(&payload)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        };
        if let Err(source) = write() {
            let _ = fs::remove_file(&tmp);
            self.metrics.errors.inc();
            return Err(SpoolError::Io { path, source });
        }
        self.next_seq += 1;
        self.segments.push_back(Segment {
            seq,
            rows: rows as u64,
            bytes,
        });
        self.bytes += bytes;
        self.rows += rows as u64;
        self.publish();
        Ok(())
    }

    fn drop_oldest(&mut self) {
        let Some(oldest) = self.segments.pop_front() else {
            return;
        };
        let path = self.path(oldest.seq);
        if let Err(err) = fs::remove_file(&path) {
            self.metrics.errors.inc();
            tracing::error!(%err, path = %path.display(), "spool: cannot remove the oldest segment");
        }
        self.bytes -= oldest.bytes;
        self.rows -= oldest.rows;
        self.metrics.dropped_rows.inc_by(oldest.rows);
        tracing::warn!(
            rows = oldest.rows,
            bytes = oldest.bytes,
            max_bytes = self.max_bytes,
            "spool: size limit reached, oldest segment dropped"
        );
        self.publish();
    }

    /// The block of the oldest segment, without removing it. A corrupt
    /// segment is set aside, counted as dropped, and the next one is read.
    pub fn front(&mut self) -> Result<Option<Block>, SpoolError> {
        while let Some(oldest) = self.segments.front() {
            let path = self.path(oldest.seq);
            match read_segment(&path) {
                Ok(block) => return Ok(Some(block)),
                Err(SpoolError::Corrupt { path, reason }) => {
                    let rows = oldest.rows;
                    tracing::error!(path = %path.display(), %reason, rows, "spool: corrupt segment set aside, its rows are lost");
                    set_aside(&path);
                    self.metrics.dropped_rows.inc_by(rows);
                    self.forget_front();
                }
                Err(err) => {
                    self.metrics.errors.inc();
                    return Err(err);
                }
            }
        }
        Ok(None)
    }

    /// Remove the oldest segment once ClickHouse confirmed its rows.
    pub fn pop(&mut self) -> Result<(), SpoolError> {
        if let Some(oldest) = self.segments.front() {
            let path = self.path(oldest.seq);
            if let Err(source) = fs::remove_file(&path) {
                if source.kind() != io::ErrorKind::NotFound {
                    self.metrics.errors.inc();
                    return Err(SpoolError::Io { path, source });
                }
            }
            self.forget_front();
        }
        Ok(())
    }

    fn forget_front(&mut self) {
        if let Some(oldest) = self.segments.pop_front() {
            self.bytes -= oldest.bytes;
            self.rows -= oldest.rows;
        }
        self.publish();
    }
}

fn set_aside(path: &Path) {
    let _ = fs::rename(path, path.with_extension("corrupt"));
}

/// The rows a segment's header announces, if it has one.
fn header_rows(path: &Path) -> Option<u64> {
    let mut header = [0u8; HEADER_LEN];
    File::open(path).ok()?.read_exact(&mut header).ok()?;
    parse_header(path, &header).ok().map(|(_, rows, _, _)| rows)
}

/// Rows and size of a segment, from its header.
fn read_header(path: &Path) -> Result<(u64, u64), SpoolError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header)
        .map_err(|_| SpoolError::Corrupt {
            path: path.to_path_buf(),
            reason: "shorter than its header".into(),
        })?;
    let (_, rows, len, _) = parse_header(path, &header)?;
    let size = file.metadata().map_err(io_err(path))?.len();
    if size != HEADER_LEN as u64 + len {
        return Err(SpoolError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("{size} bytes, the header says {}", HEADER_LEN as u64 + len),
        });
    }
    Ok((rows, size))
}

/// The payload's layout, from the magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// An LZ4-compressed Native block.
    Native,
    /// The rows as JSON (segments of earlier collectors).
    Json,
}

/// The layout, rows, payload length and checksum a header announces.
fn parse_header(
    path: &Path,
    header: &[u8; HEADER_LEN],
) -> Result<(Layout, u64, u64, u32), SpoolError> {
    let layout = match &header[..8] {
        magic if magic == MAGIC => Layout::Native,
        magic if magic == MAGIC_JSON => Layout::Json,
        _ => {
            return Err(SpoolError::Corrupt {
                path: path.to_path_buf(),
                reason: "bad magic".into(),
            })
        }
    };
    let word = |range: std::ops::Range<usize>| {
        header[range]
            .iter()
            .rev()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b))
    };
    Ok((layout, word(8..12), word(12..20), word(20..24) as u32))
}

/// The block as a segment's payload: LZ4, uncompressed size first.
fn compress(block: &Block) -> Vec<u8> {
    lz4_flex::compress_prepend_size(&block.to_vec())
}

fn read_segment(path: &Path) -> Result<Block, SpoolError> {
    let data = fs::read(path).map_err(io_err(path))?;
    let corrupt = |reason: String| SpoolError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let header: &[u8; HEADER_LEN] = data
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| corrupt("shorter than its header".into()))?;
    let (layout, rows, len, crc) = parse_header(path, header)?;
    let payload = &data[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(corrupt(format!(
            "payload of {} bytes, the header says {len}",
            payload.len()
        )));
    }
    if crc32(payload) != crc {
        return Err(corrupt("checksum mismatch".into()));
    }
    let (found, block) = match layout {
        Layout::Native => {
            // LZ4 expands at most 255 times: a larger size is damage, not
            // an allocation to attempt.
            let size = payload.get(..4).map_or(u64::MAX, |s| {
                u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            });
            if size > payload.len() as u64 * 255 {
                return Err(corrupt(format!(
                    "uncompressed size {size} for {} compressed bytes",
                    payload.len()
                )));
            }
            let native = lz4_flex::decompress_size_prepended(payload)
                .map_err(|err| corrupt(format!("payload: {err}")))?;
            let found = native_block_rows(&native).unwrap_or(u64::MAX);
            (found, Block::from_bytes(found as usize, native))
        }
        Layout::Json => {
            let batch: Vec<FlowRow> = serde_json::from_slice(payload)
                .map_err(|err| corrupt(format!("payload: {err}")))?;
            let block = Block::new(FlowsBlock::from_rows(&batch));
            (batch.len() as u64, block)
        }
    };
    if found != rows {
        return Err(corrupt(format!("{found} rows, the header says {rows}")));
    }
    Ok(block)
}

/// CRC-32 (IEEE 802.3, reflected, as zlib and gzip compute it).
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !data.iter().fold(!0u32, |crc, &b| {
        TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(range: std::ops::Range<u64>) -> Vec<FlowRow> {
        range
            .map(|n| FlowRow {
                start_ms: n,
                bytes: n * 10,
                src_vm: format!("vm-{n}").into(),
                ..FlowRow::default()
            })
            .collect()
    }

    fn block(range: std::ops::Range<u64>) -> Block {
        Block::new(FlowsBlock::from_rows(&rows(range)))
    }

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("eastwest-spool-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// A segment file with this magic, row count and payload.
    fn segment(magic: &[u8; 8], rows: u32, payload: &[u8]) -> Vec<u8> {
        let mut data = magic.to_vec();
        data.extend_from_slice(&rows.to_le_bytes());
        data.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        data.extend_from_slice(&crc32(payload).to_le_bytes());
        data.extend_from_slice(payload);
        data
    }

    #[test]
    fn crc32_of_the_check_string() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn segments_come_back_in_order_after_a_reopen() {
        let dir = dir("order");
        let metrics = SpoolMetrics::new(&mut Registry::default());
        let mut spool = Spool::open(&dir, 1 << 20, metrics.clone()).unwrap();
        spool.push(&block(0..3)).unwrap();
        spool.push(&block(3..5)).unwrap();
        // An unfinished write of a crashed run.
        fs::write(dir.join("00000000000000000009.tmp"), b"EWSPOOL2 half").unwrap();
        drop(spool);
        let mut spool = Spool::open(&dir, 1 << 20, metrics.clone()).unwrap();
        assert_eq!(spool.rows(), 5);
        assert_eq!(metrics.segments.get(), 2);
        assert!(!dir.join("00000000000000000009.tmp").exists());
        assert_eq!(spool.front().unwrap(), Some(block(0..3)));
        spool.pop().unwrap();
        spool.push(&block(5..6)).unwrap();
        assert_eq!(spool.front().unwrap(), Some(block(3..5)));
        spool.pop().unwrap();
        assert_eq!(spool.front().unwrap(), Some(block(5..6)));
        spool.pop().unwrap();
        assert_eq!(spool.front().unwrap(), None);
        assert_eq!((metrics.bytes.get(), metrics.rows.get()), (0, 0));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_limit_drops_the_oldest_and_counts_it() {
        let dir = dir("limit");
        let metrics = SpoolMetrics::new(&mut Registry::default());
        let one = (HEADER_LEN + compress(&block(0..10)).len()) as u64;
        let mut spool = Spool::open(&dir, one * 2 + one / 2, metrics.clone()).unwrap();
        spool.push(&block(0..10)).unwrap();
        spool.push(&block(10..20)).unwrap();
        assert_eq!(metrics.dropped_rows.get(), 0);
        spool.push(&block(20..30)).unwrap();
        assert_eq!(metrics.dropped_rows.get(), 10);
        assert_eq!(spool.rows(), 20);
        assert!(metrics.bytes.get() <= one * 2 + one / 2);
        assert_eq!(spool.front().unwrap(), Some(block(10..20)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_segment_is_set_aside_and_counted() {
        let dir = dir("corrupt");
        let metrics = SpoolMetrics::new(&mut Registry::default());
        let mut spool = Spool::open(&dir, 1 << 20, metrics.clone()).unwrap();
        spool.push(&block(0..4)).unwrap();
        spool.push(&block(4..6)).unwrap();
        let first = dir.join("00000000000000000000.seg");
        let mut data = fs::read(&first).unwrap();
        let last = data.len() - 2;
        data[last] ^= 0x01;
        fs::write(&first, data).unwrap();
        assert_eq!(spool.front().unwrap(), Some(block(4..6)));
        assert_eq!(metrics.dropped_rows.get(), 4);
        assert!(dir.join("00000000000000000000.corrupt").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn damaged_payloads_are_set_aside_without_a_panic() {
        let dir = dir("damaged");
        fs::create_dir_all(&dir).unwrap();
        let native = block(0..3).to_vec();
        let good = lz4_flex::compress_prepend_size(&native);
        let cut = &good[..good.len() - 5];
        let damaged = [
            // Valid checksums over a payload LZ4 cannot decompress.
            segment(MAGIC, 3, b"\xff\xff\xff\x7fnot lz4 at all"),
            segment(MAGIC, 3, cut),
            // A block that decompresses but holds 3 rows, not 7.
            segment(MAGIC, 7, &good),
            // JSON that is not rows.
            segment(MAGIC_JSON, 1, b"{\"rows\": 1}"),
        ];
        for (n, data) in damaged.iter().enumerate() {
            fs::write(dir.join(format!("{n:020}.seg")), data).unwrap();
        }
        fs::write(
            dir.join(format!("{:020}.seg", damaged.len())),
            segment(MAGIC, 3, &good),
        )
        .unwrap();
        let metrics = SpoolMetrics::new(&mut Registry::default());
        let mut spool = Spool::open(&dir, 1 << 20, metrics.clone()).unwrap();
        assert_eq!(spool.front().unwrap(), Some(block(0..3)));
        assert_eq!(metrics.dropped_rows.get(), 3 + 3 + 7 + 1);
        assert_eq!(
            fs::read_dir(&dir)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension() == Some("corrupt".as_ref()))
                .count(),
            4
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_truncated_segment_is_counted_at_start() {
        let dir = dir("truncated");
        let metrics = SpoolMetrics::new(&mut Registry::default());
        let mut spool = Spool::open(&dir, 1 << 20, metrics.clone()).unwrap();
        spool.push(&block(0..4)).unwrap();
        spool.push(&block(4..9)).unwrap();
        drop(spool);
        let second = dir.join("00000000000000000001.seg");
        let data = fs::read(&second).unwrap();
        fs::write(&second, &data[..data.len() / 2]).unwrap();
        let mut spool = Spool::open(&dir, 1 << 20, metrics.clone()).unwrap();
        assert_eq!(metrics.dropped_rows.get(), 5);
        assert_eq!(metrics.errors.get(), 1);
        assert!(dir.join("00000000000000000001.corrupt").exists());
        assert_eq!(spool.front().unwrap(), Some(block(0..4)));
        spool.pop().unwrap();
        assert_eq!(spool.front().unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn segments_of_the_json_layout_are_replayed() {
        let dir = dir("json");
        fs::create_dir_all(&dir).unwrap();
        let old = rows(0..5);
        fs::write(
            dir.join("00000000000000000003.seg"),
            segment(MAGIC_JSON, 5, &serde_json::to_vec(&old).unwrap()),
        )
        .unwrap();
        let metrics = SpoolMetrics::new(&mut Registry::default());
        let mut spool = Spool::open(&dir, 1 << 20, metrics.clone()).unwrap();
        assert_eq!(spool.rows(), 5);
        assert_eq!(spool.front().unwrap(), Some(block(0..5)));
        spool.pop().unwrap();
        // New segments number on after it.
        spool.push(&block(5..6)).unwrap();
        assert!(dir.join("00000000000000000004.seg").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
