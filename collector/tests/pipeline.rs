//! The collector end to end with real components: a real ClickHouse (the
//! `eastwest-tests` harness), real UDP sockets, real NetFlow captures from
//! other projects, the lab inventory and policy.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use eastwest_collector::config::Config;
use eastwest_collector::http::Metrics;
use eastwest_collector::{Collector, Error};
use eastwest_tests::ClickHouse;
use tokio::sync::oneshot;

/// The UDP payloads of a classic pcap of Ethernet/IPv4/UDP frames, with the
/// source they were sent from.
fn udp_payloads(name: &str) -> Result<Vec<(SocketAddr, Vec<u8>)>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let file = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    if file.get(..4) != Some(&[0xd4, 0xc3, 0xb2, 0xa1]) {
        bail!("{name}: not a little-endian microsecond pcap");
    }
    let mut out = Vec::new();
    let mut at = 24;
    while let Some(header) = file.get(at..at + 16) {
        let len = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
        let frame = file
            .get(at + 16..at + 16 + len)
            .context("truncated record")?;
        at += 16 + len;
        // Ethernet (14) + IPv4 (IHL) + UDP (8).
        if frame.get(12..14) != Some(&[0x08, 0x00]) || frame.get(23) != Some(&17) {
            bail!("{name}: frame is not IPv4/UDP");
        }
        let ip = 14;
        let udp = ip + usize::from(frame[ip] & 0x0f) * 4;
        let src = Ipv4Addr::new(
            frame[ip + 12],
            frame[ip + 13],
            frame[ip + 14],
            frame[ip + 15],
        );
        let port = u16::from_be_bytes([frame[udp], frame[udp + 1]]);
        let udp_len = usize::from(u16::from_be_bytes([frame[udp + 4], frame[udp + 5]]));
        let payload = frame
            .get(udp + 8..udp + udp_len)
            .context("short UDP payload")?;
        out.push((SocketAddr::from((src, port)), payload.to_vec()));
    }
    Ok(out)
}

fn config(ch: &ClickHouse, database: &str) -> Config {
    let mut config = Config::default();
    config.receive.listen = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
    config.clickhouse.url.clone_from(&ch.url);
    config.clickhouse.database = database.to_string();
    config.clickhouse.flush_interval_ms = 200;
    // The flows of these tests are of fixed days in the past: retention
    // (tests/retention.rs) keeps out of their way.
    config.retention.flows_days = 0;
    config.retention.flows_1m_days = 0;
    config.retention.flows_1h_days = 0;
    config
}

/// A collector running on a runtime of its own until [`Running::stop`].
struct Running {
    udp: SocketAddr,
    metrics: Arc<Metrics>,
    stop: oneshot::Sender<()>,
    done: std::thread::JoinHandle<Result<(), Error>>,
}

fn start(config: Config) -> Result<Running> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|_| Error::Stage("runtime"))?;
        runtime.block_on(async move {
            let collector = match Collector::new(config).await {
                Ok(c) => c,
                Err(err) => {
                    let _ = ready_tx.send(Err(err.to_string()));
                    return Err(err);
                }
            };
            let _ = ready_tx.send(Ok((collector.udp_addrs()[0], collector.metrics())));
            collector
                .run(async {
                    let _ = stopped.await;
                })
                .await
        })
    });
    let (udp, metrics) = ready_rx
        .recv()
        .context("collector thread ended")?
        .map_err(anyhow::Error::msg)?;
    Ok(Running {
        udp,
        metrics,
        stop,
        done,
    })
}

