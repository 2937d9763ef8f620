//! Insert latency and throughput of the sink per batch size, against a
//! real ClickHouse, one insert after the other.
//!
//! For each batch size, `EASTWEST_BENCH_ROWS` rows (default 200,000) of
//! realistic, varied flow rows are inserted with [`Sink::insert`] (the
//! collector's own insert path: Native format, the materialized views into
//! `flows_1m` / `flows_1h` included) into a fresh database, one batch after
//! the other, and rows/s and the mean time per insert are printed. This
//! shows what one insert costs in time; the default `batch_rows` was sized
//! by the server's CPU per row under load (`scripts/bench-collector`,
//! docs/design.md), which this sequential figure does not show.
//!
//! Run with a server started first, e.g.
//! `scripts/clickhouse/run start var/bench-ch 28123 29000` then
//! `EASTWEST_BENCH_CLICKHOUSE_URL=http://127.0.0.1:28123 cargo bench -p eastwest-collector --bench sink`.

use std::time::Instant;

use eastwest_clickhouse::schema::{addr_to_bytes, date_of_ms, datetime_of_ms, reply_of, FlowRow};
use eastwest_collector::config::SinkConfig;
use eastwest_collector::http::Metrics;
use eastwest_collector::sink::Sink;
use eastwest_core::flow::Encap;
use eastwest_core::policy::VerdictKind;

const START_MS: u64 = 1_793_613_600_000;

fn row(i: u64) -> FlowRow {
    let start_ms = START_MS + i * 3;
    let reply = i % 2 == 1;
    let (sp, dp) = if reply {
        (443, 40_000 + (i % 20_000) as u16)
    } else {
        (40_000 + (i % 20_000) as u16, 443)
    };
    let vm = |n: u64| format!("vm-{:03}", n % 200).into();
    FlowRow {
        date: date_of_ms(start_ms),
        start: datetime_of_ms(start_ms),
        start_ms,
        end: datetime_of_ms(start_ms + 1500),
        end_ms: start_ms + 1500,
        received: datetime_of_ms(start_ms + 2000),
        dataset: "live".into(),
        exporter: addr_to_bytes([127, 0, 0, 1].into()),
        source_id: (i % 8) as u32,
        observer: format!("esx-{:02}", i % 8).into(),
        encap: Some(Encap::ErspanII),
        src_addr: addr_to_bytes([10, 10, (i % 7) as u8, (i % 200) as u8].into()),
        dst_addr: addr_to_bytes([10, 20, (i % 5) as u8, (i % 150) as u8].into()),
        src_port: sp,
        dst_port: dp,
        proto: 6,
        tcp_flags: 0x1b,
        packets: 1 + i % 50,
        bytes: 100 + (i % 50) * 900,
        sampling: 1,
        src_vm: vm(i),
        dst_vm: vm(i * 7 + 3),
        src_host: format!("esx-{:02}", i % 8).into(),
        dst_host: format!("esx-{:02}", (i + 1) % 8).into(),
        src_zone: ["web", "app", "db"][(i % 3) as usize].into(),
        dst_zone: ["app", "db", "web"][(i % 3) as usize].into(),
        reply: reply_of(6, sp, dp, 0),
        verdict: VerdictKind::Allowed,
        rule: "web to app".into(),
        policy_revision: "r1".into(),
        ..FlowRow::default()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(url) = std::env::var("EASTWEST_BENCH_CLICKHOUSE_URL") else {
        eprintln!(
            "set EASTWEST_BENCH_CLICKHOUSE_URL to a running ClickHouse (see the file's docs)"
        );
        std::process::exit(2);
    };
    let total: u64 = std::env::var("EASTWEST_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let rows: Vec<FlowRow> = (0..total).map(row).collect();
    println!("{total} rows per batch size, into {url}");
    println!("batch_rows  rows/s  ms/insert");
    for batch in [1_000usize, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000] {
        let config = SinkConfig {
            url: url.clone(),
            database: format!("bench_sink_{batch}_{}", std::process::id()),
            ..SinkConfig::default()
        };
        let sink = match Sink::connect(&config, Metrics::new().sink).await {
            Ok(sink) => sink,
            Err(err) => {
                eprintln!("{err}");
                std::process::exit(1);
            }
        };
        let started = Instant::now();
        let mut inserts = 0u32;
        for chunk in rows.chunks(batch) {
            if let Err(err) = sink.insert(chunk).await {
                eprintln!("insert of {} rows failed: {err}", chunk.len());
                std::process::exit(1);
            }
            inserts += 1;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{batch:>10}  {:>6.0}  {:>9.1}",
            total as f64 / secs,
            secs * 1000.0 / f64::from(inserts)
        );
    }
}
