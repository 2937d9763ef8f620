//! Collector fault suite (docs/faults.md): the collector binary on real UDP
//! sockets, `eastwest-loadgen` as the well-behaved exporter, and a real
//! ClickHouse 18.16 (the run's shared one, or one of the test's own where
//! the test stops it). Every test asserts numbers: what was sent, stored,
//! dropped and counted, and the collector's peak RSS.
//!
//! The tests take turns (one lock): a flood next to an outage test would
//! make both measure each other. `EASTWEST_LONG_FAULTS=1` makes the outage
//! last minutes instead of seconds.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use eastwest_tests::{
    free_tcp_port, free_udp_port, tempdir, unique_database, wait_for, workspace_bin, ClickHouse,
    CollectorProcess, OwnClickHouse,
};

static TURN: Mutex<()> = Mutex::new(());

fn long() -> bool {
    std::env::var_os("EASTWEST_LONG_FAULTS").is_some_and(|v| v == "1")
}

/// What `eastwest-loadgen --json` reports.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
struct Sent {
    datagrams: u64,
    flows: u64,
    packets: u64,
    bytes: u64,
}

/// Run `eastwest-loadgen` against `target` with `args`; what it sent.
fn loadgen(target: SocketAddr, args: &[&str]) -> Result<Sent> {
    let out = Command::new(workspace_bin("eastwest-loadgen"))
        .args(["--target", &target.to_string(), "--json"])
        .args(args)
        .output()
        .context("running eastwest-loadgen")?;
    if !out.status.success() {
        bail!(
            "eastwest-loadgen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("eastwest-loadgen --json output")
}

/// A collector on a free UDP port with `extra` TOML lines in its sections.
struct Setup {
    dir: std::path::PathBuf,
    udp: SocketAddr,
    http: u16,
}

impl Setup {
    fn new(
        name: &str,
        ch: &ClickHouse,
        database: &str,
        sections: &[(&str, &str)],
    ) -> Result<Setup> {
        let dir = tempdir(name)?;
        let udp = SocketAddr::from(([127, 0, 0, 1], free_udp_port()?));
        let http = free_tcp_port()?;
        let lines = |name: &str| -> String {
            sections
                .iter()
                .filter(|(section, _)| *section == name)
                .map(|(_, lines)| format!("{lines}\n"))
                .collect()
        };
        let mut text = format!(
            "[receive]\nlisten = [\"{udp}\"]\n{}[http]\nlisten = \"127.0.0.1:{http}\"\n\
             [clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\n{}",
            lines("receive"),
            ch.url,
            lines("clickhouse"),
        );
        for (section, lines) in sections {
            if !["receive", "clickhouse"].contains(section) {
                text.push_str(&format!("[{section}]\n{lines}\n"));
            }
        }
        std::fs::write(dir.join("collector.toml"), text)?;
        Ok(Setup { dir, udp, http })
    }

    fn start(&self) -> Result<CollectorProcess> {
        CollectorProcess::start(&self.dir.join("collector.toml"), self.http)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("collector.log")).unwrap_or_default()
    }
}

fn count(ch: &ClickHouse, sql: &str) -> Result<u64> {
    let out = ch.query(sql)?;
    out.trim()
        .parse()
        .with_context(|| format!("`{sql}` answered {out:?}"))
}

/// UDP flood beyond what the collector and ClickHouse can take: the excess
/// is dropped at the receive queue and the kernel socket, both counted and
/// adding up to what was sent; memory stays bounded; everything decoded is
/// stored; flows sent after the flood are all stored.
#[test]
fn a_udp_flood_is_counted_bounded_and_recovered_from() -> Result<()> {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let ch = eastwest_tests::clickhouse()?;
    let db = unique_database("fault_flood");
    let setup = Setup::new(
        "fault-flood",
        &ch,
        &db,
        &[
            ("clickhouse", "flush_interval_ms = 200"),
            (
                "receive",
                "queue_datagrams = 512\nrecv_buffer_bytes = 262144",
            ),
        ],
    )?;
    let collector = setup.start()?;

    // Offer 2M flows/s (the generator sends as fast as it can) for 4 s.
    let flood = loadgen(
        setup.udp,
        &["--exporters", "4", "--rate", "2000000", "--duration", "4"],
    )?;
    let rss = collector.peak_rss_mib()?;
    // Drained: every datagram the collector took is decoded and stored.
    wait_for(120, "the backlog stored", || {
        let decoded = collector.metric("eastwest_collector_decode_flows_total")?;
        Ok(
            collector.metric("eastwest_collector_sink_rows_total")? == decoded
                && collector.metric("eastwest_collector_receive_queue_depth")? == 0,
        )
    })?;
    let received = collector.metric("eastwest_collector_receive_packets_total")?;
    let queue_drops = collector.metric("eastwest_collector_receive_dropped_total")?;
    let kernel_drops = collector.metric("eastwest_collector_receive_kernel_drops_total")?;
    let decoded_packets = collector.metric("eastwest_collector_decode_packets_total")?;
    let decoded = collector.metric("eastwest_collector_decode_flows_total")?;
    let stored = count(&ch, &format!("SELECT count() FROM {db}.flows"))?;
    println!(
        "flood: sent {} datagrams / {} flows; kernel dropped {kernel_drops}, queue dropped \
         {queue_drops}, decoded {decoded_packets} datagrams / {decoded} flows, stored {stored}; \
         peak RSS {rss} MiB",
        flood.datagrams, flood.flows
    );
    assert!(
        queue_drops > 0 && kernel_drops > 0,
        "a flood this size overflows both the queue and the socket"
    );
    assert_eq!(
        received + kernel_drops,
        flood.datagrams,
        "kernel accounting"
    );
    assert_eq!(decoded_packets + queue_drops, received, "queue accounting");
    assert_eq!(stored, decoded, "everything decoded is stored");
    assert_eq!(
        collector.metric("eastwest_collector_sink_dropped_rows_total")?,
        0
    );
    assert!(rss < 400, "peak RSS {rss} MiB");

    // Recovery: a paced exporter after the flood is stored exactly. First
    // the server's merges of the flood's parts are let finish: on two
    // cores they starve the collector's receive task long enough for the
    // deliberately small socket buffer to overflow (counted kernel drops,
    // but not the recovery this checks).
    wait_for(120, "the flood's merges", || {
        Ok(count(
            &ch,
            &format!("SELECT count() FROM system.merges WHERE database = '{db}'"),
        )? == 0)
    })?;
    let after = loadgen(
        setup.udp,
        &[
            "--exporters",
            "2",
            "--rate",
            "5000",
            "--flows",
            "20000",
            "--dataset",
            "after",
        ],
    )?;
    wait_for(60, "the flows sent after the flood", || {
        Ok(count(
            &ch,
            &format!("SELECT count() FROM {db}.flows WHERE dataset = 'after'"),
        )? >= after.flows)
    })?;
    let row = ch.query(&format!(
        "SELECT count(), sum(packets), sum(bytes) FROM {db}.flows WHERE dataset = 'after'"
    ))?;
    assert_eq!(
        row.trim(),
        format!("{}\t{}\t{}", after.flows, after.packets, after.bytes)
    );
    drop(collector);
    ch.query(&format!("DROP DATABASE {db}"))?;
    std::fs::remove_dir_all(&setup.dir)?;
    Ok(())
}

/// Hand-built NetFlow v9: header (RFC 3954 §5.1) and flowsets.
fn v9_packet(source_id: u32, sequence: u32, count: u16, flowsets: &[Vec<u8>]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&9u16.to_be_bytes());
    p.extend_from_slice(&count.to_be_bytes());
    p.extend_from_slice(&100_000u32.to_be_bytes()); // sysUptime
    p.extend_from_slice(&1_793_613_600u32.to_be_bytes()); // unix secs
    p.extend_from_slice(&sequence.to_be_bytes());
    p.extend_from_slice(&source_id.to_be_bytes());
    for f in flowsets {
        p.extend_from_slice(f);
    }
    p
}

