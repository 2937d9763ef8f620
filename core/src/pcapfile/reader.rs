//! The [`Reader`]: a classic pcap or pcapng stream, record by record,
//! into a record of its own, into the caller's buffer or borrowed from
//! the input's buffer. pcapng blocks are parsed by [`super::ng`].

use std::io::{BufRead, Read};

use super::ng::{self, Interface};
use super::{
    read_full, FileHeader, Format, PcapError, Precision, Record, RecordHeader, FILE_HEADER_LEN,
    MAGIC_MICRO, MAGIC_NANO, MAX_RECORD_LEN, RECORD_HEADER_LEN,
};

/// Reads records from a classic pcap or pcapng stream.
#[derive(Debug)]
pub struct Reader<R> {
    inner: R,
    header: FileHeader,
    offset: u64,
    done: bool,
    /// pcapng reading state; `None` for classic pcap.
    ng: Option<ng::State>,
    /// Bytes of the buffer lent out by [`Reader::next_ref`], consumed on
    /// the next call.
    borrowed: usize,
}

impl<R: Read> Reader<R> {
    /// Read the file header (pcapng: the section header and every block up
    /// to the first interface description).
    pub fn new(mut inner: R) -> Result<Reader<R>, PcapError> {
        let mut raw = [0u8; FILE_HEADER_LEN];
        let got = read_full(&mut inner, &mut raw, 0)?;
        if got >= 4 && raw[..4] == ng::SHB.to_le_bytes() {
            return Self::new_ng(inner, &raw[..got]);
        }
        if got < 4 {
            return Err(PcapError::Truncated {
                what: "file header",
                offset: 0,
                needed: FILE_HEADER_LEN,
                got,
            });
        }
        let le = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let be = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let (big_endian, precision) = match (le, be) {
            (MAGIC_MICRO, _) => (false, Precision::Micro),
            (MAGIC_NANO, _) => (false, Precision::Nano),
            (_, MAGIC_MICRO) => (true, Precision::Micro),
            (_, MAGIC_NANO) => (true, Precision::Nano),
            _ => return Err(PcapError::BadMagic { magic: be }),
        };
        if got < FILE_HEADER_LEN {
            return Err(PcapError::Truncated {
                what: "file header",
                offset: 0,
                needed: FILE_HEADER_LEN,
                got,
            });
        }
        let u16_at = |at: usize| {
            let b = [raw[at], raw[at + 1]];
            if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let u32_at = |at: usize| {
            let b = [raw[at], raw[at + 1], raw[at + 2], raw[at + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let header = FileHeader {
            format: Format::Pcap,
            big_endian,
            precision,
            version_major: u16_at(4),
            version_minor: u16_at(6),
            snaplen: u32_at(16),
            // The upper bits hold FCS information (pcap-linktype(7)).
            linktype: u32_at(20) & 0x0fff_ffff,
        };
        Ok(Reader {
            inner,
            header,
            offset: FILE_HEADER_LEN as u64,
            done: false,
            ng: None,
            borrowed: 0,
        })
    }

    /// A pcapng file whose first bytes are `start`: its section header,
    /// then blocks up to the first interface description.
    fn new_ng(mut inner: R, start: &[u8]) -> Result<Reader<R>, PcapError> {
        let mut state = ng::State::default();
        let mut buf = start.to_vec();
        let mut have = start.len();
        let mut offset = 0u64;
        loop {
            if !ng::read_block(&mut inner, &state, offset, &mut buf, have)? {
                return Err(PcapError::NoInterface);
            }
            have = 0;
            if ng::parse(&mut state, &buf, offset)?.is_some() {
                return Err(PcapError::UnknownInterface {
                    offset,
                    interface: 0,
                    described: 0,
                });
            }
            offset += buf.len() as u64;
            if let Some(first) = state.interfaces.first() {
                let header = FileHeader {
                    format: Format::Pcapng,
                    big_endian: state.big_endian,
                    precision: if first.units_per_sec > 1_000_000 {
                        Precision::Nano
                    } else {
                        Precision::Micro
                    },
                    version_major: state.version.0,
                    version_minor: state.version.1,
                    snaplen: first.snaplen,
                    linktype: first.linktype,
                };
                return Ok(Reader {
                    inner,
                    header,
                    offset,
                    done: false,
                    ng: Some(state),
                    borrowed: 0,
                });
            }
        }
    }

    /// The interfaces of the current pcapng section described so far
    /// (empty for classic pcap).
    pub fn interfaces(&self) -> &[Interface] {
        self.ng.as_ref().map_or(&[], |s| &s.interfaces)
    }

    /// The file header.
    pub fn header(&self) -> FileHeader {
        self.header
    }

    /// The input it reads from.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The next record, `Ok(None)` at a clean end of file. After an error
    /// the reader returns `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<Record>, PcapError> {
        let mut data = Vec::new();
        Ok(self.next_into(&mut data)?.map(|h| Record {
            timestamp_ns: h.timestamp_ns,
            orig_len: h.orig_len,
            data,
            offset: h.offset,
            interface: h.interface,
            linktype: h.linktype,
        }))
    }

    /// The next record with its captured bytes in `data` (replaced; its
    /// allocation is reused, so a loop over a file allocates once).
    /// `Ok(None)` at a clean end of file; after an error, `Ok(None)`.
    pub fn next_into(&mut self, data: &mut Vec<u8>) -> Result<Option<RecordHeader>, PcapError> {
        if self.done {
            return Ok(None);
        }
        let result = if self.ng.is_some() {
            self.read_ng(data)
        } else {
            self.read_record(data)
        };
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    /// The next pcapng packet block's data into `data` (other blocks are
    /// read through it).
    fn read_ng(&mut self, data: &mut Vec<u8>) -> Result<Option<RecordHeader>, PcapError> {
        let Some(state) = self.ng.as_mut() else {
            return Ok(None);
        };
        loop {
            let offset = self.offset;
            if !ng::read_block(&mut self.inner, state, offset, data, 0)? {
                return Ok(None);
            }
            self.offset += data.len() as u64;
            if let Some((header, range)) = ng::parse(state, data, offset)? {
                data.truncate(range.end);
                data.drain(..range.start);
                return Ok(Some(header));
            }
        }
    }

    fn read_record(&mut self, data: &mut Vec<u8>) -> Result<Option<RecordHeader>, PcapError> {
        let offset = self.offset;
        let mut raw = [0u8; RECORD_HEADER_LEN];
        let got = read_full(&mut self.inner, &mut raw, offset)?;
        if got == 0 {
            return Ok(None);
        }
        if got < RECORD_HEADER_LEN {
            return Err(PcapError::Truncated {
                what: "record header",
                offset,
                needed: RECORD_HEADER_LEN,
                got,
            });
        }
        let (header, incl_len) = self.parse_record_header(&raw, offset)?;
        let data_offset = offset + RECORD_HEADER_LEN as u64;
        // incl_len is bounded by `limit` above, so this allocation is too.
        data.resize(incl_len as usize, 0);
        let got = read_full(&mut self.inner, data, data_offset)?;
        if got < data.len() {
            return Err(PcapError::Truncated {
                what: "record data",
                offset: data_offset,
                needed: data.len(),
                got,
            });
        }
        self.offset = data_offset + u64::from(incl_len);
        Ok(Some(header))
    }

    /// A record header read at `offset`, checked; with its captured length.
    fn parse_record_header(
        &self,
        raw: &[u8; RECORD_HEADER_LEN],
        offset: u64,
    ) -> Result<(RecordHeader, u32), PcapError> {
        let u32_at = |at: usize| {
            let b = [raw[at], raw[at + 1], raw[at + 2], raw[at + 3]];
            if self.header.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (secs, frac, incl_len, orig_len) = (u32_at(0), u32_at(4), u32_at(8), u32_at(12));
        // Whatever the file header's snaplen claims (a damaged one can say
        // 4 GB; found by fuzzing), as libpcap does.
        let limit = MAX_RECORD_LEN;
        if incl_len > limit {
            return Err(PcapError::RecordTooLarge {
                offset,
                len: incl_len,
                limit,
            });
        }
        let frac_ns = match self.header.precision {
            Precision::Micro if frac < 1_000_000 => u64::from(frac) * 1_000,
            Precision::Nano if frac < 1_000_000_000 => u64::from(frac),
            _ => {
                return Err(PcapError::BadRecord {
                    offset,
                    what: "sub-second timestamp out of range",
                })
            }
        };
        let header = RecordHeader {
            timestamp_ns: u64::from(secs) * 1_000_000_000 + frac_ns,
            orig_len,
            offset,
            interface: 0,
            linktype: self.header.linktype,
        };
        Ok((header, incl_len))
    }
}

/// Borrowing reads need a buffered input (a `BufReader`). The record is
/// lent from the buffer once its length is checked.
impl<R: BufRead> Reader<R> {
    /// The next record, its bytes borrowed from the reader's buffer when
    /// the buffer holds the whole record (no copy), else read into
    /// `scratch`. `Ok(None)` at a clean end of file; after an error,
    /// `Ok(None)`. Do not mix with [`Reader::next_into`] on one reader.
    #[inline]
    pub fn next_ref<'a>(
        &'a mut self,
        scratch: &'a mut Vec<u8>,
    ) -> Result<Option<(RecordHeader, &'a [u8])>, PcapError> {
        self.inner.consume(std::mem::take(&mut self.borrowed));
        if self.done {
            return Ok(None);
        }
        if self.ng.is_some() {
            // Cleared again when a record is returned.
            self.done = true;
            return self.next_ref_ng(scratch);
        }
        let offset = self.offset;
        let buffered = self
            .inner
            .fill_buf()
            .map_err(|source| PcapError::Io { offset, source })?;
        let Some(raw) = buffered.first_chunk::<RECORD_HEADER_LEN>().copied() else {
            // The header straddles the buffer's end (or the file ends).
            return match self.next_into(scratch)? {
                Some(header) => Ok(Some((header, &scratch[..]))),
                None => Ok(None),
            };
        };
        let available = buffered.len();
        let (header, incl_len) = match self.parse_record_header(&raw, offset) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        };
        let end = RECORD_HEADER_LEN + incl_len as usize;
        if available < end {
            return match self.next_into(scratch)? {
                Some(header) => Ok(Some((header, &scratch[..]))),
                None => Ok(None),
            };
        }
        // The buffer `fill_buf` returned above, without I/O (it holds the
        // record): asked again so the borrow is of `self`.
        let buffered = match self.inner.fill_buf() {
            Ok(buffered) => buffered,
            Err(source) => {
                self.done = true;
                return Err(PcapError::Io { offset, source });
            }
        };
        self.offset += end as u64;
        self.borrowed = end;
        Ok(Some((
            header,
            buffered.get(RECORD_HEADER_LEN..end).unwrap_or(&[]),
        )))
    }

    /// [`Reader::next_ref`] of a pcapng file: blocks wholly in the buffer
    /// are parsed there, others are copied into `scratch`.
    fn next_ref_ng<'a>(
        &'a mut self,
        scratch: &'a mut Vec<u8>,
    ) -> Result<Option<(RecordHeader, &'a [u8])>, PcapError> {
        let Some(state) = self.ng.as_mut() else {
            return Ok(None);
        };
        loop {
            let offset = self.offset;
            let buffered = self
                .inner
                .fill_buf()
                .map_err(|source| PcapError::Io { offset, source })?;
            let len = match buffered.first_chunk::<{ ng::MIN_BLOCK_LEN }>() {
                Some(first) => ng::block_len(state, first, offset)?,
                None => usize::MAX,
            };
            if len > buffered.len() {
                // Straddles the buffer's end (or the file ends).
                if !ng::read_block(&mut self.inner, state, offset, scratch, 0)? {
                    return Ok(None);
                }
                self.offset += scratch.len() as u64;
                if let Some((header, range)) = ng::parse(state, scratch, offset)? {
                    self.done = false;
                    return Ok(Some((header, &scratch[range])));
                }
                continue;
            }
            let parsed = ng::parse(state, &buffered[..len], offset)?;
            self.offset += len as u64;
            match parsed {
                Some((header, range)) => {
                    // The buffer `fill_buf` returned above, without I/O.
                    let buffered = self
                        .inner
                        .fill_buf()
                        .map_err(|source| PcapError::Io { offset, source })?;
                    self.borrowed = len;
                    self.done = false;
                    return Ok(Some((header, buffered.get(range).unwrap_or(&[]))));
                }
                None => self.inner.consume(len),
            }
        }
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Record, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}
