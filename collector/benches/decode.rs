//! One core's throughput, single-threaded, on NetFlow v9 datagrams laid out
//! like an eastwest exporter's (template 256, 18 IPv4 records each):
//!
//! * `decode`: [`Decoder::decode`] alone;
//! * `pipeline`: decode, then enrich with `lab/inventory.toml` and judge with
//!   `lab/policy.toml`, what the collector's processing thread does per
//!   datagram.
//!
//! Run with `cargo bench -p eastwest-collector --bench decode`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use eastwest_collector::config::DecodeConfig;
use eastwest_collector::decode::{Datagram, Decoder};
use eastwest_collector::enrich::Enricher;
use eastwest_collector::verdict::Judge;
use eastwest_core::netflow::{FIELDS_V4, TEMPLATE_V4};

const RECORDS: u32 = 18;
/// Datagrams per measurement; `EASTWEST_BENCH_DATAGRAMS` overrides (e.g. a
/// few thousand under valgrind --tool=callgrind).
fn datagrams() -> u32 {
    std::env::var("EASTWEST_BENCH_DATAGRAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}
const START_MS: u64 = 1_700_000_000_000;

/// A decoder that knows the template, and 64 data datagrams to cycle.
fn setup() -> (Decoder, Vec<Vec<u8>>, SocketAddr) {
    let exporter: SocketAddr = ([192, 0, 2, 1], 40_000).into();
    let records: Vec<Vec<u8>> = (0..RECORDS)
        .map(|i| common::record(&common::sample_flow(i, START_MS), FIELDS_V4, START_MS))
        .collect();
    let data = common::data(TEMPLATE_V4, &records);
    let template = common::template(TEMPLATE_V4, FIELDS_V4);
    let mut decoder = Decoder::new(&DecodeConfig::default());
    let first = Datagram {
        exporter,
        received_ms: START_MS,
        payload: common::packet(1, 0, 10_000, 1_700_000_010, 1, &[template]),
    };
    decoder.decode(&first, "live", &mut Vec::new());
    let payloads = (1..=64)
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
    (decoder, payloads, exporter)
}

/// Run [`datagrams`] datagrams through decode and `per_row`; flows/s.
fn measure(name: &str, mut per_row: impl FnMut(&mut eastwest_clickhouse::schema::FlowRow)) {
    let (mut decoder, payloads, exporter) = setup();
    let mut rows = Vec::with_capacity(RECORDS as usize);
    let mut flows = 0usize;
    let count = datagrams();
    let began = Instant::now();
    for i in 0..count {
        // Sequence numbers keep counting, as from a live exporter.
        let mut payload = payloads[(i % 64) as usize].clone();
        payload[12..16].copy_from_slice(&(i + 1).to_be_bytes());
        let datagram = Datagram {
            exporter,
            received_ms: START_MS,
            payload,
        };
        rows.clear();
        flows += decoder.decode(&datagram, "live", &mut rows).flows;
        rows.iter_mut().for_each(&mut per_row);
    }
    let elapsed = began.elapsed().as_secs_f64();
    println!(
        "{name}: {flows} flows in {count} datagrams, {elapsed:.2} s: {:.0} flows/s, {:.0} datagrams/s",
        flows as f64 / elapsed,
        f64::from(count) / elapsed
    );
}

fn main() {
    measure("decode", |_| {});
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab");
    let mut enricher = match Enricher::load(Some(&lab.join("inventory.toml"))) {
        Ok(e) => e,
        Err(err) => return eprintln!("pipeline: inventory: {err}"),
    };
    let mut judge = match Judge::load(Some(&lab.join("policy.toml"))) {
        Ok(j) => j,
        Err(err) => return eprintln!("pipeline: policy: {err}"),
    };
    measure("pipeline (decode + enrich + verdict)", |row| {
        let endpoints = enricher.enrich(row);
        judge.judge(endpoints, row);
    });
}
