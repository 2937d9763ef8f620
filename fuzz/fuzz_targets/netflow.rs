//! The collector's decoder (NetFlow v5, v9, IPFIX, scoped per exporter):
//! a sequence of datagrams, each prefixed by its length (u16, big-endian),
//! from one exporter, is decoded without a panic, and templates carry from
//! one datagram to the next as they do on the wire.
#![no_main]

use eastwest_collector::config::DecodeConfig;
use eastwest_collector::decode::{Datagram, Decoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let mut decoder = Decoder::new(&DecodeConfig::default());
    let mut rows = Vec::new();
    let mut rest = input;
    let mut received_ms = 1_700_000_000_000;
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (payload, next) = tail.split_at(len);
        let datagram = Datagram {
            exporter: "192.0.2.1:2055".parse().expect("a socket address"),
            received_ms,
            payload: payload.to_vec(),
        };
        let _ = decoder.decode(&datagram, "", &mut rows);
        rows.clear();
        received_ms += 100;
        rest = next;
    }
});
