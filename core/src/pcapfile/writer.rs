//! The classic pcap [`Writer`] (little endian, version 2.4).

use std::io::{self, Write};

use super::{Precision, FILE_HEADER_LEN, MAGIC_MICRO, MAGIC_NANO, RECORD_HEADER_LEN};

/// Writes a little-endian classic pcap stream.
#[derive(Debug)]
pub struct Writer<W> {
    inner: W,
    precision: Precision,
    snaplen: u32,
}

impl<W: Write> Writer<W> {
    /// Write the file header (version 2.4, little endian).
    pub fn new(
        mut inner: W,
        linktype: u32,
        snaplen: u32,
        precision: Precision,
    ) -> io::Result<Writer<W>> {
        let magic = match precision {
            Precision::Micro => MAGIC_MICRO,
            Precision::Nano => MAGIC_NANO,
        };
        let mut header = Vec::with_capacity(FILE_HEADER_LEN);
        header.extend_from_slice(&magic.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&snaplen.to_le_bytes());
        header.extend_from_slice(&linktype.to_le_bytes());
        inner.write_all(&header)?;
        Ok(Writer {
            inner,
            precision,
            snaplen,
        })
    }

    /// Write one record: `data` is cut to the snaplen, `orig_len` is the
    /// length on the wire (at least `data.len()`).
    pub fn write_record(
        &mut self,
        timestamp_ns: u64,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let secs = u32::try_from(timestamp_ns / 1_000_000_000)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timestamp beyond 2106"))?;
        let ns = (timestamp_ns % 1_000_000_000) as u32;
        let frac = match self.precision {
            Precision::Micro => ns / 1_000,
            Precision::Nano => ns,
        };
        let keep = data.len().min(self.snaplen as usize);
        let incl = u32::try_from(keep)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
        let mut header = [0u8; RECORD_HEADER_LEN];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&frac.to_le_bytes());
        header[8..12].copy_from_slice(&incl.to_le_bytes());
        header[12..16].copy_from_slice(&orig_len.max(incl).to_le_bytes());
        self.inner.write_all(&header)?;
        self.inner.write_all(&data[..keep])
    }

    /// Flush and return the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.inner.flush()?;
        Ok(self.inner)
    }
}
