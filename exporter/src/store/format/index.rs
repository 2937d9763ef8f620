//! Indexes: entries, flows, the header and the whole checked index.

use eastwest_core::pcapfile::MAX_RECORD_LEN;

use super::{
    checksum, fnv1a64_words, fnv_word, u32_at, u64_at, FormatError, SourceKind, StoreKey,
    ENTRY_LEN, FLOW_LEN, INDEX_END, INDEX_HEADER_LEN, INDEX_MAGIC, INDEX_VERSION, KEY_LEN,
    MAX_PATH_LEN, TRAILER_LEN,
};

/// One indexed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub pos: u64,
    pub ts_ns: u64,
    pub cap_len: u32,
    pub wire_len: u32,
}

impl Entry {
    fn parse(b: &[u8]) -> Entry {
        Entry {
            pos: u64_at(b, 0),
            ts_ns: u64_at(b, 8),
            cap_len: u32_at(b, 16),
            wire_len: u32_at(b, 20),
        }
    }
}

/// Parse packed entries (a multiple of [`ENTRY_LEN`] bytes; a partial
/// last one is ignored).
pub fn parse_entries(bytes: &[u8]) -> Vec<Entry> {
    bytes.chunks_exact(ENTRY_LEN).map(Entry::parse).collect()
}

/// One flow of an index: its key and where its entries are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRef {
    pub key: StoreKey,
    pub first: u64,
    pub count: u32,
}

/// Parse packed flows (a multiple of [`FLOW_LEN`] bytes).
pub fn parse_flows(bytes: &[u8]) -> Vec<FlowRef> {
    bytes
        .chunks_exact(FLOW_LEN)
        .map(|f| {
            let mut k = [0u8; KEY_LEN];
            k.copy_from_slice(&f[..KEY_LEN]);
            FlowRef {
                key: StoreKey::decode(&k),
                first: u64_at(f, 48),
                count: u32_at(f, 56),
            }
        })
        .collect()
}

/// An index file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexHeader {
    /// The format version: 1 or 2 ([`INDEX_VERSION`], what is written);
    /// they differ in the checksum and the flows' order.
    pub version: u32,
    pub source: SourceKind,
    pub first_ns: u64,
    pub last_ns: u64,
    pub frames: u64,
    pub flows: u64,
    pub covered: u64,
    pub unindexed: u32,
    /// The capture file (empty for a segment).
    pub path: String,
}

impl IndexHeader {
    /// Bytes before the flow table.
    pub fn len(&self) -> usize {
        INDEX_HEADER_LEN + self.path.len().next_multiple_of(8)
    }

    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Offset of the flow table, of the entries, and the file's length.
    pub fn layout(&self) -> Option<(u64, u64, u64)> {
        let flows_at = self.len() as u64;
        let entries_at = self
            .flows
            .checked_mul(FLOW_LEN as u64)?
            .checked_add(flows_at)?;
        let end = self
            .frames
            .checked_mul(ENTRY_LEN as u64)?
            .checked_add(entries_at)?
            .checked_add(TRAILER_LEN as u64)?;
        Some((flows_at, entries_at, end))
    }

    /// The header at the start of `b` (which may hold just the header).
    pub fn parse(b: &[u8]) -> Result<IndexHeader, FormatError> {
        let head = b.get(..INDEX_HEADER_LEN).ok_or(FormatError::Truncated {
            what: "index header",
        })?;
        if head[..8] != INDEX_MAGIC {
            return Err(FormatError::Magic { what: "index" });
        }
        let version = u32_at(head, 8);
        if !(1..=INDEX_VERSION).contains(&version) {
            return Err(FormatError::Version(version));
        }
        let source = SourceKind::from_code(u32_at(head, 12))
            .ok_or(FormatError::Inconsistent("unknown source kind"))?;
        let path_len = u32_at(head, 56) as usize;
        if path_len > MAX_PATH_LEN || (source == SourceKind::Segment) != (path_len == 0) {
            return Err(FormatError::Inconsistent("path length"));
        }
        let path = b
            .get(INDEX_HEADER_LEN..INDEX_HEADER_LEN + path_len)
            .ok_or(FormatError::Truncated { what: "index path" })?;
        let path = std::str::from_utf8(path)
            .map_err(|_| FormatError::Inconsistent("path is not UTF-8"))?
            .to_owned();
        let h = IndexHeader {
            version,
            source,
            first_ns: u64_at(head, 16),
            last_ns: u64_at(head, 24),
            frames: u64_at(head, 32),
            flows: u64_at(head, 40),
            covered: u64_at(head, 48),
            unindexed: u32_at(head, 60),
            path,
        };
        if h.first_ns > h.last_ns || h.flows > h.frames || h.layout().is_none() {
            return Err(FormatError::Inconsistent("header fields"));
        }
        Ok(h)
    }

    /// Append the header to `out`.
    fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&INDEX_MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.source.code().to_le_bytes());
        out.extend_from_slice(&self.first_ns.to_le_bytes());
        out.extend_from_slice(&self.last_ns.to_le_bytes());
        out.extend_from_slice(&self.frames.to_le_bytes());
        out.extend_from_slice(&self.flows.to_le_bytes());
        out.extend_from_slice(&self.covered.to_le_bytes());
        out.extend_from_slice(&(self.path.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.unindexed.to_le_bytes());
        out.extend_from_slice(self.path.as_bytes());
        out.resize(start + self.len(), 0);
    }
}

