//! Packet evidence end to end, with the real binaries: `eastwest-exporter`
//! replays lab/lab.pcap with a packet store (an index into the capture)
//! and announces its evidence server in the NetFlow options record;
//! `eastwest-collector` stores the flows and the exporter's `evidence_url`
//! in a real ClickHouse; a second exporter serves the store; the
//! dashboard's `/api/v1/packets` fetches the lab's fin-fe-01 -> payroll-01
//! violation from it and merges it into one pcapng that tshark and
//! capinfos read, with every frame the lab's truth counts for that
//! conversation; the same capture from one click on the page's "packets"
//! button in headless Chromium, and from `w` in the TUI under tmux; with
//! the exporter gone, a JSON error naming the observation point.
//!
//! The binaries must be built (`cargo build --workspace --bins`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use eastwest_tests::{
    clickhouse, free_tcp_port, free_udp_port, lab_expected, repo_root, tempdir, unique_database,
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

/// `curl` with `token`: (status, headers, body saved to `out`).
fn curl(url: &str, token: &str, out: &std::path::Path) -> (u16, String) {
    let headers = out.with_extension("headers");
    let result = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-o"])
        .arg(out)
        .arg("-D")
        .arg(&headers)
        .args(["-w", "%{http_code}"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(url)
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&result.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (status, std::fs::read_to_string(headers).unwrap_or_default())
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

fn tool(program: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?} failed");
    // tshark's note on running as root is no warning about the file.
    let stderr = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("Running as user"))
        .collect::<Vec<_>>()
        .join("\n");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// The frames tshark reads in the capture at `path`.
fn frame_count(path: &std::path::Path) -> u64 {
    let (frames, _) = tool(
        "tshark",
        &[
            "-r",
            path.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.number",
        ],
    );
    frames.lines().count() as u64
}

#[test]
fn a_violation_s_packets_through_the_dashboard() {
    let ch = clickhouse().expect("ClickHouse for the test");
    let db = unique_database("packets");
    let root = repo_root();
    let dir = tempdir("packets").unwrap();
    let nf_port = free_udp_port().unwrap();
    let metrics_port = free_tcp_port().unwrap();
    let evidence_port = free_tcp_port().unwrap();
    let evidence_url = format!("http://127.0.0.1:{evidence_port}");
    let token = "evidence-secret";

    let mut collector = Running(
        Command::new(workspace_bin("eastwest-collector"))
            .current_dir(&root)
            .env(eastwest_tests::LAB_CLOCK.0, eastwest_tests::LAB_CLOCK.1)
            .args(["--listen", &format!("127.0.0.1:{nf_port}")])
            .args(["--http", &format!("127.0.0.1:{metrics_port}")])
            .args(["--clickhouse-url", &ch.url, "--database", &db])
            .args(["--inventory", "lab/inventory.toml"])
            .args(["--policy", "lab/policy.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the collector", 30, || {
        Command::new("curl")
            .args(["-fsS", &format!("http://127.0.0.1:{metrics_port}/healthz")])
            .output()
            .is_ok_and(|o| o.status.success())
    });

    // The replay indexes the capture in place and announces the server
    // that will serve it.
    let store = dir.join("store");
    let out = Command::new(workspace_bin("eastwest-exporter"))
        .current_dir(&root)
        .args(["--read", "lab/lab.pcap"])
        .args(["--export", &format!("127.0.0.1:{nf_port}")])
        .args(["--inventory", "lab/inventory.toml", "--host", "esx-01"])
        .args(["--dataset", "lab"])
        .arg("--packet-store")
        .arg(&store)
        .args(["--evidence-url", &evidence_url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exporter failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The collector's last exporters snapshot is written when it stops.
    let exp = lab_expected().unwrap();
    let conv = exp["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_vm"] == "fin-fe-01" && c["server_vm"] == "payroll-01")
        .expect("the lab's fin-fe-01 -> payroll-01 conversation")
        .clone();
    let want_frames: u64 = conv["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["packets"].as_u64().unwrap())
        .sum();
    let flows_sql = format!(
        "SELECT sum(packets) FROM `{db}`.flows WHERE src_vm IN ('fin-fe-01', 'payroll-01') AND dst_vm IN ('fin-fe-01', 'payroll-01')"
    );
    wait_until("the conversation's flows", 30, || {
        ch.query(&flows_sql).unwrap_or_default().trim() == want_frames.to_string()
    });
    let pid = collector.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let _ = collector.0.wait();
    let urls = ch
        .query(&format!(
            "SELECT DISTINCT evidence_url FROM `{db}`.exporters FORMAT TSV"
        ))
        .unwrap();
    assert_eq!(urls.trim(), evidence_url, "the options record's URL");

    // An exporter serving the store.
    let config = dir.join("exporter.toml");
    std::fs::write(
        &config,
        format!(
            "[evidence]\ntoken_sha256 = \"{}\"\n",
            eastwest_core::token::digest_hex(token)
        ),
    )
    .unwrap();
    let server = Running(
        Command::new(workspace_bin("eastwest-exporter"))
            .current_dir(&root)
            .arg("--config")
            .arg(&config)
            .arg("--packet-store")
            .arg(&store)
            .args(["--evidence-listen", &format!("127.0.0.1:{evidence_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the evidence server", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", evidence_port)).is_ok()
    });

    // The dashboard: a viewer and a responder; the exporters' token.
    let dash_port = free_tcp_port().unwrap();
    let dash_config = dir.join("dashboard.toml");
    std::fs::write(
        &dash_config,
        format!(
            "listen = \"127.0.0.1:{dash_port}\"\n[clickhouse]\nurl = \"{}\"\ndatabase = \"{db}\"\n\
             [auth]\nmode = \"on\"\n\
             [[auth.tokens]]\nname = \"noc\"\nsha256 = \"{}\"\nrole = \"viewer\"\n\
             [[auth.tokens]]\nname = \"csirt\"\nsha256 = \"{}\"\nrole = \"responder\"\n\
             [packets]\ntoken = \"{token}\"\n",
            ch.url,
            eastwest_core::token::digest_hex("viewer-token"),
            eastwest_core::token::digest_hex("responder-token"),
        ),
    )
    .unwrap();
    let _dashboard = Running(
        Command::new(workspace_bin("eastwest-dashboard"))
            .current_dir(&root)
            .arg("--config")
            .arg(&dash_config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{dash_port}");
    let probe = dir.join("probe.json");
    wait_until("the dashboard", 30, || {
        curl(&format!("{base}/api/v1/health"), "", &probe).0 == 200
    });

    // The exporters API shows where the packets are.
    let (status, _) = curl(&format!("{base}/api/v1/exporters"), "viewer-token", &probe);
    assert_eq!(status, 200);
    let exporters: Value = serde_json::from_slice(&std::fs::read(&probe).unwrap()).unwrap();
    assert!(
        exporters["exporters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["evidence_url"] == evidence_url.as_str()),
        "{exporters}"
    );

    let query = format!(
        "{base}/api/v1/packets?range=all&dataset=lab&vm=fin-fe-01&peer=payroll-01&proto=6&port={}",
        conv["server_port"]
    );
    let capture = dir.join("capture.pcapng");
    let (status, _) = curl(&query, "viewer-token", &capture);
    assert_eq!(status, 403, "a viewer may not download packets");
    let (status, headers) = curl(&query, "responder-token", &capture);
    assert_eq!(
        status,
        200,
        "{headers} {}",
        std::fs::read_to_string(&capture).unwrap_or_default()
    );
    let headers = headers.to_ascii_lowercase();
    assert!(headers.contains("x-eastwest-partial: false"), "{headers}");
    assert!(
        headers.contains("application/vnd.tcpdump.pcapng"),
        "{headers}"
    );

    // tshark reads it without a complaint: the conversation's frames, in
    // time order, on one interface per observation point, with the
    // verdict on the section header.
    let path = capture.to_str().unwrap();
    let (frames, stderr) = tool(
        "tshark",
        &[
            "-r",
            path,
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.interface_name",
        ],
    );
    assert!(stderr.trim().is_empty(), "tshark: {stderr}");
    let rows: Vec<(f64, String)> = frames
        .lines()
        .map(|l| {
            let (t, i) = l.split_once('\t').unwrap();
            (t.parse().unwrap(), i.to_string())
        })
        .collect();
    assert_eq!(rows.len() as u64, want_frames, "frames of the conversation");
    assert!(rows.windows(2).all(|w| w[0].0 <= w[1].0), "time order");
    let mut points: Vec<String> = conv["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["observation"].as_str().unwrap().to_string())
        .collect();
    points.sort();
    points.dedup();
    let mut seen: Vec<String> = rows.iter().map(|(_, i)| i.clone()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, points, "one interface per observation point");
    let (info, stderr) = tool("capinfos", &[path]);
    assert!(!stderr.contains("arning"), "capinfos: {stderr}");
    assert!(info.contains("fin-fe-01"), "the section comment: {info}");
    assert!(
        info.contains("violation"),
        "the verdict in the comment: {info}"
    );

    // The page: one click on the violation's "packets" button downloads
    // the same capture.
    let clicked = dir.join("clicked.pcapng");
    eastwest_tests::browser::run_packets_test(&base, "responder-token", &clicked).unwrap();
    assert_eq!(
        frame_count(&clicked),
        want_frames,
        "frames of the clicked capture"
    );

    // The TUI in a real terminal: `w` on the conversation saves the same
    // capture, named after it, in its working directory.
    let tmux = format!("eastwest-packets-{}", std::process::id());
    let command = format!(
        "cd {} && EASTWEST_TOKEN=responder-token TERM=xterm-256color {} --server {base} --range all --dataset lab --interval 0.5",
        dir.display(),
        workspace_bin("eastwest-tui").display(),
    );
    let tmux_run = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &tmux])
            .args(args)
            .output()
            .expect("tmux")
    };
    let screen = || {
        String::from_utf8_lossy(&tmux_run(&["capture-pane", "-p", "-t", "tui"]).stdout).into_owned()
    };
    assert!(tmux_run(&[
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "140",
        "-y",
        "30",
        &command
    ])
    .status
    .success());
    wait_until("the TUI's conversations", 30, || {
        screen().contains("fin-fe-01 → payroll-01")
    });
    tmux_run(&[
        "send-keys",
        "-t",
        "tui",
        "/",
        "vm:fin-fe-01 payroll-01",
        "Enter",
    ]);
    wait_until("the filtered list", 30, || !screen().contains("web-01"));
    tmux_run(&["send-keys", "-t", "tui", "w"]);
    wait_until("the TUI saving the packets", 30, || {
        screen().contains("packets saved to")
    });
    let _ = tmux_run(&["kill-server"]);
    let saved = dir.join("fin-fe-01_payroll-01_TCP-443.pcapng");
    assert_eq!(frame_count(&saved), want_frames, "frames the TUI saved");

    // Nothing matches: a clear 404.
    let (status, _) = curl(
        &format!("{base}/api/v1/packets?range=all&dataset=lab&vm=no-such-vm"),
        "responder-token",
        &probe,
    );
    assert_eq!(status, 404);

    // The exporter gone: a JSON error naming the observation point and why.
    drop(server);
    let (status, _) = curl(&query, "responder-token", &probe);
    assert_eq!(status, 502);
    let body: Value = serde_json::from_slice(&std::fs::read(&probe).unwrap()).unwrap();
    let sources = body["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "{body}");
    assert_eq!(sources[0]["point"], "esx-03/erspan2", "{body}");
    assert_eq!(sources[0]["url"], evidence_url.as_str(), "{body}");
    assert_eq!(sources[0]["error"], "exporter unreachable", "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}
