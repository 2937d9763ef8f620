//! Extraction: the frames of a time window matching a filter, from the
//! store's sealed indexes, written out as pcapng in time order.
//!
//! [`plan`] reads each index's header (skipping those outside the window),
//! its flow table, and the entries of the matching flows only; no frame is
//! read until [`Plan::write_pcapng`] copies them, one at a time, to its
//! writer. The open segment (at most `segment_bytes` or `segment_secs` of
//! traffic) is not served until it is sealed.

use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use eastwest_core::pcapfile::{NgWriter, LINKTYPE_ETHERNET, MAX_RECORD_LEN};

use super::format::{self, Entry, IndexHeader, SourceKind, StoreKey};

/// Which frames to extract. Addresses and ports match either end of a
/// conversation (a flow key holds both directions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Window, capture time in ns since the Unix epoch, `from` included,
    /// `to` excluded.
    pub from_ns: u64,
    pub to_ns: u64,
    /// One end's address.
    pub host: Option<IpAddr>,
    /// The other end's address (with `host`: that conversation only).
    pub peer: Option<IpAddr>,
    /// A port of either end.
    pub port: Option<u16>,
    pub proto: Option<u8>,
    pub vlan: Option<u16>,
    pub vni: Option<u32>,
    /// Observation domain.
    pub domain: Option<u32>,
}

impl Filter {
    pub fn matches(&self, k: &StoreKey) -> bool {
        let ends = match (self.host, self.peer) {
            (Some(h), Some(p)) => (k.a == h && k.b == p) || (k.a == p && k.b == h),
            (Some(x), None) | (None, Some(x)) => k.a == x || k.b == x,
            (None, None) => true,
        };
        ends && self.port.is_none_or(|p| k.a_port == p || k.b_port == p)
            && self.proto.is_none_or(|p| k.proto == p)
            && self.vlan.is_none_or(|v| k.vlan == v)
            && self.vni.is_none_or(|v| k.vni == v)
            && self.domain.is_none_or(|d| k.domain == d)
    }
}

/// Why frames cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("the packet store holds no frame")]
    Empty,
    #[error("the window ends before the oldest frame the store holds")]
    Expired { oldest_ns: u64 },
    #[error("the answer would be {bytes} bytes, over the limit of {limit}")]
    TooLarge { bytes: u64, limit: u64 },
    #[error("capture file {path} changed since it was indexed")]
    SourceChanged { path: String },
    #[error("reading {path}: {message}")]
    Read { path: PathBuf, message: String },
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> QueryError + '_ {
    move |e| QueryError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

#[derive(Debug)]
struct Source {
    file: File,
    kind: SourceKind,
}

/// The frames to extract, found, not yet read.
#[derive(Debug)]
pub struct Plan {
    sources: Vec<Source>,
    /// (capture time, source, entry), in time order.
    frames: Vec<(u64, usize, Entry)>,
    /// Size of the pcapng answer.
    pub bytes: u64,
    /// The oldest frame the store holds.
    pub oldest_ns: u64,
}

/// Bytes of the pcapng section and interface headers.
const PCAPNG_HEADERS: u64 = 28 + 32;

fn epb_len(cap_len: u32) -> u64 {
    32 + u64::from(cap_len).next_multiple_of(4)
}

