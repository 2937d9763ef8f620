//! A capture file read through a memory map, the one module of the
//! workspace allowed `unsafe` code.
//!
//! [`MappedFile`] is a [`BufRead`] whose buffer is the rest of the mapped
//! file, so [`crate::pcapfile::Reader::next_ref`] lends every record out
//! of the page cache itself: no `read()` copies the file into a buffer.
//!
//! What a mapping cannot do by itself, and what this module does about it:
//!
//! * **The file grows while it is read** (a capture still being written):
//!   the file is mapped at the length it had when opened (or last
//!   re-mapped). When the reader reaches that length, the file's length is
//!   asked again; if it grew, the file is mapped again at its new length
//!   and reading goes on where it was.
//! * **The file shrinks while it is read** (truncated by another process):
//!   touching a mapped page past the new end of file raises `SIGBUS`,
//!   which would kill the process. A `SIGBUS` handler, installed once,
//!   looks the faulting address up among the live mappings of this module;
//!   when it is one of them it maps a page of zeros over the faulting page
//!   (so the access completes and reads zeros) and marks the mapping as
//!   shrunk. The next [`BufRead::fill_buf`] then fails with an error
//!   saying the file shrank, and the pcap reader stops there with the byte
//!   offset. What lies between the cut and the end of its page reads as
//!   zeros (the kernel's tail of the last page), so at most one page of
//!   zeros is lent out as records before the error. A fault at any other
//!   address is handed to the handler that was installed before (by
//!   default, the process dies as it would have without this module). The
//!   same happens when the file is found shorter than the mapping at its
//!   end, without a fault.
//!
//! Any other change to the file while it is mapped shows through as
//! changed bytes: the readers above treat every byte as untrusted input
//! and never assume two reads of a byte agree (the fuzz target `pcap`
//! reads files through this module too).
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use memmap2::{Advice, Mmap, MmapOptions, UncheckedAdvice};

/// Mappings of this module live at once (every file the exporter reads is
/// opened before the first is read). Beyond it, [`MappedFile::open`]
/// returns `Ok(None)` and the caller reads with `read()`.
const SLOTS: usize = 64;
/// Pages already read are given back (`MADV_DONTNEED`) every this many
/// bytes: they stay in the page cache, but no longer count in the
/// process's resident memory (a 1 GB capture would otherwise show as 1 GB
/// of RSS by its end).
const RELEASE_EVERY: usize = 8 << 20;

/// The live mappings the `SIGBUS` handler knows: `[START, END)` of slot
/// `i` (0, 0 when free), claimed through `USED`, and `SHRUNK` set by the
/// handler when it replaced a page of it.
static USED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
static START: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static END: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static SHRUNK: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
/// The system's page size, read before the handler is installed.
static PAGE: AtomicUsize = AtomicUsize::new(4096);
/// The `SIGBUS` action in place before ours (restored for foreign faults).
static PREVIOUS: OnceLock<Result<libc::sigaction, String>> = OnceLock::new();

/// Install the handler once; the error names what failed.
fn install_handler() -> io::Result<()> {
    let installed = PREVIOUS.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if let Ok(page) = usize::try_from(page) {
            if page.is_power_of_two() {
                PAGE.store(page, Ordering::Relaxed);
            }
        }
        // SAFETY: an all-zero sigaction is a valid value (empty mask, no
        // flags, SIG_DFL); sigemptyset and sigaction get pointers to live
        // locals, and `on_sigbus` has the SA_SIGINFO signature.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, &action, &mut previous) != 0 {
                return Err(io::Error::last_os_error().to_string());
            }
            Ok(previous)
        }
    });
    match installed {
        Ok(_) => Ok(()),
        Err(e) => Err(io::Error::other(format!(
            "cannot install the SIGBUS handler: {e}"
        ))),
    }
}

