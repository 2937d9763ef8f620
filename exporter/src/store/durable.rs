//! An index file written so a crash leaves it whole or absent, around
//! the page cache where the file system allows (`O_DIRECT`).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

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
