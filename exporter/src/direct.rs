//! A capture file read around the page cache (`O_DIRECT`,
//! `--file-reader direct`): the storage writes the bytes straight into the
//! reader's block (DMA), where a buffered `read()` has the kernel copy them
//! out of the page cache, about a third of the exporter's CPU time on a
//! replay. It also leaves the page cache to the rest of the host when a
//! responder replays a capture larger than its memory. The price: every
//! read waits for the storage, even for a file the page cache holds, so a
//! replay runs at the storage's read rate (and the parser reads the blocks
//! cold); not the default.
//!
//! Direct reads need the buffer's address, its length and the file
//! offset aligned to the storage's block ([`ALIGN`]): the reader's blocks
//! are ([`crate::blocks::Blocks::aligned`]) and every read but the last
//! is a whole block, so the offset stays aligned. A file system that
//! refuses `O_DIRECT` at open (tmpfs on older kernels) is read through the
//! page cache; one that refuses a direct read (or a short read that left
//! the offset unaligned) makes the file fall back to buffered reads from
//! where it was, reopened through `/proc/self/fd`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// What a direct read's buffer address, length and file offset are
/// aligned to (the largest logical block size of common storage).
pub const ALIGN: usize = 4096;

/// A regular file opened for direct reads.
#[derive(Debug)]
pub struct DirectFile {
    file: File,
    /// Still reading with `O_DIRECT` (false once fallen back).
    direct: bool,
    /// Bytes read so far: where a fallback resumes.
    pos: u64,
}

impl DirectFile {
    /// `path` opened with `O_DIRECT`; `Ok(None)` when it is not a regular
    /// file or its file system refuses direct reads (read it buffered).
    pub fn open(path: &Path) -> io::Result<Option<DirectFile>> {
        if !std::fs::metadata(path)?.is_file() {
            return Ok(None);
        }
        match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
        {
            Ok(file) => Ok(Some(DirectFile {
                file,
                direct: true,
                pos: 0,
            })),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// True while reads go around the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Go on with buffered reads from [`DirectFile::pos`]: the same open
    /// file reopened without `O_DIRECT`.
    fn fall_back(&mut self) -> io::Result<()> {
        let proc_path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        let mut file = File::open(proc_path)?;
        file.seek(SeekFrom::Start(self.pos))?;
        self.file = file;
        self.direct = false;
        tracing::debug!(
            offset = self.pos,
            "capture file: direct reads refused, reading through the page cache"
        );
        Ok(())
    }
}

impl Read for DirectFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = match self.file.read(buf) {
            Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                self.fall_back()?;
                self.file.read(buf)
            }
            other => other,
        }?;
        self.pos += got as u64;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::Blocks;
    use std::io::BufRead;

    /// What is left to read from `blocks`.
    fn drain<R: Read>(blocks: &mut Blocks<R>) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let chunk = blocks.fill_buf().expect("read");
            if chunk.is_empty() {
                return out;
            }
            let n = chunk.len();
            out.extend_from_slice(chunk);
            blocks.consume(n);
        }
    }

    fn read_all(input: impl Read, align: usize) -> Vec<u8> {
        drain(&mut Blocks::aligned(64 * 1024, align, input))
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        // Under target/: a disk-backed file system that takes O_DIRECT
        // (a tmpfs /tmp may not).
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/direct-tests");
        std::fs::create_dir_all(&dir).expect("dir");
        dir.join(format!("{name}-{}", std::process::id()))
    }

    /// `data` written to a scratch file named after `name`, opened direct.
    fn direct_file(name: &str, data: &[u8]) -> (std::path::PathBuf, DirectFile) {
        let path = scratch(name);
        std::fs::write(&path, data).expect("write");
        let file = DirectFile::open(&path)
            .expect("open")
            .expect("the target directory's file system takes O_DIRECT");
        (path, file)
    }

    #[test]
    fn a_file_of_any_length_reads_whole_in_aligned_blocks() {
        for len in [0, 1, 4095, 4096, 4097, 64 * 1024, 200_003] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let (path, file) = direct_file(&format!("len{len}"), &data);
            assert_eq!(read_all(file, ALIGN), data, "{len} bytes");
            std::fs::remove_file(&path).expect("remove");
        }
    }

    #[test]
    fn an_unaligned_buffer_falls_back_to_buffered_reads_where_it_was() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let (path, mut file) = direct_file("unaligned", &data);
        // One aligned direct read, then one into an unaligned buffer.
        let mut blocks = Blocks::aligned(8192, ALIGN, &mut file);
        let first = blocks.fill_buf().expect("read").to_vec();
        assert_eq!(first, data[..8192]);
        drop(blocks);
        assert!(file.is_direct());
        let mut rest = vec![0u8; 100_001];
        let odd = rest.get_mut(1..).expect("room");
        let mut got = 0;
        loop {
            let n = file.read(&mut odd[got..]).expect("read");
            if n == 0 {
                break;
            }
            got += n;
        }
        assert!(!file.is_direct(), "an unaligned read falls back");
        assert_eq!(&odd[..got], &data[8192..]);
        std::fs::remove_file(&path).expect("remove");
    }

    #[test]
    fn a_file_that_grows_while_read_is_read_to_its_end_then() {
        let first: Vec<u8> = (0..10_000u32).map(|i| (i % 249) as u8).collect();
        let (path, file) = direct_file("grows", &first);
        let mut blocks = Blocks::aligned(8192, ALIGN, file);
        let chunk = blocks.fill_buf().expect("read").to_vec();
        assert_eq!(chunk, first[..8192]);
        let n = chunk.len();
        blocks.consume(n);
        // Appended while the reader is mid-file: the next reads see it.
        let more: Vec<u8> = (0..5_000u32).map(|i| (i % 241) as u8).collect();
        let mut appender = OpenOptions::new().append(true).open(&path).expect("append");
        std::io::Write::write_all(&mut appender, &more).expect("write");
        drop(appender);
        let rest = drain(&mut blocks);
        let mut want = first[8192..].to_vec();
        want.extend_from_slice(&more);
        assert_eq!(rest, want);
        std::fs::remove_file(&path).expect("remove");
    }

    #[test]
    fn a_pipe_or_missing_file_is_not_read_direct() {
        assert!(DirectFile::open(Path::new("/dev/null"))
            .expect("open")
            .is_none());
        assert!(DirectFile::open(Path::new("/nonexistent/capture.pcap")).is_err());
    }
}