/// The `SIGBUS` handler: async-signal-safe (atomics, `mmap` and
/// `sigaction`, which are system calls).
extern "C" fn on_sigbus(_signal: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO
    // handler; for SIGBUS its address field is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for slot in 0..SLOTS {
        let start = START[slot].load(Ordering::Acquire);
        let end = END[slot].load(Ordering::Acquire);
        if start == 0 || addr < start || addr >= end {
            continue;
        }
        let at = addr & !(page - 1);
        // SAFETY: `at` is a page inside a live mapping of this module
        // (registered, not yet unmapped: `Mapping::drop` unregisters before
        // it unmaps), so MAP_FIXED replaces only our own read-only page,
        // with a private page of zeros of the same protection.
        let zeros = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if zeros != libc::MAP_FAILED {
            SHRUNK[slot].store(true, Ordering::Release);
            return;
        }
        break;
    }
    // Not ours (or no page to put there): the previous action, which the
    // fault meets again when this handler returns.
    if let Some(Ok(previous)) = PREVIOUS.get() {
        // SAFETY: `previous` is the action sigaction gave back at install.
        unsafe {
            libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut());
        }
    }
}

/// One mapping of the file, registered with the handler while it lives.
struct Mapping {
    map: Mmap,
    slot: usize,
}

impl Mapping {
    /// Map the first `len` (> 0) bytes of `file`; `Ok(None)` when every
    /// slot is taken.
    fn new(file: &File, len: usize) -> io::Result<Option<Mapping>> {
        install_handler()?;
        let Some(slot) = (0..SLOTS).find(|&i| {
            USED[i]
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        }) else {
            return Ok(None);
        };
        // SAFETY: the mapping is read-only and private. Another process
        // may change the file under it: the bytes are untrusted input to
        // every reader here (no invariant rests on them), and a shrinking
        // file is caught by the SIGBUS handler once registered below,
        // before any byte of the mapping is read.
        let map = match unsafe { MmapOptions::new().len(len).map(file) } {
            Ok(map) => map,
            Err(e) => {
                USED[slot].store(false, Ordering::Release);
                return Err(e);
            }
        };
        // Read-ahead: the file is read once, front to back.
        let _ = map.advise(Advice::Sequential);
        let start = map.as_ptr() as usize;
        SHRUNK[slot].store(false, Ordering::Release);
        END[slot].store(start + map.len(), Ordering::Release);
        START[slot].store(start, Ordering::Release);
        Ok(Some(Mapping { map, slot }))
    }

    fn shrunk(&self) -> bool {
        SHRUNK[self.slot].load(Ordering::Acquire)
    }

    /// Give back the pages of `[from, to)` (rounded inwards to pages).
    fn release(&self, from: usize, to: usize) {
        let page = PAGE.load(Ordering::Relaxed);
        let start = from.next_multiple_of(page);
        let end = to.min(self.map.len()) & !(page - 1);
        if start < end {
            // SAFETY: the caller has consumed `[from, to)`: the `BufRead`
            // slices that covered it borrowed the `MappedFile` mutably and
            // have ended, so no reference into these pages is alive. Of a
            // private read-only file mapping, MADV_DONTNEED only drops the
            // page table entries; a later access (there is none) would read
            // the file's bytes again.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Unregistered before `map` unmaps (fields drop after this).
        START[self.slot].store(0, Ordering::Release);
        END[self.slot].store(0, Ordering::Release);
        USED[self.slot].store(false, Ordering::Release);
    }
}

/// A regular file read through a memory map (see the module docs).
pub struct MappedFile {
    file: File,
    /// `None` while the file is empty.
    map: Option<Mapping>,
    pos: usize,
    /// Bytes before it were given back by [`Mapping::release`].
    released: usize,
    /// `fill_buf` takes its slow path from here on (the end of the
    /// mapping or the next release, whichever comes first).
    check_at: usize,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("mapped", &self.mapped_len())
            .field("pos", &self.pos)
            .finish()
    }
}

