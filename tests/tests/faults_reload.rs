//! Reload fault (issue 8, "bad policy or inventory reload while running"):
//! a real `eastwest-collector` process on real UDP and ClickHouse 18.16,
//! reloading only on SIGHUP (`reload_interval_ms = 0`). A broken policy and
//! a broken inventory are refused: the running ones are kept (flows are
//! still judged by the old revision and enriched by the old inventory), and
//! each error shows in the log, in
//! `eastwest_collector_policy_reload_errors_total{file}` and in `GET /status`
//! with file and line. Fixed files on the next SIGHUP are applied: the
//! errors clear, and flows carry the new revision and rule.

#[path = "../../collector/tests/common/mod.rs"]
mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use eastwest_core::inventory::parse_time;
use eastwest_core::netflow::field;
use eastwest_core::policy::Policy;
use eastwest_tests::{
    free_tcp_port, free_udp_port, http, repo_root, tempdir, unique_database, wait_for,
    CollectorProcess,
};

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

/// The lab's payroll rule, and what the fixed policy calls it.
const RULE: &str = "payroll must never talk to the finance front end";
const RULE_V2: &str = "payroll and the finance front end stay apart (v2)";

/// Sends fin-fe-01 → payroll-01 tcp/443 flows, one per datagram, as
/// observation domain 3 (esx-03).
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

    /// The flow from client port `src_port` at `time`.
    fn fin_to_payroll(&mut self, src_port: u16, time: &str) -> Result<()> {
        let start_ms = parse_time(time).map_err(anyhow::Error::msg)?;
        let mut flow = common::sample_flow(0, start_ms);
        flow.src = [10, 10, 5, 11].into();
        flow.dst = [10, 10, 4, 11].into();
        flow.src_mac = [0x00, 0x50, 0x56, 0x00, 0x05, 0x11];
        flow.dst_mac = [0x00, 0x50, 0x56, 0x00, 0x04, 0x11];
        flow.src_port = src_port;
        let record = common::record(&flow, &LAYOUT, flow.start_ms);
        self.send(common::data(256, &[record]))
    }
}

/// `GET /status` of the collector.
fn status(port: u16) -> Result<serde_json::Value> {
    let (code, body) = http(port, "GET", "/status", &[], b"", Duration::from_secs(5))?;
    if code != 200 {
        bail!("/status answered {code}: {body}");
    }
    serde_json::from_str(&body).context("/status JSON")
}

/// The value of one series (name with labels, as written) on `/metrics`.
fn series(port: u16, name: &str) -> Result<u64> {
    let (_, body) = http(port, "GET", "/metrics", &[], b"", Duration::from_secs(5))?;
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("{name} not on /metrics"))
}

fn hangup(collector: &CollectorProcess) -> Result<()> {
    let ok = Command::new("kill")
        .args(["-HUP", &collector.pid().to_string()])
        .status()?
        .success();
    if !ok {
        bail!("kill -HUP failed");
    }
    Ok(())
}

/// `(src_port, verdict, rule, revision, dst_host)` of every stored flow.
fn rows(ch: &eastwest_tests::ClickHouse, database: &str) -> Result<Vec<String>> {
    let out = ch.query(&format!(
        "SELECT src_port, verdict, rule, policy_revision, dst_host FROM `{database}`.flows \
         ORDER BY src_port FORMAT TSV"
    ))?;
    Ok(out.lines().map(str::to_string).collect())
}

