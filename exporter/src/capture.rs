//! Stage `capture`: frames from pcap/pcapng files or a live interface.
//!
//! Capture files (classic pcap and pcapng, and stdin `-`) are read by
//! `eastwest_core::pcapfile` (faster than libpcap here, see the README, and
//! it reports damage by byte offset); with `file_reader = "libpcap"` they
//! go through libpcap, opened with nanosecond precision (libpcap scales
//! microsecond files up). Live capture is libpcap's. Capture times are
//! nanoseconds since the Unix epoch either way. Only Ethernet link types
//! are accepted: the mirror formats this exporter understands all start
//! with an Ethernet header; a pcapng interface of another link type stops
//! the file with an error naming it.

use std::fs::File;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use eastwest_core::pcapfile::{self, Reader, RecordHeader};
use pcap::{Active, Capture, Linktype, Offline, Precision};
use serde::{Deserialize, Serialize};

use crate::blocks::{Block, Blocks};
use crate::direct::{self, DirectFile};
use crate::send::{Pacer, Speed};

/// Which code reads capture files (`capture.file_reader`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FileReader {
    /// The built-in reader (`eastwest_core::pcapfile`): classic pcap and
    /// pcapng, files and stdin, through a 256 KiB `read()` buffer (1 MiB
    /// with `--workers`).
    #[default]
    Auto,
    /// The built-in reader, a regular file read around the page cache
    /// (`O_DIRECT`) where its file system takes it:
    /// less CPU per packet, at the storage's read rate.
    Direct,
    /// Every file with libpcap.
    Libpcap,
}

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Length on the wire (may exceed `data.len()` when snapped).
    pub wire_len: u32,
    pub data: &'a [u8],
    /// Byte offset of the frame's record (pcap) or block (pcapng) in its
    /// file, with the built-in reader; 0 otherwise.
    pub offset: u64,
}

/// Why capture could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open capture file {path}: {message}")]
    OpenFile { path: PathBuf, message: String },
    #[error("capture file {path} has link type {linktype}; only Ethernet (EN10MB) is supported")]
    FileLinktype { path: PathBuf, linktype: String },
    #[error("capture file {path}: interface {interface} (block at offset {offset}) has link type {linktype}; only Ethernet (EN10MB) is supported")]
    InterfaceInFile {
        path: PathBuf,
        interface: u32,
        offset: u64,
        linktype: String,
    },
    #[error("cannot capture on interface {iface}: {message}")]
    OpenInterface { iface: String, message: String },
    #[error("interface {iface} has link type {linktype}; only Ethernet (EN10MB) is supported")]
    InterfaceLinktype { iface: String, linktype: String },
    #[error("invalid capture filter {filter:?}: {message}")]
    Filter { filter: String, message: String },
    #[error("cannot read the kernel counters of {iface}: {message}")]
    Stats { iface: String, message: String },
    #[error("reading {source_name} failed after {frames} frames: {message}")]
    Read {
        source_name: String,
        frames: u64,
        message: String,
    },
}

/// What the frames a [`FileSource`] reads are for, which sizes the
/// built-in reader's reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFor {
    /// One thread parses each block right after reading it: 256 KiB, so
    /// the block the kernel just copied is still in the core's cache
    /// (a replay took about 4 % fewer CPU-seconds than with 1 MiB reads).
    OneThread,
    /// Blocks shared with worker threads (`--workers`), 1 MiB: a batch
    /// of frames ends where its block does.
    Workers,
}

impl ReadFor {
    /// Bytes per buffered `read()`.
    fn buffered(self) -> usize {
        match self {
            ReadFor::OneThread => 256 << 10,
            ReadFor::Workers => 1 << 20,
        }
    }
}

/// Bytes per direct read: each waits for the storage, so fewer and larger.
const DIRECT_READ: usize = 1 << 20;

fn linktype_name(lt: Linktype) -> String {
    match lt.get_name() {
        Ok(name) => format!("{name} ({})", lt.0),
        Err(_) => lt.0.to_string(),
    }
}

