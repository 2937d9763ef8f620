//! Segments: their header and records, and the scan that finds the
//! valid ones.

use eastwest_core::pcapfile::MAX_RECORD_LEN;

use super::{u32_at, u64_at, FormatError, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC};

/// One frame of a segment, as its record header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub ts_ns: u64,
    pub cap_len: u32,
    pub wire_len: u32,
}

impl RecordHeader {
    pub fn encode(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut b = [0u8; RECORD_HEADER_LEN];
        b[0..8].copy_from_slice(&self.ts_ns.to_le_bytes());
        b[8..12].copy_from_slice(&self.cap_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.wire_len.to_le_bytes());
        b
    }

    /// The header at the start of `b`, if whole and valid.
    pub fn parse(b: &[u8]) -> Option<RecordHeader> {
        let b = b.get(..RECORD_HEADER_LEN)?;
        let h = RecordHeader {
            ts_ns: u64_at(b, 0),
            cap_len: u32_at(b, 8),
            wire_len: u32_at(b, 12),
        };
        (h.cap_len > 0 && h.cap_len <= MAX_RECORD_LEN && h.cap_len <= h.wire_len).then_some(h)
    }
}

/// The header of a segment with sequence number `seq`.
pub fn segment_header(seq: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut b = [0u8; SEGMENT_HEADER_LEN];
    b[..8].copy_from_slice(&SEGMENT_MAGIC);
    b[8..].copy_from_slice(&seq.to_le_bytes());
    b
}

/// One frame found in a segment: where its record starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentFrame {
    pub pos: u64,
    pub header: RecordHeader,
}

/// Every whole, valid record of a segment's bytes, in order, and the
/// length of that valid prefix (what follows it is a damaged tail).
pub fn scan_segment(bytes: &[u8]) -> Result<(Vec<SegmentFrame>, u64), FormatError> {
    if bytes.len() < SEGMENT_HEADER_LEN {
        return Err(FormatError::Truncated {
            what: "segment header",
        });
    }
    if bytes[..8] != SEGMENT_MAGIC {
        return Err(FormatError::Magic { what: "segment" });
    }
    let mut frames = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    while let Some(h) = bytes.get(at..).and_then(RecordHeader::parse) {
        let end = at + RECORD_HEADER_LEN + h.cap_len as usize;
        if end > bytes.len() {
            break;
        }
        frames.push(SegmentFrame {
            pos: at as u64,
            header: h,
        });
        at = end;
    }
    Ok((frames, at as u64))
}