impl Running {
    /// Wait until decode has taken `datagrams` datagrams, then shut down
    /// (which flushes to ClickHouse).
    fn stop_after(self, datagrams: u64) -> Result<Arc<Metrics>> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.metrics.decode.packets.get() < datagrams {
            if Instant::now() > deadline {
                bail!(
                    "decode saw {} of {datagrams} datagrams",
                    self.metrics.decode.packets.get()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.stop.send(());
        match self.done.join() {
            Ok(result) => result?,
            Err(_) => bail!("collector thread panicked"),
        }
        Ok(self.metrics)
    }
}

/// Send each payload from a socket on `local_ip` of its own per original
/// source (so one exporter's transport sessions stay apart).
fn replay(packets: &[(SocketAddr, Vec<u8>)], local_ip: Ipv4Addr, to: SocketAddr) -> Result<()> {
    let mut sockets: Vec<(SocketAddr, UdpSocket)> = Vec::new();
    for (source, payload) in packets {
        if !sockets.iter().any(|(s, _)| s == source) {
            sockets.push((*source, UdpSocket::bind((local_ip, 0))?));
        }
        let socket = sockets
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, sock)| sock)
            .context("socket")?;
        socket.send_to(payload, to)?;
        // Keep order across sockets (templates before data).
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn hex_mapped(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!(
        "00000000000000000000FFFF{:02X}{:02X}{:02X}{:02X}",
        o[0], o[1], o[2], o[3]
    )
}

#[test]
fn real_captures_are_stored_with_the_totals_peers_report() -> Result<()> {
    let ch = eastwest_tests::clickhouse()?;
    let database = eastwest_tests::unique_database("collector");
    let running = start(config(&ch, &database))?;
    let captures = [
        ("akvorado__nfv5.pcap", Ipv4Addr::new(127, 0, 0, 11)),
        ("pmacct__100-IPFIX-CISCO.pcap", Ipv4Addr::new(127, 0, 0, 12)),
        (
            "akvorado__nfv9-data+templates.pcap",
            Ipv4Addr::new(127, 0, 0, 13),
        ),
    ];
    let mut sent = 0;
    for (name, ip) in captures {
        let packets = udp_payloads(name)?;
        sent += packets.len() as u64;
        replay(&packets, ip, running.udp)?;
    }
    let metrics = running.stop_after(sent)?;

    let totals = |ip: Ipv4Addr| {
        ch.query(&format!(
            "SELECT count(), sum(packets), sum(bytes), sum(intDiv(packets, sampling)), \
             sum(intDiv(bytes, sampling)), min(sampling), max(sampling) FROM {database}.flows \
             WHERE hex(exporter) = '{}' FORMAT TSV",
            hex_mapped(ip)
        ))
    };
    // NetFlow v5: 29 flows, 78 packets, 88,345 bytes, unsampled.
    assert_eq!(totals(captures[0].1)?, "29\t78\t88345\t78\t88345\t1\t1\n");
    // IPFIX from a Cisco ASR9k: 12 flows, 34 packets, 34,172 bytes.
    assert_eq!(totals(captures[1].1)?, "12\t34\t34172\t34\t34172\t1\t1\n");
    // NetFlow v9: the flowset of 11 records before their template (later
    // in the same datagram) is held and decoded once the template is known,
    // like tshark's two-pass decode (`tshark -2`: 21 records, 66 packets,
    // 58,329 bytes; one-pass nfcapd gets the last 10 only). All carry the
    // exporter's sampling interval of 100 from the options record, so
    // stored counters are scaled and dividing by `sampling` gives the wire
    // values.
    assert_eq!(
        totals(captures[2].1)?,
        "21\t6600\t5832900\t66\t58329\t100\t100\n"
    );

    assert_eq!(metrics.decode.flows.get(), 29 + 12 + 21);
    assert_eq!(metrics.sink.rows.get(), 62);
    assert_eq!(metrics.decode.held.get(), 1);
    assert_eq!(
        metrics
            .decode
            .errors(eastwest_collector::decode::ErrorReason::MissingTemplate),
        0
    );
    assert_eq!(metrics.receive.dropped.get(), 0);

    // Times come from the records: v5 relative to sysUptime, IPFIX from
    // flowStart/EndMilliseconds.
    let times = ch.query(&format!(
        "SELECT toString(min(start)), toString(max(end)) FROM {database}.flows \
         WHERE hex(exporter) = '{}' FORMAT TSV",
        hex_mapped(captures[1].1)
    ))?;
    assert_eq!(times, "2023-02-28 09:44:58\t2023-02-28 09:47:00\n");
    // No inventory: observer is the exporter address, verdict unknown.
    let columns = ch.query(&format!(
        "SELECT DISTINCT observer, verdict, dataset FROM {database}.flows \
         WHERE hex(exporter) = '{}' FORMAT TSV",
        hex_mapped(captures[0].1)
    ))?;
    assert_eq!(columns, "127.0.0.11\tunknown\tlive\n");
    Ok(())
}

#[test]
fn two_exporters_with_the_same_template_id_and_lab_enrichment() -> Result<()> {
    use eastwest_core::netflow::{field, OPTION_FIELDS, OPTION_SCOPES, TEMPLATE_OPTIONS};
    let ch = eastwest_tests::clickhouse()?;
    let database = eastwest_tests::unique_database("collector");
    let mut config = config(&ch, &database);
    let lab = eastwest_tests::repo_root().join("lab");
    config.enrich.inventory = Some(lab.join("inventory.toml"));
    config.enrich.policy = Some(lab.join("policy.toml"));
    let running = start(config)?;

    // Exporter A (domain 1 = esx-01 in the inventory, no options record):
    // web-01 → app-01 on 8443, both on esx-01. Exporter B (domain 1 too,
    // names itself "esx-04"): web-01 → db-01 on 5432, fields in another
    // order and width, and addresses only (no MACs).
    let start_ms = 1_780_000_000_000;
    let mut to_app = common::sample_flow(0, start_ms);
    to_app.dst = Ipv4Addr::new(10, 10, 2, 11);
    to_app.dst_mac = [0x00, 0x50, 0x56, 0x00, 0x02, 0x11];
    to_app.dst_port = 8443;
    let mut to_db = common::sample_flow(1, start_ms);
    to_db.dst = Ipv4Addr::new(10, 10, 3, 11);
    to_db.dst_port = 5432;
    to_db.packets = 7;
    to_db.bytes = 7000;
    let layout_a: Vec<(u16, u16)> = vec![
        (field::IPV4_SRC_ADDR, 4),
        (field::IPV4_DST_ADDR, 4),
        (field::L4_SRC_PORT, 2),
        (field::L4_DST_PORT, 2),
        (field::PROTOCOL, 1),
        (field::IN_PKTS, 4),
        (field::IN_BYTES, 4),
        (field::IN_SRC_MAC, 6),
        (field::IN_DST_MAC, 6),
        (field::FLOW_START_MILLISECONDS, 8),
        (field::FLOW_END_MILLISECONDS, 8),
    ];
    let layout_b: Vec<(u16, u16)> = vec![
        (field::FLOW_START_MILLISECONDS, 8),
        (field::FLOW_END_MILLISECONDS, 8),
        (field::IN_BYTES, 8),
        (field::IN_PKTS, 8),
        (field::IPV4_DST_ADDR, 4),
        (field::IPV4_SRC_ADDR, 4),
        (field::L4_DST_PORT, 2),
        (field::L4_SRC_PORT, 2),
        (field::PROTOCOL, 1),
    ];
    let a = UdpSocket::bind("127.0.0.1:0")?;
    let b = UdpSocket::bind("127.0.0.1:0")?;
    let (uptime, secs) = (1000, (start_ms / 1000) as u32 + 5);
    a.send_to(
        &common::packet(1, 0, uptime, secs, 1, &[common::template(256, &layout_a)]),
        running.udp,
    )?;
    b.send_to(
        &common::packet(
            1,
            0,
            uptime,
            secs,
            3,
            &[
                common::options_template(TEMPLATE_OPTIONS, OPTION_SCOPES, OPTION_FIELDS),
                common::data(TEMPLATE_OPTIONS, &[common::domain_name_record(1, "esx-04")]),
                common::template(256, &layout_b),
            ],
        ),
        running.udp,
    )?;
    std::thread::sleep(Duration::from_millis(50));
    let record_b = common::record(&to_db, &layout_b, start_ms);
    b.send_to(
        &common::packet(1, 1, uptime, secs, 1, &[common::data(256, &[record_b])]),
        running.udp,
    )?;
    let record_a = common::record(&to_app, &layout_a, start_ms);
    a.send_to(
        &common::packet(1, 1, uptime, secs, 1, &[common::data(256, &[record_a])]),
        running.udp,
    )?;
    let metrics = running.stop_after(4)?;
    assert_eq!(metrics.decode.flows.get(), 2);

    let rows = ch.query(&format!(
        "SELECT observer, src_vm, dst_vm, src_host, dst_host, src_zone, dst_zone, same_host, \
         dst_port, packets, bytes, verdict, severity, rule, policy_revision != '' \
         FROM {database}.flows ORDER BY dst_port FORMAT TSV"
    ))?;
    assert_eq!(
        rows,
        "esx-04\tweb-01\tdb-01\tesx-01\tesx-04\tdmz\tdb\t0\t5432\t7\t7000\tviolation\tcritical\t\
         the DMZ must never reach the database tier\t1\n\
         esx-01\tweb-01\tapp-01\tesx-01\tesx-01\tdmz\tapp\t1\t8443\t1\t100\tallowed\t\t\
         DMZ web servers call the app tier on 8443\t1\n"
    );
    assert_eq!(metrics.verdict.violation.get(), 1);
    assert_eq!(metrics.verdict.allowed.get(), 1);
    Ok(())
}

/// A data flowset of sample flow `i` in the IPv4 template.
fn v4_data(i: u32, start_ms: u64) -> Vec<u8> {
    use eastwest_core::netflow::{FIELDS_V4, TEMPLATE_V4};
    let flow = common::sample_flow(i, start_ms);
    common::data(TEMPLATE_V4, &[common::record(&flow, FIELDS_V4, start_ms)])
}

/// Over real UDP into ClickHouse: data sent before its template is held and
/// stored once the template comes, a replayed datagram is counted and not
/// stored twice, the dataset named in the options record is stamped and
/// the evidence URL it announces lands in the `exporters` table.
#[test]
fn held_data_replayed_datagrams_and_the_dataset_option() -> Result<()> {
    use eastwest_collector::decode::ErrorReason;
    use eastwest_core::netflow::{
        FIELDS_V4, OPTION_FIELDS, OPTION_SCOPES, TEMPLATE_OPTIONS, TEMPLATE_V4,
    };
    let ch = eastwest_tests::clickhouse()?;
    let database = eastwest_tests::unique_database("collector");
    let running = start(config(&ch, &database))?;
    let exporter = UdpSocket::bind("127.0.0.1:0")?;
    let start_ms = 1_780_000_000_000;
    let (uptime, secs) = (1000, (start_ms / 1000) as u32 + 5);
    let data = |i: u32| v4_data(i, start_ms);
    let first = common::packet(3, 0, uptime, secs, 1, &[data(0)]);
    let second = common::packet(3, 1, uptime, secs, 1, &[data(1)]);
    let templates = common::packet(
        3,
        2,
        uptime,
        secs,
        3,
        &[
            common::options_template(TEMPLATE_OPTIONS, OPTION_SCOPES, OPTION_FIELDS),
            common::data(
                TEMPLATE_OPTIONS,
                &[common::evidence_record(
                    3,
                    "esx-03",
                    "incident-7",
                    "http://esx-03.lab:9181",
                )],
            ),
            common::template(TEMPLATE_V4, FIELDS_V4),
        ],
    );
    for payload in [&first, &second, &templates, &second] {
        exporter.send_to(payload, running.udp)?;
        std::thread::sleep(Duration::from_millis(5));
    }
    let metrics = running.stop_after(4)?;
    assert_eq!(metrics.decode.held.get(), 2);
    assert_eq!(metrics.decode.errors(ErrorReason::Duplicate), 1);
    assert_eq!(metrics.decode.errors(ErrorReason::MissingTemplate), 0);
    let rows = ch.query(&format!(
        "SELECT dataset, observer, source_id, packets, bytes \
         FROM {database}.flows ORDER BY packets FORMAT TSV"
    ))?;
    assert_eq!(
        rows,
        "incident-7\tesx-03\t3\t1\t100\nincident-7\tesx-03\t3\t2\t200\n"
    );
    let exporters = metrics.decode.exporters.borrow().clone();
    let [stats] = &exporters[..] else {
        bail!("want one exporter, got {exporters:?}");
    };
    assert_eq!(
        (stats.packets, stats.flows, stats.errors, stats.templates),
        (3, 2, 1, 2)
    );
    assert_eq!(
        (stats.name.as_str(), stats.dataset.as_str()),
        ("esx-03", "incident-7")
    );
    let exporters = ch.query(&format!(
        "SELECT name, evidence_url FROM {database}.exporters FINAL FORMAT TSV"
    ))?;
    assert_eq!(exporters, "esx-03\thttp://esx-03.lab:9181\n");
    Ok(())
}

/// A burst shorter than the exporter snapshot period (a replay) from two
/// observation domains: both reach the published snapshot (and so the
/// `exporters` table) while the collector idles, not only at shutdown.
#[test]
fn the_end_of_a_burst_reaches_the_exporter_snapshot() -> Result<()> {
    use eastwest_core::netflow::{FIELDS_V4, TEMPLATE_V4};
    let ch = eastwest_tests::clickhouse()?;
    let database = eastwest_tests::unique_database("collector");
    let running = start(config(&ch, &database))?;
    let exporter = UdpSocket::bind("127.0.0.1:0")?;
    let start_ms = 1_780_000_000_000;
    let (uptime, secs) = (1000, (start_ms / 1000) as u32 + 5);
    for source_id in [3, 4] {
        let packet = common::packet(
            source_id,
            0,
            uptime,
            secs,
            2,
            &[
                common::template(TEMPLATE_V4, FIELDS_V4),
                v4_data(source_id, start_ms),
            ],
        );
        exporter.send_to(&packet, running.udp)?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let domains = loop {
        let domains: Vec<u32> = running
            .metrics
            .decode
            .exporters
            .borrow()
            .iter()
            .map(|e| e.source_id)
            .collect();
        if domains.len() == 2 || Instant::now() > deadline {
            break domains;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(domains, vec![3, 4], "published while running");
    running.stop_after(2)?;
    Ok(())
}

#[test]
fn unreachable_clickhouse_is_one_clear_error() -> Result<()> {
    let mut config = Config::default();
    config.receive.listen = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
    let port = eastwest_tests::free_tcp_port()?;
    config.clickhouse.url = format!("http://127.0.0.1:{port}");
    let runtime = tokio::runtime::Runtime::new()?;
    let err = runtime
        .block_on(Collector::new(config))
        .err()
        .context("started without ClickHouse")?
        .to_string();
    assert!(
        err.contains(&format!(
            "cannot reach ClickHouse at http://127.0.0.1:{port}"
        )),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
    Ok(())
}

#[test]
fn port_in_use_is_one_clear_error() -> Result<()> {
    let taken = UdpSocket::bind("127.0.0.1:0")?;
    let mut config = Config::default();
    config.receive.listen = vec![taken.local_addr()?];
    let runtime = tokio::runtime::Runtime::new()?;
    let err = runtime
        .block_on(Collector::new(config))
        .err()
        .context("bound a port in use")?
        .to_string();
    assert!(
        err.starts_with(&format!("cannot listen on udp {}", taken.local_addr()?)),
        "{err}"
    );
    assert!(err.contains("port is taken"), "{err}");
    Ok(())
}

/// A TCP relay in front of ClickHouse that can be cut: while down it resets
/// every open connection and refuses new ones, like a server that went away.
struct Relay {
    url: String,
    up: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    fn start(target: &str) -> Result<Relay> {
        use std::sync::atomic::Ordering;
        let target: SocketAddr = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let open = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: connection closed
                }
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                let pipes = (client.try_clone(), server.try_clone());
                let (Ok(client2), Ok(server2)) = pipes else {
                    continue;
                };
                if let Ok(mut open) = open2.lock() {
                    open.extend(
                        [client.try_clone(), server.try_clone()]
                            .into_iter()
                            .flatten(),
                    );
                }
                let copy = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                };
                copy(client, server2);
                copy(server, client2);
            }
        });
        Ok(Relay { url, up, open })
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
        if !up {
            if let Ok(mut open) = self.open.lock() {
                for stream in open.drain(..) {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                }
            }
        }
    }
}

#[test]
fn rows_wait_in_memory_while_clickhouse_is_away() -> Result<()> {
    let ch = eastwest_tests::clickhouse()?;
    let relay = Relay::start(&ch.url)?;
    let database = eastwest_tests::unique_database("collector");
    let mut config = config(&ch, &database);
    config.clickhouse.url.clone_from(&relay.url);
    config.clickhouse.retry_max_ms = 500;
    let running = start(config)?;
    relay.set_up(false);

    let packets = udp_payloads("akvorado__nfv5.pcap")?;
    replay(&packets, Ipv4Addr::LOCALHOST, running.udp)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.metrics.sink.errors.get() < 2 {
        if Instant::now() > deadline {
            bail!("no failed insert while ClickHouse was away");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(running.metrics.sink.up.get(), 0);
    assert_eq!(running.metrics.sink.pending_rows.get(), 29);
    assert_eq!(running.metrics.sink.rows.get(), 0);

    relay.set_up(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.metrics.sink.rows.get() < 29 {
        if Instant::now() > deadline {
            bail!("rows not inserted after ClickHouse came back");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let metrics = running.stop_after(1)?;
    assert_eq!(metrics.sink.up.get(), 1);
    assert_eq!(metrics.sink.dropped_rows.get(), 0);
    let totals = ch.query(&format!(
        "SELECT count(), sum(packets), sum(bytes) FROM {database}.flows FORMAT TSV"
    ))?;
    assert_eq!(totals, "29\t78\t88345\n");
    Ok(())
}