fn ts_ns(header: &pcap::PacketHeader) -> u64 {
    let secs = u64::try_from(header.ts.tv_sec).unwrap_or(0);
    let frac = u64::try_from(header.ts.tv_usec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(frac)
}

/// A capture file being read.
pub struct FileSource {
    path: PathBuf,
    reader: FileInput,
    frames: u64,
}

enum FileInput {
    /// The built-in reader: `read()` into shared blocks.
    Native {
        reader: Reader<Blocks<Box<dyn Read + Send>>>,
        buf: Vec<u8>,
    },
    Libpcap(Capture<Offline>),
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .finish()
    }
}

impl FileSource {
    /// Open a pcap or pcapng file (`-`: stdin), its frames read `for_`
    /// one thread or workers; its link type must be Ethernet.
    pub fn open(path: &Path, how: FileReader, for_: ReadFor) -> Result<Self, CaptureError> {
        match how {
            FileReader::Auto => Self::open_native(path, false, for_.buffered()),
            FileReader::Direct => Self::open_native(path, true, for_.buffered()),
            FileReader::Libpcap => Self::open_libpcap(path),
        }
    }

    /// The built-in reader, `read` bytes a `read()`; `direct`: a regular
    /// file around the page cache where its file system takes it
    /// ([`DIRECT_READ`] bytes a read).
    fn open_native(path: &Path, direct: bool, read: usize) -> Result<Self, CaptureError> {
        let open_err = |message: String| CaptureError::OpenFile {
            path: path.to_owned(),
            message,
        };
        let stdin = path == Path::new("-");
        let direct = match direct && !stdin {
            true => DirectFile::open(path).map_err(|e| open_err(e.to_string()))?,
            false => None,
        };
        let blocks = match direct {
            Some(file) => Blocks::aligned(DIRECT_READ, direct::ALIGN, Box::new(file) as Box<_>),
            None if stdin => Blocks::new(read, Box::new(std::io::stdin()) as Box<_>),
            None => Blocks::new(
                read,
                Box::new(File::open(path).map_err(|e| open_err(e.to_string()))?) as Box<_>,
            ),
        };
        let reader = Reader::new(blocks).map_err(|e| open_err(e.to_string()))?;
        Ok(FileSource {
            path: path.to_owned(),
            reader: FileInput::Native {
                reader: ethernet_file(path, reader)?,
                buf: Vec::with_capacity(usize::from(u16::MAX)),
            },
            frames: 0,
        })
    }

    fn open_libpcap(path: &Path) -> Result<Self, CaptureError> {
        let cap = Capture::from_file_with_precision(path, Precision::Nano).map_err(|e| {
            CaptureError::OpenFile {
                path: path.to_owned(),
                message: e.to_string(),
            }
        })?;
        let lt = cap.get_datalink();
        if lt != Linktype::ETHERNET {
            return Err(CaptureError::FileLinktype {
                path: path.to_owned(),
                linktype: linktype_name(lt),
            });
        }
        Ok(FileSource {
            path: path.to_owned(),
            reader: FileInput::Libpcap(cap),
            frames: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's format, when the built-in reader reads it.
    pub fn format(&self) -> Option<pcapfile::Format> {
        match &self.reader {
            FileInput::Native { reader, .. } => Some(reader.header().format),
            FileInput::Libpcap(_) => None,
        }
    }

    /// True when the built-in reader reads this file.
    pub fn is_native(&self) -> bool {
        !matches!(self.reader, FileInput::Libpcap(_))
    }

    /// The next frame; `Ok(None)` at the end of the file. An error means the
    /// file is corrupt or truncated from here on; with the built-in reader
    /// it names the byte offset of the damage.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        let read_err = |frames: u64, message: String| CaptureError::Read {
            source_name: self.path.display().to_string(),
            frames,
            message,
        };
        match &mut self.reader {
            FileInput::Native { reader, buf } => {
                native_frame(&self.path, &mut self.frames, reader.next_ref(buf))
            }
            FileInput::Libpcap(cap) => match cap.next_packet() {
                Ok(p) => {
                    self.frames += 1;
                    Ok(Some(Frame {
                        ts_ns: ts_ns(p.header),
                        wire_len: p.header.len,
                        data: p.data,
                        offset: 0,
                    }))
                }
                Err(pcap::Error::NoMorePackets) => Ok(None),
                Err(e) => Err(read_err(self.frames, e.to_string())),
            },
        }
    }

    /// [`FileSource::next_frame`], and where the built-in reader lent
    /// the frame's bytes from: its current block and the frame's start
    /// in it, to be shared without copying (`None`: they are elsewhere).
    #[inline]
    pub fn next_shared(&mut self) -> Result<Option<(Frame<'_>, Option<Shared<'_>>)>, CaptureError> {
        if !self.is_native() {
            return Ok(self.next_frame()?.map(|f| (f, None)));
        }
        let Some(f) = self.next_frame()? else {
            return Ok(None);
        };
        // Where the bytes are, by address: the borrow of the frame ends
        // here, the block and the scratch buffer are looked at next.
        let (at, len) = (f.data.as_ptr() as usize, f.data.len());
        let (ts_ns, wire_len, offset) = (f.ts_ns, f.wire_len, f.offset);
        let FileInput::Native { reader, buf } = &self.reader else {
            return Ok(None);
        };
        let frame = |data| Frame {
            ts_ns,
            wire_len,
            data,
            offset,
        };
        let block = reader.get_ref().block();
        let start = at.wrapping_sub(block.as_ptr() as usize);
        if let Some(data) = start.checked_add(len).and_then(|end| block.get(start..end)) {
            return Ok(Some((frame(data), Some((block, start)))));
        }
        // A record across the end of a block: read into the scratch buffer.
        let start = at.wrapping_sub(buf.as_ptr() as usize);
        let data = start.checked_add(len).and_then(|end| buf.get(start..end));
        Ok(Some((frame(data.unwrap_or(&[])), None)))
    }
}

/// A frame's bytes in a shared block: the block and where they start.
pub type Shared<'a> = (&'a Block, usize);

