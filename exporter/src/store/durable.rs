//! An index file written so a crash leaves it whole or absent, around
//! the page cache where the file system allows (`O_DIRECT`).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// What a file written around the page cache (`O_DIRECT`) is aligned to:
/// its memory's address, the length written and the file offset.
pub(super) const DIRECT_ALIGN: usize = 4096;

/// Bytes in memory a direct write takes as they are (an encoded index,
/// a block of a segment): they start at an address aligned to
/// [`DIRECT_ALIGN`] and have room after them for the padding to a whole
/// block.
#[derive(Debug, Default)]
pub(super) struct Aligned {
    buf: Vec<u8>,
    /// Where the bytes start in `buf`.
    at: usize,
}

impl Aligned {
    /// Empty, with room for `len` bytes: the vector to append them to
    /// (up to `len` bytes, so it is not moved).
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

    /// The bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        self.buf.get(self.at..).unwrap_or_default()
    }

    /// How many bytes there are.
    pub(super) fn len(&self) -> usize {
        self.buf.len() - self.at
    }

    /// Append `b` (within the room [`Aligned::start`] made).
    #[inline]
    pub(super) fn push(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Write the bytes at offset `pos` (a multiple of [`DIRECT_ALIGN`]
    /// when `direct`) of `file`: with `direct` (a file opened with
    /// `O_DIRECT`), zero-padded to a whole block, so the file may end up
    /// to [`DIRECT_ALIGN`] bytes longer than its bytes. False, with
    /// nothing written, when the memory is not aligned or the file
    /// system refuses the direct write.
    pub(super) fn write_at(
        &mut self,
        file: &File,
        pos: u64,
        direct: bool,
    ) -> std::io::Result<bool> {
        let len = self.len();
        if !direct {
            file.write_all_at(self.bytes(), pos)?;
            return Ok(true);
        }
        self.buf
            .resize(self.at + len.next_multiple_of(DIRECT_ALIGN), 0);
        let aligned = self
            .buf
            .as_ptr()
            .wrapping_add(self.at)
            .align_offset(DIRECT_ALIGN)
            == 0;
        let written = match self.buf.get(self.at..) {
            Some(padded) if aligned => match file.write_all_at(padded, pos) {
                Ok(()) => Ok(true),
                Err(e) if refused(&e) => Ok(false),
                Err(e) => Err(e),
            },
            _ => Ok(false),
        };
        self.buf.truncate(self.at + len);
        written
    }

    /// Write the bytes to a new file at `path` around the page cache (no
    /// copy into it) and fsync it; false, with nothing written, when the
    /// memory is not aligned or the file system does not take direct
    /// writes.
    fn write_direct(&mut self, path: &Path) -> std::io::Result<bool> {
        let f = match open_direct(path) {
            Ok(Some(f)) => f,
            other => return other.map(|_| false),
        };
        if !self.write_at(&f, 0, true)? {
            return Ok(false);
        }
        f.set_len(self.len() as u64)?;
        f.sync_all()?;
        Ok(true)
    }
}

/// Whether an error is a file system's refusal of a direct write.
pub(super) fn refused(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINVAL)
}

/// Create (truncating) the file at `path` for direct writes; `None` when
/// its file system refuses them (then [`File::create`] it).
pub(super) fn open_direct(path: &Path) -> std::io::Result<Option<File>> {
    let opened = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path);
    match opened {
        Ok(f) => Ok(Some(f)),
        Err(e) if refused(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Write `index` to `path` so that after a crash it is either whole or
/// absent: a temporary file (written around the page cache where the
/// file system allows), fsync, rename, fsync of the directory.
pub(super) fn write_durably(path: &Path, index: &mut Aligned) -> std::io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An index written durably reads back whole, its length exact
    /// (the direct write's padding cut off), on a disk file system and,
    /// where there is one, on tmpfs (kernels before 6.6 refuse direct
    /// writes there: the buffered write).
    #[test]
    fn an_index_is_written_whole_directly_or_not() {
        let base = std::env::temp_dir().join(format!("ew-durable-{}", std::process::id()));
        let shm = Path::new("/dev/shm").join(format!("ew-durable-{}", std::process::id()));
        for dir in [base, shm] {
            if fs::create_dir_all(&dir).is_err() {
                continue;
            }
            for len in [1usize, 4095, 4096, 4097, 3 * 4096 + 24] {
                let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let mut index = Aligned::default();
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
