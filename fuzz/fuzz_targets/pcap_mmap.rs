//! `core::mmap` under `core::pcapfile`: any file, written to disk and
//! mapped into memory (the exporter's `--file-reader mmap`), reads through
//! the zero-copy `next_ref` and through `next_record` exactly as its bytes
//! read from memory (records, offsets, times, errors), never a panic.
#![no_main]

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::OnceLock;

use eastwest_core::mmap::MappedFile;
use eastwest_core::pcapfile::Reader;
use libfuzzer_sys::fuzz_target;

type Read = Vec<Result<(u64, u64, u32, Vec<u8>), String>>;

/// Every record `next_ref` lends out of `reader`, or its errors.
fn borrowed<R: BufRead>(mut reader: Reader<R>) -> Read {
    let mut scratch = Vec::new();
    let mut got = Vec::new();
    loop {
        match reader.next_ref(&mut scratch) {
            Ok(Some((h, data))) => {
                got.push(Ok((h.offset, h.timestamp_ns, h.interface, data.to_vec())))
            }
            Ok(None) => break,
            Err(e) => got.push(Err(e.to_string())),
        }
    }
    got
}

/// Every record `next_record` reads out of `reader`, or its errors.
fn owned<R: BufRead>(reader: Reader<R>) -> Read {
    reader
        .map(|r| {
            r.map(|r| (r.offset, r.timestamp_ns, r.interface, r.data))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// This process's file for the mapped reader.
fn mapped_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!(
            "eastwest-fuzz-pcap-mmap-{}.pcap",
            std::process::id()
        ))
    })
}

fn mapped(file: &[u8]) -> MappedFile {
    let path = mapped_path();
    std::fs::write(path, file).expect("write the input to a file");
    let opened = std::fs::File::open(path).expect("open it");
    MappedFile::open(opened)
        .expect("map it")
        .expect("a regular file")
}

fuzz_target!(|file: &[u8]| {
    let Ok(reader) = Reader::new(file) else {
        return;
    };
    let want = owned(reader);
    let Ok(reader) = Reader::new(mapped(file)) else {
        panic!("the header read from memory but not from the mapped file");
    };
    assert_eq!(borrowed(reader), want, "next_ref over the mapped file");
    let Ok(reader) = Reader::new(mapped(file)) else {
        panic!("the header read from memory but not from the mapped file");
    };
    assert_eq!(owned(reader), want, "next_record over the mapped file");
});