/// What [`replay`] hands its caller, in order.
#[derive(Debug)]
pub enum Replayed<'r, 'f> {
    /// The next file starts.
    File(&'r FileSource),
    /// A frame of the current file, its capture time in milliseconds and,
    /// when [`replay`] was asked to share, its bytes' block.
    Frame(&'r Frame<'f>, u64, Option<Shared<'f>>),
    /// After every [`REPLAY_CHECK_EVERY`] frames: the caller's chance to
    /// report progress and to stop (`ControlFlow::Break`).
    Check,
}

/// Frames between two [`Replayed::Check`]s.
pub const REPLAY_CHECK_EVERY: u32 = 1024;

/// Read `files` one after the other, paced by `speed`, handing every file
/// and frame to `on`. A damaged file is logged, its error appended to
/// `errors`, and the next file read; `on` stops everything by returning
/// `ControlFlow::Break` at a [`Replayed::Check`]. With `share`, frames
/// come with their shared block ([`FileSource::next_shared`]).
pub fn replay(
    files: &mut [FileSource],
    speed: Speed,
    share: bool,
    errors: &mut Vec<String>,
    mut on: impl FnMut(Replayed<'_, '_>) -> ControlFlow<()>,
) {
    let mut pacer = Pacer::new(speed);
    let start = Instant::now();
    for file in files {
        if on(Replayed::File(file)).is_break() {
            return;
        }
        let mut n: u32 = 0;
        loop {
            let next = if share {
                file.next_shared()
            } else {
                file.next_frame().map(|f| f.map(|f| (f, None)))
            };
            match next {
                Ok(Some((f, shared))) => {
                    if pacer.paces() {
                        let wait = pacer.delay(f.ts_ns, start.elapsed());
                        if !wait.is_zero() {
                            std::thread::sleep(wait);
                        }
                    }
                    let ms = ns_to_ms(f.ts_ns);
                    if on(Replayed::Frame(&f, ms, shared)).is_break() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(target: "capture", error = %e, "capture file is damaged");
                    errors.push(e.to_string());
                    break;
                }
            }
            n = n.wrapping_add(1);
            if n.is_multiple_of(REPLAY_CHECK_EVERY) && on(Replayed::Check).is_break() {
                return;
            }
        }
    }
}

/// `reader` when its file's first interface is Ethernet.
fn ethernet_file<R: Read>(path: &Path, reader: Reader<R>) -> Result<Reader<R>, CaptureError> {
    let lt = reader.header().linktype;
    if lt != pcapfile::LINKTYPE_ETHERNET {
        return Err(CaptureError::FileLinktype {
            path: path.to_owned(),
            linktype: linktype_name(Linktype(i32::try_from(lt).unwrap_or(-1))),
        });
    }
    Ok(reader)
}

/// What the built-in reader's `next_ref` returned, as a frame (inlined
/// into the per-frame loop: called for every frame).
#[inline(always)]
fn native_frame<'a>(
    path: &Path,
    frames: &mut u64,
    next: Result<Option<(RecordHeader, &'a [u8])>, pcapfile::PcapError>,
) -> Result<Option<Frame<'a>>, CaptureError> {
    match next {
        Ok(Some((h, _))) if h.linktype != pcapfile::LINKTYPE_ETHERNET => {
            Err(CaptureError::InterfaceInFile {
                path: path.to_owned(),
                interface: h.interface,
                offset: h.offset,
                linktype: linktype_name(Linktype(i32::try_from(h.linktype).unwrap_or(-1))),
            })
        }
        Ok(Some((h, data))) => {
            *frames += 1;
            Ok(Some(Frame {
                ts_ns: h.timestamp_ns,
                wire_len: h.orig_len,
                data,
                offset: h.offset,
            }))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(CaptureError::Read {
            source_name: path.display().to_string(),
            frames: *frames,
            message: e.to_string(),
        }),
    }
}

/// Live capture settings (`[capture]` in the config file, with the
/// file list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConfig {
    pub interface: String,
    pub snaplen: i32,
    /// BPF filter expression ("" = everything).
    pub filter: String,
    /// Kernel capture buffer (the packet ring), KiB.
    pub buffer_kib: u32,
    /// How long to sleep when no frame is waiting, so the cache can expire
    /// flows (and a shutdown is seen) when no packet comes.
    pub idle_ms: u64,
}

/// The kernel's counters of a live capture (libpcap's `pcap_stats`),
/// totals since the capture started. Field names are `--stats-json` keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KernelCounters {
    /// Packets the capture filter passed (libpcap `ps_recv`; on Linux
    /// this includes the dropped ones).
    pub received: u64,
    /// Packets dropped because the capture buffer was full: the exporter
    /// did not keep up (`ps_drop`).
    pub dropped: u64,
    /// Packets dropped by the interface or its driver (`ps_ifdrop`).
    pub if_dropped: u64,
}

