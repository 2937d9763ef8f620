//! The lab, end to end, with the real binaries: `eastwest-exporter` replays
//! lab/lab.pcap as NetFlow v9 over UDP to `eastwest-collector`, which
//! enriches, judges and stores the flows in a real ClickHouse; then
//! `eastwest-dashboard` serves them, and headless Chromium renders the page.
//!
//! Truth is lab/expected.json, written by the lab generator from the frames
//! it emitted (and cross-checked against tshark in labgen's own tests).
//!
//! The binaries must be built (`cargo build --workspace --bins`, which
//! scripts/test does; `cargo test --workspace` builds them too).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use eastwest_tests::{
    clickhouse, free_tcp_port, free_udp_port, lab_expected, repo_root, unique_database,
    workspace_bin,
};
use serde_json::Value;

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn curl(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-fsS", "--max-time", "10", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_for(url: &str, what: &str, child: &mut Running) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if curl(url).is_some() {
            return;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("{what} exited early with {status}");
        }
        sleep(Duration::from_millis(200));
    }
    panic!("{what} did not answer on {url}");
}

/// (observer host, encap, src, dst, proto, src port, dst port) → (packets, bytes)
type FlowTotals = BTreeMap<(String, String, String, String, u64, u64, u64), (u64, u64)>;

fn expected_flows(exp: &Value) -> FlowTotals {
    let mut out = FlowTotals::new();
    for conv in exp["conversations"].as_array().unwrap() {
        for f in conv["flows"].as_array().unwrap() {
            let key = (
                f["host"].as_str().unwrap().to_string(),
                f["encap"].as_str().unwrap().to_string(),
                f["src_ip"].as_str().unwrap().to_string(),
                f["dst_ip"].as_str().unwrap().to_string(),
                conv["proto"].as_u64().unwrap(),
                f["src_port"].as_u64().unwrap(),
                f["dst_port"].as_u64().unwrap(),
            );
            let e = out.entry(key).or_default();
            e.0 += f["packets"].as_u64().unwrap();
            e.1 += f["bytes"].as_u64().unwrap();
        }
    }
    out
}

