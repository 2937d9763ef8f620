//! The on-disk spool with real components: a ClickHouse 18.16 of this test's
//! own (started and stopped here with scripts/clickhouse/run, never the
//! shared one), the collector on real UDP sockets and hand-built NetFlow v9
//! export packets of unique flows.
//!
//! * ClickHouse stopped while flows arrive, then started again: every flow
//!   sent is stored once.
//! * The collector binary killed with SIGKILL while its rows wait in the
//!   spool, then started again: every flow is stored, none twice.
//! * The collector started before ClickHouse ever ran: it spools, then
//!   creates the schema when the server comes and stores every flow once.
//! * ClickHouse frozen (accepting connections, answering nothing): the
//!   collector still stops within its deadline and spools what it holds.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result};
use eastwest_tests::{tempdir, wait_for, ClickHouse, CollectorProcess, OwnClickHouse};

fn send(socket: &UdpSocket, to: SocketAddr, range: std::ops::Range<u32>) -> Result<()> {
    for n in range {
        socket.send_to(&common::ten_flows(n), to)?;
        if n % 50 == 0 {
            // Stay within the receive buffer: a paced exporter, not a flood.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(())
}

fn stored(ch: &ClickHouse, db: &str) -> Result<(u64, u64)> {
    let out = ch.query(&format!(
        "SELECT count(), uniqExact(src_port, dst_addr, start_ms) FROM `{db}`.flows"
    ))?;
    let mut it = out.split_whitespace().map(|v| v.parse::<u64>());
    Ok((it.next().context("count")??, it.next().context("uniq")??))
}

/// The collector's config at `config`: UDP `udp` and HTTP `http` on
/// loopback, ClickHouse at `url`, database `database`, flushes every 200 ms,
/// retries within a second, the spool in `spool`, plus `extra` TOML lines
/// of `[clickhouse]`.
fn write_config(
    config: &std::path::Path,
    udp: u16,
    http: u16,
    url: &str,
    database: &str,
    extra: &str,
    spool: &std::path::Path,
) -> Result<()> {
    std::fs::write(
        config,
        format!(
            "[receive]\nlisten = [\"127.0.0.1:{udp}\"]\n[http]\nlisten = \"127.0.0.1:{http}\"\n\
             [clickhouse]\nurl = \"{url}\"\ndatabase = \"{database}\"\nflush_interval_ms = 200\n\
             retry_max_ms = 1000\n{extra}spool_dir = \"{}\"\n",
            spool.display()
        ),
    )?;
    Ok(())
}

#[test]
fn clickhouse_stopped_under_load_then_restarted_stores_every_flow() -> Result<()> {
    let server = OwnClickHouse::start("spool-outage")?;
    let ch = server.client();
    let spool = tempdir("spool-outage")?;
    let udp = eastwest_tests::free_udp_port()?;
    let http = eastwest_tests::free_tcp_port()?;
    let config = spool.join("collector.toml");
    write_config(
        &config,
        udp,
        http,
        &ch.url,
        "spool",
        "exporters_interval_ms = 300\n",
        &spool.join("spool"),
    )?;
    let collector = CollectorProcess::start(&config, http)?;
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, udp));
    let socket = UdpSocket::bind("127.0.0.1:0")?;

    // 2,000 flows while ClickHouse is up ...
    send(&socket, to, 0..200)?;
    wait_for(30, "2,000 rows stored", || {
        Ok(stored(&ch, "spool")?.0 == 2000)
    })?;
    // ... 3,000 more while it is stopped: they go to the spool.
    server.down()?;
    send(&socket, to, 200..500)?;
    wait_for(30, "3,000 rows spooled", || {
        Ok(collector.metric("eastwest_collector_spool_rows")? == 3000)
    })?;
    assert!(collector.metric("eastwest_collector_spool_segments")? > 0);
    assert!(collector.metric("eastwest_collector_spool_bytes")? > 0);
    // ClickHouse back: the spool is replayed, flows arriving meanwhile too.
    server.up()?;
    send(&socket, to, 500..600)?;
    wait_for(60, "6,000 rows stored", || {
        Ok(stored(&ch, "spool")?.0 == 6000)
    })?;
    assert_eq!(stored(&ch, "spool")?, (6000, 6000), "every flow once");
    wait_for(10, "an empty spool", || {
        Ok(collector.metric("eastwest_collector_spool_rows")? == 0)
    })?;
    assert_eq!(
        collector.metric("eastwest_collector_spool_dropped_rows_total")?,
        0
    );
    assert_eq!(
        collector.metric("eastwest_collector_sink_dropped_rows_total")?,
        0
    );
    assert_eq!(
        collector.metric("eastwest_collector_decode_flows_total")?,
        6000
    );
    // The exporters table: the one exporter (source id 7) and what it sent.
    // Decode publishes its snapshot at most once a second while traffic
    // flows and once more at shutdown: stop the collector (SIGTERM), then
    // read the newest row.
    let mut collector = collector;
    collector.terminate()?;
    assert_eq!(
        ch.query(
            "SELECT hex(exporter), source_id, version, argMax(packets, updated), \
             argMax(flows, updated), argMax(sequence_gaps, updated) FROM spool.exporters \
             GROUP BY exporter, source_id, version",
        )?,
        "00000000000000000000FFFF7F000001\t7\t9\t600\t6000\t0\n"
    );
    std::fs::remove_dir_all(&spool)?;
    Ok(())
}