/// 32-bit libpcap counters (which wrap) summed into 64-bit totals.
#[derive(Debug, Clone, Copy, Default)]
struct CounterTotals {
    last: [u32; 3],
    total: KernelCounters,
}

impl CounterTotals {
    fn update(&mut self, now: [u32; 3]) -> KernelCounters {
        let delta = |i: usize| u64::from(now[i].wrapping_sub(self.last[i]));
        self.total.received += delta(0);
        self.total.dropped += delta(1);
        self.total.if_dropped += delta(2);
        self.last = now;
        self.total
    }
}

/// A live capture on an interface.
pub struct LiveSource {
    iface: String,
    idle: std::time::Duration,
    cap: Capture<Active>,
    frames: u64,
    counters: CounterTotals,
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("iface", &self.iface)
            .field("frames", &self.frames)
            .finish()
    }
}

/// What a live read returned.
#[derive(Debug)]
pub enum Live<'a> {
    Frame(Frame<'a>),
    /// No frame was waiting (after an idle sleep).
    Idle,
}

impl LiveSource {
    /// Open `interface` in promiscuous mode with the snap length and filter.
    pub fn open(config: &LiveConfig) -> Result<Self, CaptureError> {
        let iface = config.interface.clone();
        let open_err = |e: pcap::Error| CaptureError::OpenInterface {
            iface: iface.clone(),
            message: e.to_string(),
        };
        let mut cap = Capture::from_device(iface.as_str())
            .map_err(open_err)?
            .promisc(true)
            .snaplen(config.snaplen)
            .buffer_size(i32::try_from(u64::from(config.buffer_kib) * 1024).unwrap_or(i32::MAX))
            .timeout(config.idle_ms.clamp(1, 1_000) as i32)
            .precision(Precision::Nano)
            .open()
            .map_err(open_err)?
            // Non-blocking: libpcap's read timeout on Linux does not fire
            // while no packet at all arrives, so idle ticks are ours.
            .setnonblock()
            .map_err(open_err)?;
        let lt = cap.get_datalink();
        if lt != Linktype::ETHERNET {
            return Err(CaptureError::InterfaceLinktype {
                iface,
                linktype: linktype_name(lt),
            });
        }
        if !config.filter.is_empty() {
            cap.filter(&config.filter, true)
                .map_err(|e| CaptureError::Filter {
                    filter: config.filter.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(LiveSource {
            iface,
            idle: std::time::Duration::from_millis(config.idle_ms),
            cap,
            frames: 0,
            counters: CounterTotals::default(),
        })
    }

    /// The kernel's counters so far.
    pub fn kernel_counters(&mut self) -> Result<KernelCounters, CaptureError> {
        let stat = self.cap.stats().map_err(|e| CaptureError::Stats {
            iface: self.iface.clone(),
            message: e.to_string(),
        })?;
        Ok(self
            .counters
            .update([stat.received, stat.dropped, stat.if_dropped]))
    }

    /// The next frame or an idle tick.
    pub fn next_event(&mut self) -> Result<Live<'_>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => {
                self.frames += 1;
                Ok(Live::Frame(Frame {
                    ts_ns: ts_ns(p.header),
                    wire_len: p.header.len,
                    data: p.data,
                    offset: 0,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => {
                std::thread::sleep(self.idle);
                Ok(Live::Idle)
            }
            Err(e) => Err(CaptureError::Read {
                source_name: self.iface.clone(),
                frames: self.frames,
                message: e.to_string(),
            }),
        }
    }
}

/// Capture time (ns since the epoch) as the flow cache's milliseconds.
pub(crate) fn ns_to_ms(ns: u64) -> u64 {
    ns / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    #[test]
    fn reads_every_frame_with_nanosecond_times() {
        let path = data("tcpdump__erspan-type-iii-ft-0.pcap");
        let mut seen = Vec::new();
        for how in [FileReader::Auto, FileReader::Direct, FileReader::Libpcap] {
            let mut src = FileSource::open(&path, how, ReadFor::OneThread).expect("open");
            assert_eq!(src.is_native(), how != FileReader::Libpcap);
            let mut frames = Vec::new();
            let mut last = 0;
            while let Some(f) = src.next_frame().expect("frame") {
                assert!(f.ts_ns >= last);
                assert!(f.ts_ns > 1_000_000_000 * 1_000_000_000, "epoch ns");
                assert_eq!(f.wire_len as usize, f.data.len());
                last = f.ts_ns;
                frames.push((f.ts_ns, f.wire_len, f.data.to_vec()));
            }
            assert_eq!(frames.len(), 9);
            seen.push(frames);
        }
        assert_eq!(
            seen[0], seen[1],
            "the built-in reader and libpcap read the same frames"
        );
    }

    #[test]
    fn kernel_counters_survive_wrap_around() {
        let mut c = CounterTotals::default();
        assert_eq!(
            c.update([10, 2, 0]),
            KernelCounters {
                received: 10,
                dropped: 2,
                if_dropped: 0
            }
        );
        c.update([u32::MAX - 1, 3, 1]);
        let t = c.update([5, 3, 1]);
        assert_eq!(t.received, u64::from(u32::MAX) + 6);
        assert_eq!((t.dropped, t.if_dropped), (3, 1));
    }

    #[test]
    fn missing_file_names_the_file() {
        for how in [FileReader::Auto, FileReader::Direct, FileReader::Libpcap] {
            let err = FileSource::open(Path::new("/nonexistent/x.pcap"), how, ReadFor::OneThread)
                .expect_err("missing");
            let text = err.to_string();
            assert!(text.contains("/nonexistent/x.pcap"), "{text}");
        }
    }

    #[test]
    fn non_ethernet_file_names_the_link_type() {
        for how in [FileReader::Auto, FileReader::Direct, FileReader::Libpcap] {
            let err =
                FileSource::open(&data("ndpi__fuzz-2021-10-13.pcap"), how, ReadFor::OneThread)
                    .expect_err("NULL link");
            let text = err.to_string();
            assert!(matches!(err, CaptureError::FileLinktype { .. }), "{text}");
            assert!(text.contains("NULL"), "{text}");
            assert!(text.contains("ndpi__fuzz-2021-10-13.pcap"), "{text}");
        }
    }
}
