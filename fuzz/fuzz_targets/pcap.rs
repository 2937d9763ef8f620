//! `core::pcapfile`: any file bytes are read record by record until the
//! end or a reported error, never a panic, and every error names an offset
//! inside the file.
#![no_main]

use eastwest_core::pcapfile::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|file: &[u8]| {
    let Ok(mut reader) = Reader::new(file) else {
        return;
    };
    loop {
        match reader.next_record() {
            Ok(Some(record)) => assert!(record.offset < file.len() as u64),
            Ok(None) => break,
            Err(_) => break,
        }
    }
});
