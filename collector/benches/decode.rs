//! Decode-only throughput: NetFlow v9 datagrams laid out like an eastwest
//! exporter's (template 256, 18 IPv4 records per datagram) through
//! [`Decoder::decode`], single-threaded. Run with
//! `cargo bench -p eastwest-collector --bench decode`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::Instant;

use eastwest_collector::config::DecodeConfig;
use eastwest_collector::decode::{Datagram, Decoder};
use eastwest_core::netflow::{FIELDS_V4, TEMPLATE_V4};

fn main() {
    const RECORDS: u32 = 18;
    const DATAGRAMS: u32 = 200_000;
    let start_ms = 1_700_000_000_000;
    let exporter: SocketAddr = ([192, 0, 2, 1], 40_000).into();
    let records: Vec<Vec<u8>> = (0..RECORDS)
        .map(|i| common::record(&common::sample_flow(i, start_ms), FIELDS_V4, start_ms))
        .collect();
    let data = common::data(TEMPLATE_V4, &records);
    let template = common::template(TEMPLATE_V4, FIELDS_V4);
    let mut decoder = Decoder::new(&DecodeConfig::default());
    let first = Datagram {
        exporter,
        received_ms: start_ms,
        payload: common::packet(1, 0, 10_000, 1_700_000_010, 1, &[template]),
    };
    decoder.decode(&first, "live", &mut Vec::new());
    let payloads: Vec<Vec<u8>> = (1..=64)
        .map(|seq| {
            common::packet(
                1,
                seq,
                10_000,
                1_700_000_010,
                RECORDS as u16,
                std::slice::from_ref(&data),
            )
        })
        .collect();
    let mut rows = Vec::with_capacity(RECORDS as usize);
    let mut flows = 0usize;
    let began = Instant::now();
    for i in 0..DATAGRAMS {
        let datagram = Datagram {
            exporter,
            received_ms: start_ms,
            payload: payloads[(i % 64) as usize].clone(),
        };
        rows.clear();
        flows += decoder.decode(&datagram, "live", &mut rows).flows;
    }
    let elapsed = began.elapsed().as_secs_f64();
    println!(
        "decode: {flows} flows in {DATAGRAMS} datagrams, {elapsed:.2} s: {:.0} flows/s, {:.0} datagrams/s",
        flows as f64 / elapsed,
        f64::from(DATAGRAMS) / elapsed
    );
}