#[test]
fn a_collector_started_before_clickhouse_spools_then_migrates_and_stores_every_flow() -> Result<()>
{
    // Ports and directory chosen, the server not started.
    let server = OwnClickHouse::prepare("spool-late")?;
    let ch = server.client();
    let spool = tempdir("spool-late")?;
    let udp = eastwest_tests::free_udp_port()?;
    let http = eastwest_tests::free_tcp_port()?;
    let config = spool.join("collector.toml");
    write_config(
        &config,
        udp,
        http,
        &ch.url,
        "late",
        "exporters_interval_ms = 300\n",
        &spool.join("spool"),
    )?;
    let collector = CollectorProcess::start(&config, http)?;
    assert_eq!(collector.metric("eastwest_collector_sink_up")?, 0);
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, udp));
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    // 3,000 flows with no ClickHouse at all: they go to the spool.
    send(&socket, to, 0..300)?;
    wait_for(30, "3,000 rows spooled", || {
        Ok(collector.metric("eastwest_collector_spool_rows")? == 3000)
    })?;
    // The server's first start: the schema is created, the spool replayed,
    // flows arriving meanwhile stored behind it.
    server.up()?;
    send(&socket, to, 300..400)?;
    wait_for(60, "4,000 rows stored", || {
        Ok(ch
            .query("EXISTS TABLE late.flows")
            .is_ok_and(|t| t.trim() == "1")
            && stored(&ch, "late")?.0 == 4000)
    })?;
    assert_eq!(stored(&ch, "late")?, (4000, 4000), "every flow once");
    wait_for(10, "an empty spool", || {
        Ok(collector.metric("eastwest_collector_spool_rows")? == 0)
    })?;
    assert_eq!(collector.metric("eastwest_collector_sink_up")?, 1);
    for dropped in [
        "eastwest_collector_spool_dropped_rows_total",
        "eastwest_collector_sink_dropped_rows_total",
    ] {
        assert_eq!(collector.metric(dropped)?, 0, "{dropped}");
    }
    // The stages that waited for the connection run too: the exporters
    // table holds the exporter's final snapshot after a clean stop.
    let mut collector = collector;
    collector.terminate()?;
    assert_eq!(
        ch.query(
            "SELECT source_id, argMax(packets, updated), argMax(flows, updated) \
             FROM late.exporters GROUP BY source_id",
        )?,
        "7\t400\t4000\n"
    );
    std::fs::remove_dir_all(&spool)?;
    Ok(())
}