/// A whole index, checked: the header, the flows, every entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub header: IndexHeader,
    pub flows: Vec<FlowRef>,
    pub entries: Vec<Entry>,
}

impl Index {
    /// An index of `flows` (each naming its run of `entries`, in order).
    /// `path` is empty for a segment.
    pub fn from_flows(
        source: SourceKind,
        path: String,
        covered: u64,
        unindexed: u32,
        flows: Vec<FlowRef>,
        entries: Vec<Entry>,
    ) -> Index {
        let first_ns = entries.iter().map(|e| e.ts_ns).min().unwrap_or(0);
        let last_ns = entries.iter().map(|e| e.ts_ns).max().unwrap_or(0);
        Index {
            header: IndexHeader {
                version: INDEX_VERSION,
                source,
                first_ns,
                last_ns,
                frames: entries.len() as u64,
                flows: flows.len() as u64,
                covered,
                unindexed,
                path,
            },
            flows,
            entries,
        }
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// The file's bytes, in `out` (emptied first: its memory is reused).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.clear();
        Index::encode_parts(&self.header, &self.flows, &self.entries, out);
    }

    /// The file's length for `flows` flows and `entries` entries after
    /// `header`.
    pub fn encoded_len(header: &IndexHeader, flows: usize, entries: usize) -> usize {
        header.len() + flows * FLOW_LEN + entries * ENTRY_LEN + TRAILER_LEN
    }

    /// The bytes of the index of `header`, `flows` and `entries` (as
    /// many as `header.frames`), appended to `out`: a version 2 checksum
    /// is taken of the entries as they are written, not read back.
    pub fn encode_parts<'a>(
        header: &IndexHeader,
        flows: &[FlowRef],
        entries: impl IntoIterator<Item = &'a Entry>,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        let frames = usize::try_from(header.frames).unwrap_or(0);
        out.reserve(Index::encoded_len(header, flows.len(), frames));
        header.encode_into(out);
        for f in flows {
            let mut b = [0u8; FLOW_LEN];
            b[..KEY_LEN].copy_from_slice(&f.key.encode());
            b[48..56].copy_from_slice(&f.first.to_le_bytes());
            b[56..60].copy_from_slice(&f.count.to_le_bytes());
            out.extend_from_slice(&b);
        }
        // The header and the flows are a multiple of 8 bytes.
        let mut sum = fnv1a64_words(&out[start..]);
        for e in entries {
            let lens = u64::from(e.cap_len) | u64::from(e.wire_len) << 32;
            let mut b = [0u8; ENTRY_LEN];
            b[0..8].copy_from_slice(&e.pos.to_le_bytes());
            b[8..16].copy_from_slice(&e.ts_ns.to_le_bytes());
            b[16..24].copy_from_slice(&lens.to_le_bytes());
            out.extend_from_slice(&b);
            sum = fnv_word(fnv_word(fnv_word(sum, e.pos), e.ts_ns), lens);
        }
        if header.version == 1 {
            sum = checksum(1, &out[start..]);
        }
        out.extend_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(&INDEX_END);
    }

    /// Parse and check a whole index file.
    pub fn parse(b: &[u8]) -> Result<Index, FormatError> {
        let header = IndexHeader::parse(b)?;
        let (flows_at, entries_at, end) = header
            .layout()
            .ok_or(FormatError::Inconsistent("header fields"))?;
        if (b.len() as u64) < end {
            return Err(FormatError::Truncated { what: "index" });
        }
        if (b.len() as u64) > end {
            return Err(FormatError::Inconsistent("bytes after the trailer"));
        }
        let body = b.len() - TRAILER_LEN;
        if b[body + 8..] != INDEX_END {
            return Err(FormatError::Magic {
                what: "index trailer",
            });
        }
        if u64_at(b, body) != checksum(header.version, &b[..body]) {
            return Err(FormatError::Checksum);
        }
        let padding = &b[INDEX_HEADER_LEN + header.path.len()..flows_at as usize];
        let table = &b[flows_at as usize..entries_at as usize];
        if padding.iter().any(|&x| x != 0)
            || table.chunks_exact(FLOW_LEN).any(|f| {
                let v4_tail = f[37] == 0 && f[4..16].iter().chain(&f[20..32]).any(|&x| x != 0);
                f[KEY_LEN + 12..] != [0; 4] || f[37] > 1 || v4_tail
            })
        {
            return Err(FormatError::Inconsistent("reserved bytes not zero"));
        }
        let flows = parse_flows(table);
        let entries = parse_entries(&b[entries_at as usize..body]);
        let mut next = 0u64;
        for f in &flows {
            if f.first != next || f.count == 0 {
                return Err(FormatError::Inconsistent("flow entry ranges"));
            }
            next += u64::from(f.count);
        }
        if next != header.frames {
            return Err(FormatError::Inconsistent("flow entry ranges"));
        }
        for e in &entries {
            let end = e.pos.checked_add(u64::from(e.cap_len));
            if e.cap_len == 0
                || e.cap_len > MAX_RECORD_LEN
                || e.ts_ns < header.first_ns
                || e.ts_ns > header.last_ns
                || end.is_none_or(|end| end > header.covered)
            {
                return Err(FormatError::Inconsistent("entry out of range"));
            }
        }
        Ok(Index {
            header,
            flows,
            entries,
        })
    }
}
