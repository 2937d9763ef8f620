//! The exporter's packet store readers (`eastwest_exporter::store::format`):
//! index files and segments read at start-up and by the evidence server.
//! The first byte chooses the reader. Any bytes: no panic; an index that
//! parses encodes back to exactly its bytes, and each of its entries lies
//! inside the source it covers; a segment scan returns records that follow
//! one another inside the bytes, up to the valid length it reports.
#![no_main]

use eastwest_exporter::store::format::{
    self, Index, IndexHeader, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&which, bytes)) = input.split_first() else {
        return;
    };
    if which & 1 == 0 {
        // What the server reads: the header alone, then the tables.
        if let Ok(h) = IndexHeader::parse(bytes) {
            if let Some((flows_at, entries_at, _)) = h.layout() {
                let flows = bytes.get(flows_at as usize..).unwrap_or_default();
                let _ = format::parse_flows(flows);
                let entries = bytes.get(entries_at as usize..).unwrap_or_default();
                let _ = format::parse_entries(entries);
            }
        }
        if let Ok(index) = Index::parse(bytes) {
            assert_eq!(index.encode(), bytes, "an index encodes back to its bytes");
            for e in &index.entries {
                assert!(e.pos + u64::from(e.cap_len) <= index.header.covered);
            }
        }
    } else if let Ok((frames, valid)) = format::scan_segment(bytes) {
        assert!(valid as usize <= bytes.len());
        let mut at = SEGMENT_HEADER_LEN as u64;
        for f in &frames {
            assert_eq!(f.pos, at, "records follow one another");
            at += (RECORD_HEADER_LEN as u64) + u64::from(f.header.cap_len);
        }
        assert_eq!(at, valid);
    }
});