#[test]
fn a_collector_killed_with_sigkill_replays_its_spool_on_restart() -> Result<()> {
    let server = OwnClickHouse::start("spool-kill")?;
    let ch = server.client();
    let dir = tempdir("spool-kill")?;
    let udp = eastwest_tests::free_udp_port()?;
    let http = eastwest_tests::free_tcp_port()?;
    let config = dir.join("collector.toml");
    write_config(
        &config,
        udp,
        http,
        &ch.url,
        "spool",
        "batch_rows = 500\n",
        &dir.join("spool"),
    )?;
    let mut collector = CollectorProcess::start(&config, http)?;
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, udp));
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    send(&socket, to, 0..100)?;
    wait_for(30, "1,000 rows stored", || {
        Ok(stored(&ch, "spool")?.0 == 1000)
    })?;
    server.down()?;
    send(&socket, to, 100..500)?;
    // Once the spool says it holds the rows, they are fsynced on disk.
    wait_for(30, "4,000 rows spooled", || {
        Ok(collector.metric("eastwest_collector_spool_rows")? == 4000)
    })?;
    collector.kill9()?;
    let segments = std::fs::read_dir(dir.join("spool"))?.count();
    assert!(
        segments >= 8,
        "4,000 rows in batches of 500: {segments} segments"
    );

    server.up()?;
    let collector = CollectorProcess::start(&config, http)?;
    wait_for(60, "5,000 rows stored", || {
        Ok(stored(&ch, "spool")?.0 >= 5000)
    })?;
    // The kill came while ClickHouse was away, so no spooled batch had been
    // inserted: nothing is lost and nothing is inserted twice.
    assert_eq!(stored(&ch, "spool")?, (5000, 5000));
    wait_for(10, "an empty spool", || {
        Ok(collector.metric("eastwest_collector_spool_segments")? == 0)
    })?;
    assert_eq!(std::fs::read_dir(dir.join("spool"))?.count(), 0);
    drop(collector);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_frozen_clickhouse_cannot_hold_up_the_stop_and_the_rows_are_spooled() -> Result<()> {
    let server = OwnClickHouse::start("spool-frozen")?;
    let ch = server.client();
    let dir = tempdir("spool-frozen")?;
    let udp = eastwest_tests::free_udp_port()?;
    let http = eastwest_tests::free_tcp_port()?;
    let config = dir.join("collector.toml");
    write_config(
        &config,
        udp,
        http,
        &ch.url,
        "frozen",
        "exporters_interval_ms = 300\nshutdown_timeout_ms = 2000\n",
        &dir.join("spool"),
    )?;
    let mut collector = CollectorProcess::start(&config, http)?;
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, udp));
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    send(&socket, to, 0..100)?;
    // Stored, and the server's answer received (the rows can be visible
    // a moment before the insert's views are done and it answers).
    wait_for(30, "1,000 rows stored", || {
        Ok(collector.metric("eastwest_collector_sink_rows_total")? == 1000)
    })?;
    server.freeze(true)?;
    send(&socket, to, 100..200)?;
    wait_for(30, "1,000 more rows decoded", || {
        Ok(collector.metric("eastwest_collector_decode_flows_total")? == 2000)
    })?;
    // SIGTERM with inserts and the exporters write hanging on the frozen
    // server: the stop is bounded (shutdown_timeout_ms plus the stages'
    // grace), the process exits, and what ClickHouse never confirmed is in
    // the spool for the next start.
    let asked = std::time::Instant::now();
    let stopped = collector.terminate();
    let took = asked.elapsed();
    server.freeze(false)?;
    stopped?;
    assert!(
        took < Duration::from_secs(60),
        "the stop took {took:?} with ClickHouse frozen"
    );
    let collector = CollectorProcess::start(&config, http)?;
    // An insert abandoned at the stop may have been sent whole: the kernel
    // holds it for the frozen server, which stores it once thawed, and the
    // replay stores it again (at least once). Every flow is there, and at
    // most the 1,000 sent during the freeze twice.
    wait_for(60, "2,000 distinct rows stored", || {
        Ok(stored(&ch, "frozen")?.1 == 2000)
    })?;
    let (count, distinct) = stored(&ch, "frozen")?;
    assert_eq!(distinct, 2000, "every flow stored");
    assert!(
        (2000..=3000).contains(&count),
        "{count} rows: only the batches abandoned at the stop may be stored twice"
    );
    drop(collector);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
