//! Spool size and encoding cost per flow, on varied rows.
//!
//! Rows are drawn from a seeded generator shaped like a data centre's
//! east-west traffic, with the entropy real flows have (the load
//! generator's replayed cycle repeats its flows exactly, so it compresses
//! far better than real traffic would): 400 VMs on 16 hosts in 5 zones,
//! clients on random ephemeral ports calling 60 servers on 8 service
//! ports, packets log-uniform from 1 to 100,000 with random sizes, starts
//! in time order at 50,000 flows/s with up to a minute of spread,
//! durations up to a minute, VXLAN with 8 VNIs, every name, zone, verdict
//! and rule column filled.
//!
//! For each batch size it prints the time to encode the rows into a Native
//! block ([`FlowsBlock`]), the block's size per row, and the spool's size
//! on disk per row once the block is written as a segment (LZ4,
//! `collector/src/spool.rs`), with the time that took (fsync included).
//!
//! Run with `cargo bench -p eastwest-collector --bench spool`;
//! `EASTWEST_BENCH_DUMP=PATH` also writes the largest block to PATH (to
//! compare other compressors on it).

use std::time::Instant;

use eastwest_clickhouse::schema::FlowsBlock;
use eastwest_clickhouse::schema::{addr_to_bytes, date_of_ms, datetime_of_ms, reply_of, FlowRow};
use eastwest_collector::block::Block;
use eastwest_collector::metrics::Registry;
use eastwest_collector::spool::Spool;
use eastwest_collector::spool::SpoolMetrics;
use eastwest_core::flow::Encap;
use eastwest_core::policy::VerdictKind;
use eastwest_core::severity::Severity;

const START_MS: u64 = 1_793_613_600_000;
const VMS: u64 = 400;
const SERVERS: u64 = 60;
const ZONES: [&str; 5] = ["dmz", "app", "db", "mgmt", "fin"];
const PORTS: [u16; 8] = [443, 8443, 5432, 3306, 53, 22, 9092, 6379];

/// xorshift64*: a fixed sequence, so every run measures the same rows.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn vm_name(vm: u64) -> String {
    format!("{}-{:03}", ZONES[(vm % 5) as usize], vm)
}

fn host(vm: u64) -> String {
    format!("esx-{:02}", vm % 16)
}

fn row(i: u64, rng: &mut Random) -> FlowRow {
    let client = rng.below(VMS);
    let server = rng.below(SERVERS) * 7 % VMS;
    let service = PORTS[rng.below(PORTS.len() as u64) as usize];
    let ephemeral = 32_768 + rng.below(28_232) as u16;
    let reply = rng.below(2) == 1;
    let (src, dst, src_port, dst_port) = match reply {
        false => (client, server, ephemeral, service),
        true => (server, client, service, ephemeral),
    };
    let proto = if service == 53 { 17 } else { 6 };
    let packets = 1u64 << rng.below(17);
    let packets = packets + rng.below(packets);
    let bytes = packets * (64 + rng.below(1437));
    let end_ms = START_MS + i / 50 + rng.below(1000);
    let start_ms = end_ms - rng.below(60_000);
    let addr = |vm: u64| {
        addr_to_bytes(
            [
                10,
                10 + (vm % 5) as u8,
                (vm / 250) as u8,
                (vm % 250) as u8 + 1,
            ]
            .into(),
        )
    };
    let mac = |vm: u64| {
        [
            0x00,
            0x50,
            0x56,
            (vm >> 16) as u8,
            (vm >> 8) as u8,
            vm as u8,
        ]
    };
    let (src_zone, dst_zone) = (ZONES[(src % 5) as usize], ZONES[(dst % 5) as usize]);
    let allowed = src_zone == dst_zone || rng.below(10) > 0;
    FlowRow {
        date: date_of_ms(start_ms),
        start: datetime_of_ms(start_ms),
        start_ms,
        end: datetime_of_ms(end_ms),
        end_ms,
        received: datetime_of_ms(end_ms + rng.below(1000)),
        dataset: "live".into(),
        exporter: addr_to_bytes([192, 168, 0, (src % 16) as u8 + 1].into()),
        source_id: (src % 16) as u32,
        observer: host(src).into(),
        encap: Some(Encap::Vxlan),
        vni: 5000 + (src % 8) as u32,
        src_addr: addr(src),
        dst_addr: addr(dst),
        src_port,
        dst_port,
        proto,
        tcp_flags: if proto == 6 {
            [0x1b, 0x18, 0x1f, 0x02][rng.below(4) as usize]
        } else {
            0
        },
        src_mac: mac(src),
        dst_mac: mac(dst),
        packets,
        bytes,
        sampling: 1,
        src_vm: vm_name(src).into(),
        dst_vm: vm_name(dst).into(),
        src_host: host(src).into(),
        dst_host: host(dst).into(),
        src_zone: src_zone.into(),
        dst_zone: dst_zone.into(),
        same_host: u8::from(src % 16 == dst % 16),
        reply: reply_of(proto, src_port, dst_port, 0),
        verdict: if allowed {
            VerdictKind::Allowed
        } else {
            VerdictKind::Violation
        },
        rule: format!("{src_zone} to {dst_zone}").into(),
        severity: (!allowed).then_some(Severity::High),
        policy_revision: "r42".into(),
        ..FlowRow::default()
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("eastwest-bench-spool-{}", std::process::id()));
    for batch in [20_000u64, 200_000] {
        let mut rng = Random(0x9e37_79b9_7f4a_7c15);
        let rows: Vec<FlowRow> = (0..batch).map(|i| row(i, &mut rng)).collect();
        let began = Instant::now();
        let mut block = FlowsBlock::with_capacity(batch as usize);
        rows.iter().for_each(|row| block.push(row));
        let block = Block::new(block);
        let encode = began.elapsed();
        if let Ok(path) = std::env::var("EASTWEST_BENCH_DUMP") {
            std::fs::write(path, block.to_vec()).expect("writing the dump");
        }
        let _ = std::fs::remove_dir_all(&dir);
        let metrics = SpoolMetrics::new(&mut Registry::default());
        let mut spool = Spool::open(&dir, u64::MAX, metrics.clone()).expect("opening the spool");
        let began = Instant::now();
        spool.push(&block).expect("writing the segment");
        let write = began.elapsed();
        let on_disk = metrics.bytes.get();
        println!(
            "batch {batch} rows: encode {:.0} ns/row, Native {:.1} bytes/row, spool {:.1} bytes/row on disk (segment written in {:.1} ms)",
            encode.as_nanos() as f64 / batch as f64,
            block.len() as f64 / batch as f64,
            on_disk as f64 / batch as f64,
            write.as_secs_f64() * 1000.0,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