impl MappedFile {
    /// Map `file` at its current length. `Ok(None)` when it cannot be
    /// mapped here (not a regular file, or too many mappings): read it with
    /// `read()` instead.
    pub fn open(file: File) -> io::Result<Option<MappedFile>> {
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Ok(None);
        }
        let mut mapped = MappedFile {
            file,
            map: None,
            pos: 0,
            released: 0,
            check_at: 0,
        };
        match mapped.remap(meta.len())? {
            true => Ok(Some(mapped)),
            false => Ok(None),
        }
    }

    /// Bytes mapped now.
    pub fn mapped_len(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.map.len())
    }

    /// Map the file again at `len` bytes; false when no slot was free.
    fn remap(&mut self, len: u64) -> io::Result<bool> {
        let len = usize::try_from(len).map_err(|_| io::Error::other("file too large to map"))?;
        if len == 0 {
            self.map = None;
            return Ok(true);
        }
        // The old mapping is dropped (and unregistered) after the new one
        // is made, so the bytes lent out before stay valid until then.
        match Mapping::new(&self.file, len)? {
            Some(map) => {
                self.map = Some(map);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn shrank(&self) -> io::Error {
        io::Error::other(format!(
            "the file shrank below {} bytes while it was read",
            self.mapped_len()
        ))
    }
}

impl BufRead for MappedFile {
    /// The common case inline: inside the mapping, before the next
    /// release of pages, not shrunk.
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let fast = self.pos < self.check_at && self.map.as_ref().is_some_and(|m| !m.shrunk());
        if !fast {
            self.fill_buf_slow()?;
        }
        let bytes: &[u8] = self.map.as_ref().map_or(&[], |m| &m.map[..]);
        Ok(bytes.get(self.pos..).unwrap_or(&[]))
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        self.pos = self.pos.saturating_add(amt).min(self.mapped_len());
    }
}

impl MappedFile {
    /// [`BufRead::fill_buf`] at the end of the mapping, at a release of
    /// pages, or after a fault.
    #[cold]
    fn fill_buf_slow(&mut self) -> io::Result<()> {
        if self.map.as_ref().is_some_and(Mapping::shrunk) {
            return Err(self.shrank());
        }
        if self.pos >= self.mapped_len() {
            let now = self.file.metadata()?.len();
            let mapped = self.mapped_len() as u64;
            if now < mapped {
                return Err(self.shrank());
            }
            if now > mapped && !self.remap(now)? {
                return Err(io::Error::other(
                    "the file grew, but no mapping is free to map it again",
                ));
            }
        }
        if self.pos - self.released >= RELEASE_EVERY {
            if let Some(map) = &self.map {
                map.release(self.released, self.pos);
            }
            self.released = self.pos;
        }
        self.check_at = self
            .mapped_len()
            .min(self.released.saturating_add(RELEASE_EVERY));
        Ok(())
    }
}

impl Read for MappedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcapfile::{Precision, Reader, Writer, LINKTYPE_ETHERNET};
    use std::io::Write;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("eastwest-mmap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join(name)
    }

    /// A classic pcap of `n` records of 1 000 bytes (byte i of record k is
    /// k + i, truncated to u8), appended to `file` (header first if new).
    fn write_records(file: &File, header: bool, from: u32, n: u32) {
        let mut w =
            Writer::new(Vec::new(), LINKTYPE_ETHERNET, 65_535, Precision::Micro).expect("writer");
        for k in from..from + n {
            let data: Vec<u8> = (0..1000u32).map(|i| (k + i) as u8).collect();
            w.write_record(u64::from(k) * 1_000_000, &data, 1000)
                .expect("record");
        }
        let bytes = w.into_inner().expect("bytes");
        let skip = if header {
            0
        } else {
            crate::pcapfile::FILE_HEADER_LEN
        };
        (&*file).write_all(&bytes[skip..]).expect("write");
    }

    fn check(k: u32, data: &[u8]) {
        assert_eq!(data.len(), 1000);
        assert!(
            data.iter()
                .enumerate()
                .all(|(i, &b)| b == (k + i as u32) as u8),
            "record {k}"
        );
    }

    #[test]
    fn reads_what_read_reads() {
        let path = temp("same.pcap");
        let file = File::create(&path).expect("create");
        write_records(&file, true, 0, 300);
        let mapped = MappedFile::open(File::open(&path).expect("open"))
            .expect("map")
            .expect("a regular file maps");
        let mut reader = Reader::new(mapped).expect("header");
        let mut scratch = Vec::new();
        let mut k = 0;
        while let Some((h, data)) = reader.next_ref(&mut scratch).expect("record") {
            assert_eq!(h.timestamp_ns, u64::from(k) * 1_000_000);
            check(k, data);
            k += 1;
        }
        assert_eq!(k, 300);
        assert!(scratch.is_empty(), "nothing straddles a mapped buffer");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_file_that_grows_is_mapped_again() {
        let path = temp("grows.pcap");
        let file = File::create(&path).expect("create");
        write_records(&file, true, 0, 10);
        let mapped = MappedFile::open(File::open(&path).expect("open"))
            .expect("map")
            .expect("mapped");
        let first_len = mapped.mapped_len();
        let mut reader = Reader::new(mapped).expect("header");
        let mut scratch = Vec::new();
        for k in 0..5 {
            let (_, data) = reader.next_ref(&mut scratch).expect("ok").expect("record");
            check(k, data);
        }
        write_records(&file, false, 10, 3000);
        let mut k = 5;
        while let Some((_, data)) = reader.next_ref(&mut scratch).expect("record") {
            check(k, data);
            k += 1;
        }
        assert_eq!(k, 3010, "the records written after the open are read too");
        let _ = first_len;
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_file_truncated_while_mapped_is_an_error_not_a_crash() {
        let path = temp("shrinks.pcap");
        let file = File::create(&path).expect("create");
        // 4 000 records of 1 016 bytes: about 4 MB, a thousand pages.
        write_records(&file, true, 0, 4000);
        let mapped = MappedFile::open(File::open(&path).expect("open"))
            .expect("map")
            .expect("mapped");
        let mut reader = Reader::new(mapped).expect("header");
        let mut scratch = Vec::new();
        for k in 0..100 {
            let (_, data) = reader.next_ref(&mut scratch).expect("ok").expect("record");
            check(k, data);
        }
        // Cut the file in the middle of record 200: the pages after it are
        // gone from the page cache and from our mapping.
        file.set_len(24 + 200 * 1016 + 500).expect("truncate");
        let mut read = 100;
        let err = loop {
            match reader.next_ref(&mut scratch) {
                Ok(Some((_, data))) => {
                    // Touch every byte, as a decoder of the record might.
                    let _ = data.iter().map(|&b| u64::from(b)).sum::<u64>();
                    read += 1;
                }
                Ok(None) => panic!("a shrunk file must not read as a clean end"),
                Err(e) => break e,
            }
        };
        // Past the cut, the rest of its page reads as zeros (16-byte
        // headers of empty records) until the next page faults.
        let page = PAGE.load(Ordering::Relaxed) as u32;
        assert!(read > 201, "the cut page's tail was read as zeros: {read}");
        assert!(
            read <= 201 + page / 16,
            "at most a page past the cut: {read}"
        );
        // The fault at the next page is what stopped it.
        let text = err.to_string();
        assert!(text.contains("shrank"), "{text}");
        let at = format!(
            "offset {}",
            (24 + 200 * 1016 + 500) / page as usize * page as usize + page as usize
        );
        assert!(text.contains(&at), "{text}");
        // The reader stays stopped.
        assert!(reader
            .next_ref(&mut scratch)
            .expect("after the error")
            .is_none());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn empty_files_and_pipes() {
        let path = temp("empty.pcap");
        File::create(&path).expect("create");
        let mut mapped = MappedFile::open(File::open(&path).expect("open"))
            .expect("map")
            .expect("an empty regular file maps");
        assert!(mapped.fill_buf().expect("empty").is_empty());
        assert!(Reader::new(mapped).is_err(), "no header");
        let _ = std::fs::remove_file(&path);
        let dir = File::open(std::env::temp_dir()).expect("a directory");
        assert!(MappedFile::open(dir).expect("not mapped").is_none());
    }
}
