//! `core::pcapfile` (classic pcap and pcapng): any file bytes are read
//! record by record until the end or a reported error, never a panic;
//! every record lies inside the file; and the exporter's zero-copy path
//! (`next_ref` over a buffer of any size, records straddling its end
//! copied) reads exactly what `next_record` reads.
#![no_main]

use std::io::{BufRead, BufReader};

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

fuzz_target!(|input: &[u8]| {
    let Some((&cap, file)) = input.split_first() else {
        return;
    };
    let Ok(reader) = Reader::new(file) else {
        return;
    };
    let mut want = Vec::new();
    for record in reader {
        match record {
            Ok(r) => {
                assert!(r.offset < file.len() as u64);
                want.push(Ok((r.offset, r.timestamp_ns, r.interface, r.data)));
            }
            Err(e) => want.push(Err(e.to_string())),
        }
    }
    let capacity = 1 + usize::from(cap) * 7;
    let Ok(reader) = Reader::new(BufReader::with_capacity(capacity, file)) else {
        panic!("the header read once but not twice");
    };
    assert_eq!(borrowed(reader), want);
});