#[test]
fn lab_capture_end_to_end() {
    let ch = clickhouse().expect("ClickHouse for the test");
    let db = unique_database("lab");
    let root = repo_root();
    let nf_port = free_udp_port().unwrap();
    let metrics_port = free_tcp_port().unwrap();

    // Collector.
    let mut collector = Running(
        Command::new(workspace_bin("eastwest-collector"))
            .current_dir(&root)
            .env(eastwest_tests::LAB_CLOCK.0, eastwest_tests::LAB_CLOCK.1)
            .args(["--listen", &format!("127.0.0.1:{nf_port}")])
            .args(["--http", &format!("127.0.0.1:{metrics_port}")])
            .args(["--clickhouse-url", &ch.url, "--database", &db])
            .args([
                "--inventory",
                "lab/inventory.toml",
                "--policy",
                "lab/policy.toml",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(
        &format!("http://127.0.0.1:{metrics_port}/healthz"),
        "collector",
        &mut collector,
    );

    // Exporter: the lab capture, as fast as it goes.
    let out = Command::new(workspace_bin("eastwest-exporter"))
        .current_dir(&root)
        .args(["--read", "lab/lab.pcap"])
        .args(["--export", &format!("127.0.0.1:{nf_port}")])
        .args(["--inventory", "lab/inventory.toml", "--host", "esx-01"])
        .args(["--dataset", "lab"])
        .arg("--stats-json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exporter failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: Value = serde_json::from_slice(&out.stdout).expect("--stats-json prints JSON");
    let exp = lab_expected().unwrap();
    assert_eq!(stats["packets_read"], exp["frames"], "stats: {stats}");

    // Every flow of the lab, stored exactly once per observation point.
    let want = expected_flows(&exp);
    let want_rows: usize = want.len();
    let deadline = Instant::now() + Duration::from_secs(30);
    let count_sql = format!("SELECT count() FROM `{db}`.flows");
    loop {
        let n: usize = ch.query(&count_sql).unwrap().trim().parse().unwrap_or(0);
        if n >= want_rows || Instant::now() > deadline {
            break;
        }
        sleep(Duration::from_millis(300));
    }
    let rows = ch
        .query(&format!(
            "SELECT observer, encap, replaceRegexpOne(IPv6NumToString(src_addr), '^::ffff:', ''), \
             replaceRegexpOne(IPv6NumToString(dst_addr), '^::ffff:', ''), proto, src_port, dst_port, \
             sum(packets), sum(bytes) FROM `{db}`.flows \
             GROUP BY observer, encap, src_addr, dst_addr, proto, src_port, dst_port FORMAT TSV"
        ))
        .unwrap();
    let mut got = FlowTotals::new();
    for line in rows.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let n = |i: usize| f[i].parse::<u64>().unwrap();
        got.insert(
            (
                f[0].to_string(),
                f[1].to_string(),
                f[2].to_string(),
                f[3].to_string(),
                n(4),
                n(5),
                n(6),
            ),
            (n(7), n(8)),
        );
    }
    // ICMP flows: exporters put type/code where the ports go; compare the
    // totals of ICMP per (observer, encap, src, dst) instead.
    let fold = |m: &FlowTotals| -> FlowTotals {
        let mut out = FlowTotals::new();
        for ((o, e, s, d, p, sp, dp), (pk, by)) in m {
            let icmp = *p == 1 || *p == 58;
            let key = if icmp {
                (o.clone(), e.clone(), s.clone(), d.clone(), *p, 0, 0)
            } else {
                (o.clone(), e.clone(), s.clone(), d.clone(), *p, *sp, *dp)
            };
            let v = out.entry(key).or_default();
            v.0 += pk;
            v.1 += by;
        }
        out
    };
    assert_eq!(
        fold(&got),
        fold(&want),
        "stored flows differ from lab/expected.json"
    );

    // Enrichment and verdicts in the rows.
    let verdicts = ch
        .query(&format!(
            "SELECT DISTINCT src_vm, dst_vm, src_zone, dst_zone, same_host, verdict, severity, rule \
             FROM `{db}`.flows WHERE src_vm = 'fin-fe-01' AND dst_vm = 'payroll-01' FORMAT TSV"
        ))
        .unwrap();
    assert_eq!(
        verdicts.trim(),
        "fin-fe-01\tpayroll-01\tfinance-frontend\tpayroll\t1\tviolation\tcritical\tpayroll must never talk to the finance front end"
    );

    // Dashboard: every conversation direction counted once, whatever the
    // number of observation points.
    let dash_port = free_tcp_port().unwrap();
    // The lab's policy and inventory, for the policy endpoints.
    let dash_config =
        std::env::temp_dir().join(format!("eastwest-lab-dash-{}.toml", std::process::id()));
    std::fs::write(
        &dash_config,
        "[policy]\npolicy = \"lab/policy.toml\"\ninventory = \"lab/inventory.toml\"\n",
    )
    .unwrap();
    let mut dashboard = Running(
        Command::new(workspace_bin("eastwest-dashboard"))
            .current_dir(&root)
            .args(["--config".as_ref(), dash_config.as_os_str()])
            .args(["--listen", &format!("127.0.0.1:{dash_port}")])
            .args(["--clickhouse-url", &ch.url, "--database", &db])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{dash_port}");
    wait_for(
        &format!("{base}/api/v1/health"),
        "dashboard",
        &mut dashboard,
    );
    let _ = std::fs::remove_file(&dash_config);
    let body = curl(&format!("{base}/api/v1/conversations?range=all&limit=1000")).unwrap();
    let page: Value = serde_json::from_str(&body).unwrap();
    let convs = page["conversations"].as_array().unwrap();
    let find = |client: &str, server: &str, port: u64| -> &Value {
        convs
            .iter()
            .find(|c| {
                c["client_vm"] == client && c["server_vm"] == server && c["server_port"] == port
            })
            .unwrap_or_else(|| panic!("no conversation {client} → {server} port {port} in {body}"))
    };
    let mut checked = 0;
    for conv in exp["conversations"].as_array().unwrap() {
        if conv["proto"] != 6 && conv["proto"] != 17 {
            continue;
        }
        let (client, server) = (
            conv["client_vm"].as_str().unwrap(),
            conv["server_vm"].as_str().unwrap(),
        );
        // Both directions in one conversation, each counted once.
        let c = find(client, server, conv["server_port"].as_u64().unwrap());
        let name = &conv["name"];
        assert_eq!(c["packets_fwd"], conv["forward"]["packets"], "{name}");
        assert_eq!(c["bytes_fwd"], conv["forward"]["bytes"], "{name}");
        assert_eq!(c["packets_rev"], conv["reverse"]["packets"], "{name}");
        assert_eq!(c["bytes_rev"], conv["reverse"]["bytes"], "{name}");
        assert_eq!(c["verdict"], conv["verdict"], "{name}");
        assert_eq!(c["same_host"], conv["same_host"], "{name}");
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} TCP/UDP conversations checked");

    // The same data behind authentication: a second dashboard that wants a
    // viewer token (its SHA-256 from the binary's own --hash-token).
    let token = "lab-viewer-token";
    let hashed = Command::new(workspace_bin("eastwest-dashboard"))
        .arg("--hash-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(token.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(hashed.status.success(), "--hash-token failed");
    let digest = String::from_utf8(hashed.stdout).unwrap().trim().to_string();
    let auth_port = free_tcp_port().unwrap();
    let config =
        std::env::temp_dir().join(format!("eastwest-lab-auth-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{auth_port}\"\n[clickhouse]\nurl = \"{}\"\ndatabase = \"{db}\"\n\
             [auth]\nmode = \"on\"\n[[auth.tokens]]\nname = \"lab\"\nsha256 = \"{digest}\"\nrole = \"viewer\"\n",
            ch.url
        ),
    )
    .unwrap();
    let mut auth_dashboard = Running(
        Command::new(workspace_bin("eastwest-dashboard"))
            .current_dir(&root)
            .args(["--config".as_ref(), config.as_os_str()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let auth_base = format!("http://127.0.0.1:{auth_port}");
    wait_for(
        &format!("{auth_base}/api/v1/health"),
        "dashboard with authentication",
        &mut auth_dashboard,
    );
    let _ = std::fs::remove_file(&config);

    // The page, in a real headless Chromium: every view on the lab data.
    eastwest_tests::browser::run_page_tests(
        &base,
        Some(eastwest_tests::browser::AuthDashboard {
            base_url: &auth_base,
            token,
        }),
    )
    .unwrap();
}