/// The store's index files, in sequence order.
fn index_files(dir: &Path) -> Result<Vec<PathBuf>, QueryError> {
    let mut files: Vec<(u64, PathBuf)> = Vec::new();
    for item in std::fs::read_dir(dir).map_err(read_err(dir))? {
        let item = item.map_err(read_err(dir))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".ewpi") else {
            continue;
        };
        if let Some(seq) = stem.split_once('-').and_then(|(_, s)| s.parse().ok()) {
            files.push((seq, item.path()));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

fn read_at(file: &File, path: &Path, at: u64, len: u64) -> Result<Vec<u8>, QueryError> {
    let len = usize::try_from(len).map_err(|_| QueryError::Read {
        path: path.to_owned(),
        message: "index too large".into(),
    })?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, at).map_err(read_err(path))?;
    Ok(buf)
}

/// An index's header, read from the start of its file.
fn read_header(file: &File, path: &Path) -> Result<IndexHeader, QueryError> {
    let damaged = |e: format::FormatError| QueryError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let head = read_at(file, path, 0, format::INDEX_HEADER_LEN as u64)?;
    match IndexHeader::parse(&head) {
        Err(format::FormatError::Truncated { what: "index path" }) => {
            let path_len = u64::from(u32::from_le_bytes([head[56], head[57], head[58], head[59]]));
            let whole = read_at(file, path, 0, format::INDEX_HEADER_LEN as u64 + path_len)?;
            IndexHeader::parse(&whole).map_err(damaged)
        }
        other => other.map_err(damaged),
    }
}

/// Find the frames `filter` selects; an error when the answer would
/// exceed `limit` bytes.
pub fn plan(dir: &Path, filter: &Filter, limit: u64) -> Result<Plan, QueryError> {
    let mut sources = Vec::new();
    let mut frames = Vec::new();
    let mut oldest_ns: Option<u64> = None;
    let mut bytes = PCAPNG_HEADERS;
    for path in index_files(dir)? {
        // Retention may remove an index between the listing and here.
        let Ok(file) = File::open(&path) else {
            continue;
        };
        let header = read_header(&file, &path)?;
        if header.is_empty() {
            continue;
        }
        oldest_ns = Some(oldest_ns.map_or(header.first_ns, |o| o.min(header.first_ns)));
        if header.last_ns < filter.from_ns || header.first_ns >= filter.to_ns {
            continue;
        }
        let Some((flows_at, entries_at, _)) = header.layout() else {
            continue;
        };
        let table = read_at(
            &file,
            &path,
            flows_at,
            header.flows * format::FLOW_LEN as u64,
        )?;
        let mut wanted = Vec::new();
        for flow in format::parse_flows(&table) {
            if !filter.matches(&flow.key) {
                continue;
            }
            let at = entries_at + flow.first * format::ENTRY_LEN as u64;
            let raw = read_at(
                &file,
                &path,
                at,
                u64::from(flow.count) * format::ENTRY_LEN as u64,
            )?;
            wanted.extend(
                format::parse_entries(&raw)
                    .into_iter()
                    .filter(|e| e.ts_ns >= filter.from_ns && e.ts_ns < filter.to_ns),
            );
        }
        if wanted.is_empty() {
            continue;
        }
        for e in &wanted {
            if e.cap_len == 0 || e.cap_len > MAX_RECORD_LEN {
                return Err(QueryError::Read {
                    path,
                    message: "index entry out of range".into(),
                });
            }
            bytes += epb_len(e.cap_len);
        }
        if bytes > limit {
            return Err(QueryError::TooLarge { bytes, limit });
        }
        let source_path = match header.source {
            SourceKind::Segment => path.with_extension("ewpk"),
            SourceKind::Pcap | SourceKind::Pcapng => PathBuf::from(&header.path),
        };
        let source = File::open(&source_path).map_err(read_err(&source_path))?;
        let len = source.metadata().map_err(read_err(&source_path))?.len();
        if len < header.covered {
            return Err(QueryError::SourceChanged {
                path: source_path.display().to_string(),
            });
        }
        let index = sources.len();
        sources.push(Source {
            file: source,
            kind: header.source,
        });
        frames.extend(wanted.into_iter().map(|e| (e.ts_ns, index, e)));
    }
    let Some(oldest_ns) = oldest_ns else {
        return Err(QueryError::Empty);
    };
    if filter.to_ns <= oldest_ns {
        return Err(QueryError::Expired { oldest_ns });
    }
    // Stable: frames of one time keep their source and position order.
    frames.sort_by_key(|&(ts, source, e)| (ts, source, e.pos));
    Ok(Plan {
        sources,
        frames,
        bytes,
        oldest_ns,
    })
}

/// Where a frame's data starts in its source.
fn data_offset(source: &Source, pos: u64) -> std::io::Result<u64> {
    Ok(match source.kind {
        SourceKind::Segment | SourceKind::Pcap => pos + format::RECORD_HEADER_LEN as u64,
        SourceKind::Pcapng => {
            let mut kind = [0u8; 4];
            source.file.read_exact_at(&mut kind, pos)?;
            // A Simple Packet Block (type 3, either byte order) has 12
            // bytes before its data; Enhanced (6) and obsolete (2) 28.
            if kind == [3, 0, 0, 0] || kind == [0, 0, 0, 3] {
                pos + 12
            } else {
                pos + 28
            }
        }
    })
}

impl Plan {
    /// Frames selected.
    pub fn frames(&self) -> usize {
        self.frames.len()
    }

    /// Write the frames as one pcapng section with one Ethernet interface
    /// (nanosecond times), reading one frame at a time.
    pub fn write_pcapng<W: Write>(&self, out: W) -> std::io::Result<W> {
        let mut w = NgWriter::new(out)?;
        let interface = w.add_interface(LINKTYPE_ETHERNET as u16, MAX_RECORD_LEN, 9)?;
        let mut buf = Vec::new();
        for &(ts, source, e) in &self.frames {
            let Some(src) = self.sources.get(source) else {
                continue;
            };
            buf.resize(e.cap_len as usize, 0);
            src.file.read_exact_at(&mut buf, data_offset(src, e.pos)?)?;
            w.write_packet(interface, ts, &buf, e.wire_len)?;
        }
        w.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matches_both_directions() {
        let k = StoreKey {
            a: IpAddr::from([10, 0, 0, 1]),
            b: IpAddr::from([10, 0, 0, 2]),
            a_port: 40000,
            b_port: 443,
            proto: 6,
            vlan: 0,
            vni: 0,
            domain: 2,
        };
        let mut f = Filter {
            host: Some(IpAddr::from([10, 0, 0, 2])),
            peer: Some(IpAddr::from([10, 0, 0, 1])),
            port: Some(443),
            proto: Some(6),
            domain: Some(2),
            ..Filter::default()
        };
        assert!(f.matches(&k));
        f.peer = Some(IpAddr::from([10, 0, 0, 3]));
        assert!(!f.matches(&k));
        f.peer = None;
        assert!(f.matches(&k));
        f.vni = Some(5);
        assert!(!f.matches(&k));
    }
}