#[test]
fn bad_policy_and_inventory_on_sighup_keep_the_running_ones() -> Result<()> {
    let ch = eastwest_tests::clickhouse()?;
    let database = unique_database("faults_reload");
    let dir = tempdir("faults-reload")?;
    let lab = repo_root().join("lab");
    let (inventory, policy) = (dir.join("inventory.toml"), dir.join("policy.toml"));
    let good_inventory = std::fs::read_to_string(lab.join("inventory.toml"))?;
    let good_policy = std::fs::read_to_string(lab.join("policy.toml"))?;
    std::fs::write(&inventory, &good_inventory)?;
    std::fs::write(&policy, &good_policy)?;
    let revision = |text: &str| -> Result<String> {
        Ok(Policy::parse(text, "policy.toml")
            .map_err(anyhow::Error::msg)?
            .revision()
            .to_string())
    };
    let first = revision(&good_policy)?;
    let fixed_policy = good_policy.replace(RULE, RULE_V2);
    let second = revision(&fixed_policy)?;

    let udp = SocketAddr::from(([127, 0, 0, 1], free_udp_port()?));
    let port = free_tcp_port()?;
    let config = dir.join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[receive]\nlisten = [\"{udp}\"]\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\nflush_interval_ms = 200\n\
             [enrich]\ninventory = \"{}\"\npolicy = \"{}\"\nreload_interval_ms = 0\n\
             events_poll_ms = 0\n",
            ch.url,
            inventory.display(),
            policy.display()
        ),
    )?;
    let mut collector = CollectorProcess::start(&config, port)?;
    let log = || std::fs::read_to_string(dir.join("collector.log")).unwrap_or_default();
    let started = status(port)?;
    assert_eq!(started["policy"]["revision"], first.as_str(), "{started}");
    assert!(started["policy"]["error"].is_null(), "{started}");

    let mut exporter = Exporter {
        socket: UdpSocket::bind("127.0.0.1:0")?,
        to: udp,
        sequence: 0,
    };
    exporter.send(common::template(256, &LAYOUT))?;
    exporter.fin_to_payroll(43001, "2026-11-02T09:00:00Z")?;
    wait_for(20, "the first flow stored", || {
        Ok(rows(&ch, &database)?.len() == 1)
    })?;

    // Broken files: a policy that does not parse (line 47 `[[rule]` of the
    // lab policy) and an inventory placing payroll-01 on a host that does
    // not exist. SIGHUP; both are refused.
    std::fs::write(&policy, good_policy.replacen("[[rule]]", "[[rule]", 1))?;
    let broken_inventory = good_inventory.replacen(
        "name = \"payroll-01\"\nhost = \"esx-03\"",
        "name = \"payroll-01\"\nhost = \"esx-99\"",
        1,
    );
    assert_ne!(
        broken_inventory, good_inventory,
        "the lab places payroll-01"
    );
    std::fs::write(&inventory, &broken_inventory)?;
    hangup(&collector)?;
    let errors = |file: &str| {
        series(
            port,
            &format!("eastwest_collector_policy_reload_errors_total{{file=\"{file}\"}}"),
        )
    };
    wait_for(20, "both reload errors counted", || {
        Ok(errors("policy")? == 1 && errors("inventory")? == 1)
    })?;
    let refused = status(port)?;
    assert_eq!(refused["policy"]["revision"], first.as_str(), "{refused}");
    let policy_error = refused["policy"]["error"]
        .as_str()
        .with_context(|| format!("no policy error in {refused}"))?;
    assert!(
        policy_error.starts_with(&format!("{}:", policy.display())),
        "names the file: {policy_error}"
    );
    let inventory_error = refused["inventory"]["error"]
        .as_str()
        .with_context(|| format!("no inventory error in {refused}"))?;
    assert!(
        inventory_error.starts_with(&format!("{}:", inventory.display()))
            && inventory_error.contains("esx-99"),
        "names file and host: {inventory_error}"
    );
    let text = log();
    assert!(
        text.contains("keeping the running version")
            && text.contains(&policy.display().to_string())
            && text.contains("esx-99"),
        "the log says why: {text}"
    );
    assert!(collector.alive(), "still running");
    // The running versions judge and enrich: the old revision and rule, and
    // payroll-01 still on esx-03.
    exporter.fin_to_payroll(43002, "2026-11-02T09:00:01Z")?;
    wait_for(20, "the second flow stored", || {
        Ok(rows(&ch, &database)?.len() == 2)
    })?;

    // Fixed files on the next SIGHUP apply, and the errors clear.
    std::fs::write(&policy, &fixed_policy)?;
    std::fs::write(&inventory, &good_inventory)?;
    let reloads_before = series(
        port,
        "eastwest_collector_policy_reloads_total{file=\"policy\"}",
    )?;
    hangup(&collector)?;
    wait_for(20, "the fixed policy applied", || {
        let now = status(port)?;
        Ok(now["policy"]["revision"] == second.as_str()
            && now["policy"]["error"].is_null()
            && now["inventory"]["error"].is_null())
    })?;
    assert_eq!(
        series(
            port,
            "eastwest_collector_policy_reloads_total{file=\"policy\"}"
        )?,
        reloads_before + 1
    );
    assert_eq!(errors("policy")?, 1, "errors are a counter: they stay");
    exporter.fin_to_payroll(43003, "2026-11-02T09:00:02Z")?;
    wait_for(20, "the third flow stored", || {
        Ok(rows(&ch, &database)?.len() == 3)
    })?;

    assert_eq!(
        rows(&ch, &database)?,
        vec![
            format!("43001\tviolation\t{RULE}\t{first}\tesx-03"),
            format!("43002\tviolation\t{RULE}\t{first}\tesx-03"),
            format!("43003\tviolation\t{RULE_V2}\t{second}\tesx-03"),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
