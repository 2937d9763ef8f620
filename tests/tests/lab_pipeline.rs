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

/// `eastwest-collector` on a free UDP port, storing into `db` with the
/// lab's inventory and policy; answers its health check.
fn start_collector(ch_url: &str, db: &str) -> (Running, u16) {
    let nf_port = free_udp_port().unwrap();
    let metrics_port = free_tcp_port().unwrap();
    let mut collector = Running(
        Command::new(workspace_bin("eastwest-collector"))
            .current_dir(repo_root())
            .env(eastwest_tests::LAB_CLOCK.0, eastwest_tests::LAB_CLOCK.1)
            .args(["--listen", &format!("127.0.0.1:{nf_port}")])
            .args(["--http", &format!("127.0.0.1:{metrics_port}")])
            .args(["--clickhouse-url", ch_url, "--database", db])
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
    (collector, nf_port)
}

/// `eastwest-exporter` replaying `pcap` (dataset `lab`) to the collector
/// on `nf_port`, as fast as it goes; its `--stats-json`.
fn export(pcap: &std::path::Path, nf_port: u16) -> Value {
    let out = Command::new(workspace_bin("eastwest-exporter"))
        .current_dir(repo_root())
        .args(["--read".as_ref(), pcap.as_os_str()])
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
    serde_json::from_slice(&out.stdout).expect("--stats-json prints JSON")
}

/// Wait until `count_sql` (a count of `flows`) answers `rows` or more
/// (30 s at most).
fn wait_for_rows(ch: &eastwest_tests::ClickHouse, count_sql: &str, rows: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: u64 = ch.query(count_sql).unwrap().trim().parse().unwrap_or(0);
        if n >= rows || Instant::now() > deadline {
            break;
        }
        sleep(Duration::from_millis(300));
    }
}

