//! `core::decap`: any frame bytes are peeled and metered without a panic,
//! what is peeled lies inside the frame, and the exporter's one-pass
//! `peel_and_meter` gives exactly what `peel` then `meter_peeled` give.
#![no_main]

use eastwest_core::decap::{meter, meter_peeled, peel, peel_and_meter, DEFAULT_MAX_DEPTH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let two_pass = peel(frame, DEFAULT_MAX_DEPTH).and_then(|peeled| {
        assert!(peeled.frame.len() <= frame.len());
        if let Some(routed) = peeled.routed {
            assert!(routed.len() <= peeled.frame.len());
        }
        meter_peeled(&peeled).map(|m| (peeled, m))
    });
    assert_eq!(peel_and_meter(frame, DEFAULT_MAX_DEPTH), two_pass);
    let _ = meter(frame);
});
