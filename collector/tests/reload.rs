//! The collector keeps its inventory and policy up to date while it runs:
//! over real UDP into ClickHouse 18.16, a bad policy file is refused and the
//! running one kept (log, metric, `/status`), a good one replaces it, and
//! inventory events stored in ClickHouse move a VM between hosts from a
//! point in time, so flows before and after the move are attributed to the
//! host that held then.

#[path = "common/mod.rs"]
mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use eastwest_collector::config::Config;
use eastwest_collector::http::Metrics;
use eastwest_collector::{Collector, Error};
use eastwest_core::inventory::parse_time;
use eastwest_core::netflow::field;
use eastwest_core::policy::Policy;
use tokio::sync::oneshot;

/// Fields of the test template: addresses, ports, protocol, counters, MACs
/// and absolute times.
const LAYOUT: [(u16, u16); 11] = [
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

/// Polls `done` every 20 ms for up to 20 s.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// fin-fe-01 → payroll-01 tcp/443 from client port `src_port`, at `time`.
fn fin_to_payroll(src_port: u16, time: &str) -> Result<common::Flow> {
    let start_ms = parse_time(time).map_err(anyhow::Error::msg)?;
    let mut flow = common::sample_flow(0, start_ms);
    flow.src = [10, 10, 5, 11].into();
    flow.dst = [10, 10, 4, 11].into();
    flow.src_mac = [0x00, 0x50, 0x56, 0x00, 0x05, 0x11];
    flow.dst_mac = [0x00, 0x50, 0x56, 0x00, 0x04, 0x11];
    flow.src_port = src_port;
    Ok(flow)
}

/// An exporter for observation domain 3 sending one flow per datagram.
struct Exporter {
    socket: UdpSocket,
    to: SocketAddr,
    sequence: u32,
}

impl Exporter {
    fn send(&mut self, flowset: Vec<u8>) -> Result<()> {
        let packet = common::packet(3, self.sequence, 1000, 1_762_074_000, 1, &[flowset]);
        self.socket.send_to(&packet, self.to)?;
        self.sequence += 1;
        Ok(())
    }

    fn flow(&mut self, flow: &common::Flow) -> Result<()> {
        let record = common::record(flow, &LAYOUT, flow.start_ms);
        self.send(common::data(256, &[record]))
    }
}

#[test]
fn reloads_keep_a_good_policy_and_follow_inventory_events() -> Result<()> {
    let ch = eastwest_tests::clickhouse()?;
    let database = eastwest_tests::unique_database("reload");
    let lab = eastwest_tests::repo_root().join("lab");
    let dir = std::env::temp_dir().join(format!("eastwest-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (inventory, policy) = (dir.join("inventory.toml"), dir.join("policy.toml"));
    std::fs::copy(lab.join("inventory.toml"), &inventory)?;
    let good = std::fs::read_to_string(lab.join("policy.toml"))?;
    std::fs::write(&policy, &good)?;
    let first_revision = Policy::load(&policy)
        .map_err(anyhow::Error::msg)?
        .revision()
        .to_string();

    let mut config = Config::default();
    config.receive.listen = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
    config.clickhouse.url.clone_from(&ch.url);
    config.clickhouse.database.clone_from(&database);
    config.clickhouse.flush_interval_ms = 200;
    config.enrich.inventory = Some(inventory.clone());
    config.enrich.policy = Some(policy.clone());
    config.enrich.reload_interval_ms = 50;
    // Flows of a fixed day in the past: no retention pass in the way.
    config.retention.flows_days = 0;
    config.enrich.events_poll_ms = 50;
    let running = start(config)?;
    let metrics = running.metrics.clone();
    let reload = &metrics.reload;
    assert_eq!(
        reload.coresidency_pairs.get(),
        1,
        "payroll-01 and fin-fe-01"
    );

    let mut exporter = Exporter {
        socket: UdpSocket::bind("127.0.0.1:0")?,
        to: running.udp,
        sequence: 0,
    };
    exporter.send(common::template(256, &LAYOUT))?;
    exporter.flow(&fin_to_payroll(43001, "2026-11-02T09:00:00Z")?)?;

    // A policy that does not parse: the running one stays.
    replace(&policy, &good.replace("[[rule]]", "[[rule]"))?;
    wait_for("the policy reload error", || reload.errors[0].get() == 1)?;
    let status = reload.status();
    let error = status.policy.error.context("status names the error")?;
    assert!(
        error.starts_with(&format!("{}:", policy.display())),
        "{error}"
    );
    assert_eq!(
        status.policy.revision.as_deref(),
        Some(first_revision.as_str())
    );
    exporter.flow(&fin_to_payroll(43002, "2026-11-02T09:00:01Z")?)?;

    // payroll-01 moves to esx-04 at 09:01; an event naming an unknown host
    // is refused, the move applies.
    let insert = |time: &str, json: &str| -> Result<String> {
        let ms = parse_time(time).map_err(anyhow::Error::msg)?;
        ch.query(&format!(
            "INSERT INTO {database}.inventory_events VALUES (now(), {ms}, {ms}, 'payroll-01', '{json}')"
        ))
    };
    insert(
        "2026-11-02T09:01:00Z",
        r#"{"time": "2026-11-02T09:01:00Z", "vm": "payroll-01", "host": "esx-04"}"#,
    )?;
    insert(
        "2026-11-02T09:02:00Z",
        r#"{"time": "2026-11-02T09:02:00Z", "vm": "payroll-01", "host": "esx-99"}"#,
    )?;
    wait_for("the inventory events", || {
        reload.events_applied.get() == 1 && reload.events_refused.get() == 1
    })?;
    let refused = reload.status().events_refused;
    assert!(
        refused.len() == 1 && refused[0].contains("unknown host \"esx-99\""),
        "{refused:?}"
    );
    assert_eq!(reload.coresidency_pairs.get(), 0, "apart since the move");
    exporter.flow(&fin_to_payroll(43003, "2026-11-02T09:00:30Z")?)?;
    exporter.flow(&fin_to_payroll(43004, "2026-11-02T09:01:30Z")?)?;
    // Judged before the policy changes: a datagram still in the socket
    // when the new policy lands would get the new verdict.
    wait_for("the four flows judged", || {
        metrics.verdict.violation.get() == 4
    })?;

    // A good new policy replaces the running one.
    replace(&policy, &good.replacen("\"critical\"", "\"high\"", 1))?;
    wait_for("the policy reload", || reload.reloads[0].get() == 1)?;
    let status = reload.status();
    assert_eq!(status.policy.error, None);
    let second_revision = status.policy.revision.context("revision")?;
    assert_ne!(second_revision, first_revision);
    exporter.flow(&fin_to_payroll(43005, "2026-11-02T09:02:30Z")?)?;

    running.stop_after(6)?;
    let rows = ch.query(&format!(
        "SELECT src_port, src_host, dst_host, same_host, verdict, severity, policy_revision \
         FROM {database}.flows ORDER BY src_port FORMAT TSV"
    ))?;
    let row = |port: u16, dst_host: &str, same: u8, severity: &str, revision: &str| {
        format!("{port}\tesx-03\t{dst_host}\t{same}\tviolation\t{severity}\t{revision}\n")
    };
    let (r1, r2) = (first_revision.as_str(), second_revision.as_str());
    let want = [
        row(43001, "esx-03", 1, "critical", r1),
        row(43002, "esx-03", 1, "critical", r1),
        row(43003, "esx-03", 1, "critical", r1),
        row(43004, "esx-04", 0, "critical", r1),
        row(43005, "esx-04", 0, "high", r2),
    ]
    .concat();
    assert_eq!(rows, want);
    let text = metrics.render();
    assert!(
        text.contains("eastwest_collector_policy_reload_errors_total{file=\"policy\"} 1\n"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A collector running on a runtime of its own until [`Running::stop_after`].
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
    fn stop_after(self, datagrams: u64) -> Result<()> {
        wait_for("decode", || self.metrics.decode.packets.get() >= datagrams)?;
        let _ = self.stop.send(());
        match self.done.join() {
            Ok(result) => Ok(result?),
            Err(_) => bail!("collector thread panicked"),
        }
    }
}

/// Replace a watched file the way an operator's deployment should: a new
/// file renamed over it. (`std::fs::write` truncates first: a reload
/// polling every 50 ms can read the empty file in between.)
fn replace(path: &std::path::Path, text: &str) -> Result<()> {
    let next = path.with_extension("next");
    std::fs::write(&next, text)?;
    std::fs::rename(&next, path)?;
    Ok(())
}