fn flowset(id: u16, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(body.len() + 4);
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(
        &u16::try_from(body.len() + 4)
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    f.extend_from_slice(body);
    f
}

/// A template flowset defining `ids`, each with `fields` (type, length).
fn templates(ids: impl IntoIterator<Item = u16>, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut body = Vec::new();
    for id in ids {
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(&u16::try_from(fields.len()).unwrap_or(0).to_be_bytes());
        for (kind, len) in fields {
            body.extend_from_slice(&kind.to_be_bytes());
            body.extend_from_slice(&len.to_be_bytes());
        }
    }
    flowset(0, &body)
}

/// IPv4 src/dst, ports, protocol, bytes, packets.
const FIELDS_A: &[(u16, u16)] = &[(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 4), (2, 4)];
/// The same with 8-byte counters first and the addresses last.
const FIELDS_B: &[(u16, u16)] = &[(1, 8), (2, 8), (4, 1), (7, 2), (11, 2), (8, 4), (12, 4)];

/// One record of flow `n` in `fields`: 10.9.x.y → 10.8.0.1, port 40000+n,
/// 7 packets, 700 bytes.
fn record(n: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut r = Vec::new();
    for (kind, len) in fields {
        let value: u64 = match kind {
            8 => u64::from(u32::from_be_bytes([10, 9, (n >> 8) as u8, n as u8])),
            12 => u64::from(u32::from_be_bytes([10, 8, 0, 1])),
            7 => 40_000 + u64::from(n),
            11 => 443,
            4 => 6,
            1 => 700,
            2 => 7,
            _ => 0,
        };
        r.extend_from_slice(&value.to_be_bytes()[8 - usize::from(*len)..]);
    }
    r
}

/// A hostile exporter (random bytes, truncated packets, a flood of 12,000
/// templates, a template id redefined in every packet) next to a
/// well-behaved one: no panic, the template table bounded and counted,
/// memory bounded, the good exporter's flows stored exactly and the
/// redefined template's records decoded each with its own layout.
#[test]
fn a_hostile_exporter_is_bounded_and_a_good_one_stored_exactly() -> Result<()> {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let ch = eastwest_tests::clickhouse()?;
    let db = unique_database("fault_hostile");
    let setup = Setup::new(
        "fault-hostile",
        &ch,
        &db,
        &[
            ("clickhouse", "flush_interval_ms = 200"),
            ("decode", "max_templates = 256\ntemplate_wait_ms = 500"),
        ],
    )?;
    let mut collector = setup.start()?;
    let to = setup.udp;

    let good = std::thread::spawn(move || {
        loadgen(
            to,
            &[
                "--exporters",
                "2",
                "--rate",
                "20000",
                "--flows",
                "60000",
                "--dataset",
                "good",
            ],
        )
    });

    let hostile = UdpSocket::bind("127.0.0.1:0")?;
    let mut sent = 0u64;
    let mut send = |payload: &[u8]| -> Result<()> {
        hostile.send_to(payload, to)?;
        sent += 1;
        if sent.is_multiple_of(20) {
            // Paced, so the socket never overflows (kernel drops are
            // checked to be 0 below): the good exporter must lose nothing.
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    };
    // xorshift: reproducible random bytes without a dependency.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // 2,000 random datagrams, half of them behind a plausible v9 header.
    for i in 0..2000u32 {
        let len = 20 + (random() % 1400) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| random() as u8).collect();
        if i % 2 == 0 {
            bytes[..20].copy_from_slice(&v9_packet(random() as u32, i, 3, &[])[..20]);
        }
        send(&bytes)?;
    }
    // 2,000 truncated copies of a valid packet (source id 77).
    let whole = v9_packet(
        77,
        0,
        2,
        &[
            templates([300], FIELDS_A),
            flowset(300, &[record(1, FIELDS_A), record(2, FIELDS_A)].concat()),
        ],
    );
    for i in 0..2000usize {
        send(&whole[..i % whole.len()])?;
    }
    // A template flood: 1,200 packets of 10 new template ids (source id 88).
    for n in 0..1200u16 {
        let ids = (0..10).map(move |i| 256 + n * 10 + i);
        send(&v9_packet(
            88,
            u32::from(n),
            10,
            &[templates(ids, FIELDS_A)],
        ))?;
    }
    // Template 256 redefined in every packet, each with one record in the
    // layout it just defined (source id 99).
    for n in 0..1000u16 {
        let fields = if n % 2 == 0 { FIELDS_A } else { FIELDS_B };
        send(&v9_packet(
            99,
            u32::from(n),
            2,
            &[templates([256], fields), flowset(256, &record(n, fields))],
        ))?;
    }
    let good = good
        .join()
        .map_err(|_| anyhow::anyhow!("the load generator thread panicked"))??;

    let good_rows = format!("SELECT count() FROM {db}.flows WHERE dataset = 'good'");
    wait_for(60, "the good exporter's flows", || {
        Ok(count(&ch, &good_rows)? >= good.flows)
    })?;
    wait_for(30, "the redefined template's records", || {
        Ok(count(
            &ch,
            &format!("SELECT count() FROM {db}.flows WHERE source_id = 99"),
        )? >= 1000)
    })?;
    assert!(collector.alive(), "{}", setup.log());
    let kernel_drops = collector.metric("eastwest_collector_receive_kernel_drops_total")?;
    let queue_drops = collector.metric("eastwest_collector_receive_dropped_total")?;
    let evicted = collector.metric("eastwest_collector_decode_templates_evicted_total")?;
    let errors = collector.metric("eastwest_collector_decode_errors_total")?;
    let rss = collector.peak_rss_mib()?;
    println!(
        "hostile: {sent} datagrams; decode errors {errors}, templates evicted {evicted}, \
         kernel drops {kernel_drops}, queue drops {queue_drops}; peak RSS {rss} MiB; \
         good exporter: {} flows sent",
        good.flows
    );
    assert_eq!((kernel_drops, queue_drops), (0, 0), "nothing lost to load");
    let row = ch.query(&format!(
        "SELECT count(), sum(packets), sum(bytes) FROM {db}.flows WHERE dataset = 'good'"
    ))?;
    assert_eq!(
        row.trim(),
        format!("{}\t{}\t{}", good.flows, good.packets, good.bytes),
        "the good exporter, exactly"
    );
    // Each redefinition decoded with its own layout: the same 7 packets and
    // 700 bytes from 1,000 distinct source ports, once each.
    let row = ch.query(&format!(
        "SELECT count(), uniqExact(src_port), min(packets), max(packets), sum(bytes) \
         FROM {db}.flows WHERE source_id = 99"
    ))?;
    assert_eq!(row.trim(), "1000\t1000\t7\t7\t700000");
    // 12,000 templates into a table of 256.
    assert_eq!(evicted, 12_000 - 256);
    assert!(
        errors >= 2000,
        "random and truncated datagrams counted: {errors}"
    );
    assert!(rss < 300, "peak RSS {rss} MiB");
    assert_eq!(
        collector.metric("eastwest_collector_sink_dropped_rows_total")?,
        0
    );
    collector.terminate()?;
    ch.query(&format!("DROP DATABASE {db}"))?;
    std::fs::remove_dir_all(&setup.dir)?;
    Ok(())
}

/// The spool limit reached while ClickHouse is away: the oldest segments
/// are dropped and counted, the spool stays within its limit, the
/// collector keeps running with bounded memory, and once ClickHouse is
/// back, stored + dropped = sent exactly.
#[test]
fn the_spool_limit_drops_the_oldest_counted_and_keeps_running() -> Result<()> {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let server = OwnClickHouse::start("fault-spool-limit")?;
    let ch = server.client();
    let dir = tempdir("fault-spool-limit-spool")?;
    let limit: u64 = 1 << 20;
    let setup = Setup::new(
        "fault-spool-limit",
        &ch,
        "spool_limit",
        &[(
            "clickhouse",
            &format!(
                "batch_rows = 1000\nflush_interval_ms = 200\nretry_max_ms = 500\n\
                 spool_dir = \"{}\"\nspool_max_bytes = {limit}",
                dir.display()
            ),
        )],
    )?;
    let mut collector = setup.start()?;
    server.down()?;
    let sent = loadgen(
        setup.udp,
        // Segments are compressed (a few bytes a row for the load
        // generator's repeating flows): enough rows to overflow 1 MiB.
        &["--exporters", "2", "--rate", "50000", "--flows", "600000"],
    )?;
    wait_for(60, "every flow decoded and spooled or dropped", || {
        let decoded = collector.metric("eastwest_collector_decode_flows_total")?;
        let spooled = collector.metric("eastwest_collector_spool_rows")?;
        let dropped = collector.metric("eastwest_collector_spool_dropped_rows_total")?;
        Ok(decoded == sent.flows
            && collector.metric("eastwest_collector_sink_pending_rows")? == 0
            && spooled + dropped == decoded)
    })?;
    let spool_bytes = collector.metric("eastwest_collector_spool_bytes")?;
    let dropped = collector.metric("eastwest_collector_spool_dropped_rows_total")?;
    let rss = collector.peak_rss_mib()?;
    println!(
        "spool limit {limit} B: {} flows sent, {dropped} dropped from the spool, \
         {spool_bytes} B spooled, peak RSS {rss} MiB",
        sent.flows
    );
    assert!(dropped > 0, "600,000 rows do not fit in 1 MiB of spool");
    assert!(spool_bytes <= limit, "spool {spool_bytes} B over its limit");
    assert!(collector.alive(), "{}", setup.log());
    assert!(rss < 200, "peak RSS {rss} MiB");
    assert!(
        setup.log().contains("dropped"),
        "the drop is logged: {}",
        setup.log()
    );

    server.up()?;
    let expected = sent.flows - dropped;
    wait_for(60, "the spool replayed", || {
        Ok(
            count(&ch, "SELECT count() FROM spool_limit.flows")? >= expected
                && collector.metric("eastwest_collector_spool_rows")? == 0,
        )
    })?;
    assert_eq!(
        count(&ch, "SELECT count() FROM spool_limit.flows")? + dropped,
        sent.flows,
        "stored + dropped = sent"
    );
    collector.terminate()?;
    std::fs::remove_dir_all(&setup.dir)?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// ClickHouse stopped while an exporter sends at a fixed rate, then
/// started again: stored = sent, nothing dropped; the catch-up time is
/// printed. The load runs in three phases at the same rate: ClickHouse up
/// (5 s), stopped (10 s; `EASTWEST_LONG_FAULTS=1`: 180 s), up again (5 s).
#[test]
fn a_clickhouse_outage_at_a_fixed_rate_loses_nothing() -> Result<()> {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (outage_s, rate) = if long() {
        (180u64, 20_000u64)
    } else {
        (10, 10_000)
    };
    let server = OwnClickHouse::start("fault-outage")?;
    let ch = server.client();
    let dir = tempdir("fault-outage-spool")?;
    let setup = Setup::new(
        "fault-outage",
        &ch,
        "outage",
        &[(
            "clickhouse",
            &format!(
                "flush_interval_ms = 500\nretry_max_ms = 1000\nspool_dir = \"{}\"",
                dir.display()
            ),
        )],
    )?;
    let mut collector = setup.start()?;
    let rate_arg = rate.to_string();
    let phase = |seconds: u64| {
        loadgen(
            setup.udp,
            &[
                "--exporters",
                "4",
                "--rate",
                &rate_arg,
                "--duration",
                &seconds.to_string(),
            ],
        )
    };
    let before = phase(5)?;
    server.down()?;
    let during = phase(outage_s)?;
    wait_for(60, "the outage's rows in the spool", || {
        Ok(collector.metric("eastwest_collector_spool_rows")? >= during.flows)
    })?;
    let spooled_at_restart = collector.metric("eastwest_collector_spool_rows")?;
    server.up()?;
    let restarted = Instant::now();
    let after = phase(5)?;
    let sending_ended = Instant::now();
    let sent = before.flows + during.flows + after.flows;
    wait_for(120 + outage_s, "every flow stored", || {
        Ok(count(&ch, "SELECT count() FROM outage.flows")? >= sent)
    })?;
    let caught_up = Instant::now();
    println!(
        "outage: {sent} flows sent at {rate}/s, {} while ClickHouse was down for {outage_s} s, \
         {spooled_at_restart} rows spooled at the restart; all stored {:.1} s after the restart \
         ({:.1} s after sending ended)",
        during.flows,
        caught_up.duration_since(restarted).as_secs_f64(),
        caught_up.duration_since(sending_ended).as_secs_f64()
    );
    assert_eq!(count(&ch, "SELECT count() FROM outage.flows")?, sent);
    let row = ch.query("SELECT sum(packets), sum(bytes) FROM outage.flows")?;
    assert_eq!(
        row.trim(),
        format!(
            "{}\t{}",
            before.packets + during.packets + after.packets,
            before.bytes + during.bytes + after.bytes
        )
    );
    for metric in [
        "eastwest_collector_spool_dropped_rows_total",
        "eastwest_collector_sink_dropped_rows_total",
        "eastwest_collector_receive_dropped_total",
        "eastwest_collector_receive_kernel_drops_total",
    ] {
        assert_eq!(collector.metric(metric)?, 0, "{metric}");
    }
    collector.terminate()?;
    std::fs::remove_dir_all(&setup.dir)?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Export packet `n` of source id 5: template 260 and 10 records of flows
/// numbered from `n * 10`, each unique by its source address.
fn unique_packet(n: u32) -> Vec<u8> {
    let records: Vec<u8> = (0..10u32)
        .flat_map(|i| {
            let flow = n * 10 + i;
            let mut r = Vec::new();
            r.extend_from_slice(&[10, (flow >> 16) as u8, (flow >> 8) as u8, flow as u8]);
            r.extend_from_slice(&[10, 8, 0, 1]);
            r.extend_from_slice(&(40_000 + (flow % 20_000) as u16).to_be_bytes());
            r.extend_from_slice(&443u16.to_be_bytes());
            r.push(6);
            r.extend_from_slice(&700u32.to_be_bytes());
            r.extend_from_slice(&7u32.to_be_bytes());
            r
        })
        .collect();
    v9_packet(
        5,
        n,
        11,
        &[templates([260], FIELDS_A), flowset(260, &records)],
    )
}

/// The collector SIGKILLed while flows arrive at 20,000/s, restarted at
/// once on the same port and spool: every row acknowledged before the kill
/// (confirmed by ClickHouse or fsynced in the spool) is stored, none twice.
/// What is lost is what was never acknowledged: rows in memory at the kill
/// and datagrams sent while no collector listened (UDP has no retransmit);
/// both are printed.
#[test]
fn a_sigkill_under_load_loses_nothing_acknowledged() -> Result<()> {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let ch = eastwest_tests::clickhouse()?;
    let db = unique_database("fault_kill");
    let spool = tempdir("fault-kill-spool")?;
    let setup = Setup::new(
        "fault-kill",
        &ch,
        &db,
        &[(
            "clickhouse",
            &format!(
                "batch_rows = 1000\nflush_interval_ms = 200\nretry_max_ms = 500\nspool_dir = \"{}\"",
                spool.display()
            ),
        )],
    )?;
    let mut collector = setup.start()?;
    let to = setup.udp;
    // 12,000 datagrams (120,000 flows) at 2,000 datagrams/s.
    let sender = std::thread::spawn(move || -> Result<u64> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let began = Instant::now();
        let mut refused = 0;
        for n in 0..12_000u32 {
            let due = began + Duration::from_micros(u64::from(n) * 500);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if socket.send_to(&unique_packet(n), to).is_err() {
                refused += 1;
            }
        }
        Ok(refused)
    });
    std::thread::sleep(Duration::from_secs(2));
    let acknowledged = collector.metric("eastwest_collector_sink_rows_total")?
        + collector.metric("eastwest_collector_spool_rows")?;
    collector.kill9()?;
    let killed = Instant::now();
    let collector = setup.start()?;
    let down = killed.elapsed();
    let refused = sender
        .join()
        .map_err(|_| anyhow::anyhow!("the sender thread panicked"))??;
    let total = format!("SELECT count(), uniqExact(src_addr) FROM {db}.flows");
    let mut last = String::new();
    wait_for(60, "the stored rows to settle", || {
        let now = ch.query(&total)?;
        let settled = now == last
            && collector.metric("eastwest_collector_sink_pending_rows")? == 0
            && collector.metric("eastwest_collector_spool_rows")? == 0;
        last = now;
        std::thread::sleep(Duration::from_millis(400));
        Ok(settled)
    })?;
    let mut it = last.split_whitespace().map(str::parse::<u64>);
    let (rows, unique) = (it.next().context("count")??, it.next().context("uniq")??);
    println!(
        "sigkill: 120,000 flows sent, {acknowledged} acknowledged at the kill, collector \
         down {:.2} s ({refused} sends refused), {rows} rows stored, {unique} distinct, \
         {} duplicates; {} flows never acknowledged (in memory at the kill, or sent while \
         down)",
        down.as_secs_f64(),
        rows - unique,
        120_000 - unique
    );
    assert!(
        unique >= acknowledged,
        "acknowledged {acknowledged}, stored {unique}"
    );
    // A batch is only spooled after an insert failed, and the spool was
    // empty: no batch could be inserted twice.
    assert_eq!(rows, unique, "no row stored twice");
    assert!(unique > 60_000, "the restarted collector kept storing");
    drop(collector);
    ch.query(&format!("DROP DATABASE {db}"))?;
    std::fs::remove_dir_all(&setup.dir)?;
    std::fs::remove_dir_all(&spool)?;
    Ok(())
}
