//! `core::decap`: any frame bytes are peeled and metered without a panic,
//! and what is peeled lies inside the frame.
#![no_main]

use eastwest_core::decap::{meter, peel, DEFAULT_MAX_DEPTH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    if let Ok(peeled) = peel(frame, DEFAULT_MAX_DEPTH) {
        assert!(peeled.frame.len() <= frame.len());
        let _ = meter(peeled.frame);
    }
    let _ = meter(frame);
});