#[test]
fn lab_capture_end_to_end() {
    let ch = clickhouse().expect("ClickHouse for the test");
    let db = unique_database("lab");
    let root = repo_root();
    let (_collector, nf_port) = start_collector(&ch.url, &db);
    let stats = export(&root.join("lab/lab.pcap"), nf_port);
    let exp = lab_expected().unwrap();
    assert_eq!(stats["packets_read"], exp["frames"], "stats: {stats}");

    // Every flow of the lab, stored exactly once per observation point.
    let want = expected_flows(&exp);
    let want_rows: usize = want.len();
    wait_for_rows(
        &ch,
        &format!("SELECT count() FROM `{db}`.flows"),
        want_rows as u64,
    );
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

/// A conversation: client VM, server VM, protocol.
type ConversationKey = (String, String, u64);

/// What a conversation counted: packets and bytes forward, then reverse,
/// and its observers.
type Counted = (u64, u64, u64, u64, Vec<String>);

/// The lab's conversations seen only on their VXLAN underlay (the capture's
/// VXLAN frames alone, cut out by tshark): each direction is attributed to
/// the host of its outer source (the request to the client's, the reply to
/// the server's), and the dashboard counts both directions of each, once,
/// in the conversation list, the VM detail and the zone matrix.
#[test]
fn an_underlay_only_conversation_keeps_both_directions() {
    let ch = clickhouse().expect("ClickHouse for the test");
    let db = unique_database("lab_underlay");
    let root = repo_root();
    let dir = eastwest_tests::tempdir("lab-underlay").unwrap();
    let pcap = dir.join("underlay.pcap");
    let out = Command::new("tshark")
        .args(["-r".as_ref(), root.join("lab/lab.pcap").as_os_str()])
        .args(["-Y", "vxlan", "-w"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark: {out:?}");

    // The truth: the lab's flows at its underlay/vxlan observation point.
    let exp = lab_expected().unwrap();
    let frames = exp["observation_points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "underlay/vxlan")
        .unwrap()["frames"]
        .clone();
    let mut want: BTreeMap<ConversationKey, Counted> = BTreeMap::new();
    for conv in exp["conversations"].as_array().unwrap() {
        for f in conv["flows"].as_array().unwrap() {
            if f["observation"] != "underlay/vxlan" {
                continue;
            }
            let key = (
                conv["client_vm"].as_str().unwrap().to_string(),
                conv["server_vm"].as_str().unwrap().to_string(),
                conv["proto"].as_u64().unwrap(),
            );
            let e = want.entry(key).or_default();
            let (packets, bytes) = (f["packets"].as_u64().unwrap(), f["bytes"].as_u64().unwrap());
            if f["direction"] == "forward" {
                (e.0, e.1) = (e.0 + packets, e.1 + bytes);
            } else {
                (e.2, e.3) = (e.2 + packets, e.3 + bytes);
            }
            e.4.push(f["host"].as_str().unwrap().to_string());
            e.4.sort();
            e.4.dedup();
        }
    }
    assert!(want.len() >= 5, "{want:?}");
    assert!(want.values().all(|w| w.4.len() == 2), "{want:?}");

    let (_collector, nf_port) = start_collector(&ch.url, &db);
    let stats = export(&pcap, nf_port);
    assert_eq!(stats["packets_read"], frames, "stats: {stats}");
    let packets: u64 = want.values().map(|w| w.0 + w.2).sum();
    wait_for_rows(
        &ch,
        &format!("SELECT sum(packets) FROM `{db}`.flows"),
        packets,
    );
    assert_eq!(
        ch.query(&format!(
            "SELECT sum(packets), uniqExact(encap), uniqExact(observer) FROM `{db}`.flows"
        ))
        .unwrap(),
        format!("{packets}\t1\t3\n"),
        "only underlay rows, from the three hosts' VTEPs"
    );

    let dash_port = free_tcp_port().unwrap();
    let mut dashboard = Running(
        Command::new(workspace_bin("eastwest-dashboard"))
            .current_dir(&root)
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
    let get = |path: &str| -> Value {
        let body = curl(&format!("{base}{path}")).unwrap_or_else(|| panic!("GET {path}"));
        serde_json::from_str(&body).unwrap()
    };
    let key = |c: &Value| {
        (
            c["client_vm"].as_str().unwrap().to_string(),
            c["server_vm"].as_str().unwrap().to_string(),
            c["proto"].as_u64().unwrap(),
        )
    };
    let counted = |c: &Value| {
        (
            c["packets_fwd"].as_u64().unwrap(),
            c["bytes_fwd"].as_u64().unwrap(),
            c["packets_rev"].as_u64().unwrap(),
            c["bytes_rev"].as_u64().unwrap(),
            c["observers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_str().unwrap().to_string())
                .collect::<Vec<_>>(),
        )
    };
    // From the hourly rollup, and from raw flows and the minute rollup
    // (a window off whole minutes).
    let (first_s, last_s) = (
        exp["first_ms"].as_u64().unwrap() / 1000,
        exp["last_ms"].as_u64().unwrap() / 1000,
    );
    let raw = get(&format!(
        "/api/v1/conversations?from={}&to={}&limit=1000",
        first_s - 1,
        last_s + 2
    ));
    assert_eq!(raw["resolution"], "1m", "{raw}");
    let page = get("/api/v1/conversations?range=all&limit=1000");
    for page in [&page, &raw] {
        let got: BTreeMap<_, _> = page["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (key(c), counted(c)))
            .collect();
        assert_eq!(got, want, "{page}");
    }
    let total_bytes: u64 = want.values().map(|w| w.1 + w.3).sum();
    assert_eq!(page["totals"]["bytes"], total_bytes, "{page}");

    // The VM detail of each client: its conversations, both directions.
    for (client, server, proto) in want.keys() {
        let vm = get(&format!("/api/v1/vms/{client}?range=all"));
        let c = vm["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| key(c) == (client.clone(), server.clone(), *proto))
            .unwrap_or_else(|| panic!("{client} → {server} not in {vm}"));
        assert_eq!(counted(c), want[&key(c)], "{vm}");
    }

    // The zone matrix: per zone pair, the conversations' bytes both ways.
    let zones: BTreeMap<_, _> = page["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                key(c),
                (
                    c["client_zone"].as_str().unwrap().to_string(),
                    c["server_zone"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    let mut cells: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for (k, w) in &want {
        let cell = cells.entry(zones[k].clone()).or_default();
        (cell.0, cell.1) = (cell.0 + 1, cell.1 + w.1 + w.3);
    }
    let matrix = get("/api/v1/zones/matrix?range=all");
    let got: BTreeMap<_, _> = matrix["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["client_zone"].as_str().unwrap().to_string(),
                    c["server_zone"].as_str().unwrap().to_string(),
                ),
                (
                    c["conversations"].as_u64().unwrap(),
                    c["bytes"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(got, cells, "{matrix}");
    let _ = std::fs::remove_dir_all(&dir);
}
