//! Packet evidence end to end, with the real binaries: `eastwest-exporter`
//! replays lab/lab.pcap with a packet store (an index into the capture)
//! and announces its evidence server in the NetFlow options record;
//! `eastwest-collector` stores the flows and the exporter's `evidence_url`
//! in a real ClickHouse; a second exporter serves the store; the
//! dashboard's `/api/v1/packets` fetches the lab's fin-fe-01 -> payroll-01
//! violation from it and merges it into one pcapng that tshark and
//! capinfos read, with every frame the lab's truth counts for that
//! conversation; the same capture from one click on the page's "packets"
//! button in headless Chromium (and every conversation of fin-fe-01 from
//! the VM page's button), and from `w` in the TUI under tmux; with
//! the exporter gone, a JSON error naming the observation point; the
//! compliance report (JSON and HTML) links the violation to the same
//! capture.
//!
//! A second test splits the lab between two exporter processes (ERSPAN
//! mirrors on one, SPAN and the underlay on the other, sending from
//! 127.0.0.1 and ::1): with both up the capture holds every frame of a
//! conversation seen by both; one killed midway through its answer, the
//! capture ends with a section saying so, and so do the HTTP trailers a
//! client asks for with `TE: trailers`; one gone before the download,
//! the capture holds the other's frames, marked partial in the
//! `x-eastwest-partial` header and the comment; past the dashboard's size
//! limit the capture is cut and says so. The second exporter serves HTTPS
//! with a certificate of a CA the test makes (`[packets] ca`); a dashboard
//! without that CA gets nothing from it.
//!
//! The binaries must be built (`cargo build --workspace --bins`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
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
fn curl(url: &str, token: &str, out: &Path) -> (u16, String) {
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
fn frame_count(path: &Path) -> u64 {
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

/// A collector on `listen` (one or more UDP addresses) storing into `db`,
/// its health page on `metrics_port`; running once it answers.
fn start_collector(ch_url: &str, db: &str, listen: &[String], metrics_port: u16) -> Running {
    let mut command = Command::new(workspace_bin("eastwest-collector"));
    command
        .current_dir(repo_root())
        .env(eastwest_tests::LAB_CLOCK.0, eastwest_tests::LAB_CLOCK.1);
    for addr in listen {
        command.args(["--listen", addr]);
    }
    let collector = Running(
        command
            .args(["--http", &format!("127.0.0.1:{metrics_port}")])
            .args(["--clickhouse-url", ch_url, "--database", db])
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
    collector
}

/// Stop the collector with SIGTERM: its last exporters snapshot is written
/// when it stops.
fn stop_collector(mut collector: Running) {
    let pid = collector.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let _ = collector.0.wait();
}

/// Replay `capture` to the collector at `export` as host `host`, indexing
/// it into the packet store `store` and announcing `evidence_url`.
fn replay(capture: &Path, export: &str, host: &str, store: &Path, evidence_url: &str) {
    let out = Command::new(workspace_bin("eastwest-exporter"))
        .current_dir(repo_root())
        .arg("--read")
        .arg(capture)
        .args(["--export", export])
        .args(["--inventory", "lab/inventory.toml", "--host", host])
        .args(["--dataset", "lab"])
        .arg("--packet-store")
        .arg(store)
        .args(["--evidence-url", evidence_url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exporter failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An exporter serving the packet store `store` on 127.0.0.1:`port` with
/// `token`, over HTTPS with the certificate `{tls}.pem` and key
/// `{tls}.key` of `dir` when given; running once it accepts connections.
fn serve_store(dir: &Path, store: &Path, port: u16, token: &str, tls: Option<&str>) -> Running {
    let config = dir.join(format!("exporter-{port}.toml"));
    std::fs::write(
        &config,
        format!(
            "[evidence]\ntoken_sha256 = \"{}\"\n",
            eastwest_core::token::digest_hex(token)
        ),
    )
    .unwrap();
    let mut command = Command::new(workspace_bin("eastwest-exporter"));
    if let Some(name) = tls {
        command
            .arg("--evidence-tls-cert")
            .arg(dir.join(format!("{name}.pem")))
            .arg("--evidence-tls-key")
            .arg(dir.join(format!("{name}.key")));
    }
    let server = Running(
        command
            .current_dir(repo_root())
            .arg("--config")
            .arg(&config)
            .arg("--packet-store")
            .arg(store)
            .args(["--evidence-listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the evidence server", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    server
}

/// A dashboard on `db` with a viewer (`viewer-token`) and a responder
/// (`responder-token`), fetching packets with `token` and `packets` (more
/// `[packets]` keys); its base URL once it answers.
fn start_dashboard(
    dir: &Path,
    ch_url: &str,
    db: &str,
    token: &str,
    packets: &str,
) -> (Running, String) {
    let port = free_tcp_port().unwrap();
    let config = dir.join(format!("dashboard-{port}.toml"));
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\n[clickhouse]\nurl = \"{ch_url}\"\ndatabase = \"{db}\"\n\
             [auth]\nmode = \"on\"\n\
             [[auth.tokens]]\nname = \"noc\"\nsha256 = \"{}\"\nrole = \"viewer\"\n\
             [[auth.tokens]]\nname = \"csirt\"\nsha256 = \"{}\"\nrole = \"responder\"\n\
             [packets]\ntoken = \"{token}\"\n{packets}",
            eastwest_core::token::digest_hex("viewer-token"),
            eastwest_core::token::digest_hex("responder-token"),
        ),
    )
    .unwrap();
    let dashboard = Running(
        Command::new(workspace_bin("eastwest-dashboard"))
            .current_dir(repo_root())
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(config.with_extension("log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let probe = dir.join("probe.json");
    wait_until("the dashboard", 30, || {
        curl(&format!("{base}/api/v1/health"), "", &probe).0 == 200
    });
    (dashboard, base)
}

/// The lab's conversation from `client` to `server`.
fn lab_conversation(client: &str, server: &str) -> Value {
    lab_expected().unwrap()["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_vm"] == client && c["server_vm"] == server)
        .unwrap_or_else(|| panic!("the lab's {client} -> {server} conversation"))
        .clone()
}

/// Frames per interface name in the capture at `path`.
fn frames_by_interface(path: &Path) -> BTreeMap<String, u64> {
    let (frames, _) = tool(
        "tshark",
        &[
            "-r",
            path.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.interface_name",
        ],
    );
    let mut counts = BTreeMap::new();
    for name in frames.lines() {
        *counts.entry(name.to_string()).or_insert(0) += 1;
    }
    counts
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

    let collector = start_collector(
        &ch.url,
        &db,
        &[format!("127.0.0.1:{nf_port}")],
        metrics_port,
    );

    // The replay indexes the capture in place and announces the server
    // that will serve it.
    let store = dir.join("store");
    replay(
        &root.join("lab/lab.pcap"),
        &format!("127.0.0.1:{nf_port}"),
        "esx-01",
        &store,
        &evidence_url,
    );

    let conv = lab_conversation("fin-fe-01", "payroll-01");
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
    stop_collector(collector);
    let urls = ch
        .query(&format!(
            "SELECT DISTINCT evidence_url FROM `{db}`.exporters FORMAT TSV"
        ))
        .unwrap();
    assert_eq!(urls.trim(), evidence_url, "the options record's URL");

    // An exporter serving the store; the dashboard with a viewer and a
    // responder, and the exporters' token.
    let server = serve_store(&dir, &store, evidence_port, token, None);
    let (_dashboard, base) = start_dashboard(&dir, &ch.url, &db, token, "");
    let probe = dir.join("probe.json");

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

    // The compliance report links the violation to the same packets.
    let (status, _) = curl(
        &format!("{base}/api/v1/report?range=all&dataset=lab"),
        "viewer-token",
        &probe,
    );
    assert_eq!(status, 200);
    let report: Value = serde_json::from_slice(&std::fs::read(&probe).unwrap()).unwrap();
    let listed = report["violating_conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["client_vm"] == "fin-fe-01" && v["server_vm"] == "payroll-01")
        .unwrap_or_else(|| panic!("the violation in the report: {report}"));
    let link = listed["packets_url"].as_str().expect("a packets link");
    let linked = dir.join("linked.pcapng");
    let (status, _) = curl(&format!("{base}{link}"), "responder-token", &linked);
    assert_eq!(status, 200, "{link}");
    assert_eq!(
        frame_count(&linked),
        want_frames,
        "frames behind the report's link"
    );
    let report_html = dir.join("report.html");
    let (status, _) = curl(
        &format!("{base}/api/v1/report?range=all&dataset=lab&format=html"),
        "viewer-token",
        &report_html,
    );
    assert_eq!(status, 200);
    let html = std::fs::read_to_string(&report_html).unwrap();
    assert!(
        html.contains(&format!(
            "class=\"packets\" href=\"{}\"",
            link.replace('&', "&amp;")
        )),
        "the HTML report's link"
    );

    // The page: one click on the violation's "packets" button downloads
    // the same capture.
    // The VM page's own button downloads every conversation of the VM.
    let clicked = dir.join("clicked.pcapng");
    let vm_clicked = dir.join("vm-clicked.pcapng");
    eastwest_tests::browser::run_packets_test(&base, "responder-token", &clicked, &vm_clicked)
        .unwrap();
    assert_eq!(
        frame_count(&clicked),
        want_frames,
        "frames of the clicked capture"
    );
    let vm_frames: u64 = lab_expected().unwrap()["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["client_vm"] == "fin-fe-01" || c["server_vm"] == "fin-fe-01")
        .flat_map(|c| c["flows"].as_array().unwrap().iter())
        .map(|f| f["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(
        frame_count(&vm_clicked),
        vm_frames,
        "frames of fin-fe-01's conversations from the VM page"
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

/// A TCP relay in front of an exporter's evidence server. Once
/// `hold_after` bytes of an answer have passed it passes no more (and says
/// so in `held`), still reading the server; when the server's side ends it
/// closes the client's: a download caught midway, for the test to kill
/// the exporter under it. A server that refuses the connection closes the
/// client's at once.
struct Relay {
    port: u16,
    hold_after: Arc<AtomicU64>,
    held: Arc<AtomicBool>,
}

impl Relay {
    fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold_after = Arc::new(AtomicU64::new(u64::MAX));
        let held = Arc::new(AtomicBool::new(false));
        let (limit, flag) = (Arc::clone(&hold_after), Arc::clone(&held));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (Ok(mut request_in), Ok(mut request_out)) =
                    (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut request_in, &mut request_out);
                    let _ = request_out.shutdown(Shutdown::Write);
                });
                let (limit, flag) = (Arc::clone(&limit), Arc::clone(&flag));
                std::thread::spawn(move || {
                    let mut passed = 0u64;
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = server.read(&mut buf) {
                        let room = limit.load(Ordering::SeqCst).saturating_sub(passed);
                        let pass = usize::try_from(room).unwrap_or(usize::MAX).min(n);
                        if client.write_all(&buf[..pass]).is_err() {
                            break;
                        }
                        passed += pass as u64;
                        if pass < n {
                            flag.store(true, Ordering::SeqCst);
                        }
                    }
                    let _ = client.shutdown(Shutdown::Both);
                });
            }
        });
        Relay {
            port,
            hold_after,
            held,
        }
    }
}

/// Bytes of the capture's packet blocks per interface name (32 bytes of
/// block and the frame padded to 4), as the dashboard's size limit counts.
fn block_bytes_by_interface(path: &Path) -> BTreeMap<String, u64> {
    let (frames, _) = tool(
        "tshark",
        &[
            "-r",
            path.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.interface_name",
            "-e",
            "frame.cap_len",
        ],
    );
    let mut bytes = BTreeMap::new();
    for line in frames.lines() {
        let (name, len) = line.split_once('\t').unwrap();
        let len: u64 = len.parse().unwrap();
        *bytes.entry(name.to_string()).or_insert(0) += 32 + len.next_multiple_of(4);
    }
    bytes
}

#[test]
fn a_capture_from_two_exporters_whole_and_partial() {
    let ch = clickhouse().expect("ClickHouse for the test");
    let db = unique_database("packets_two");
    let root = repo_root();
    let dir = tempdir("packets-two").unwrap();
    let token = "evidence-secret";

    // The lab split between two exporters: ERSPAN mirrors on `mirrors`,
    // the SPAN port and the underlay on `span`.
    let mirrors_pcap = dir.join("mirrors.pcap");
    let span_pcap = dir.join("span.pcap");
    for (filter, out) in [
        ("ip.proto == 47", &mirrors_pcap),
        ("!(ip.proto == 47)", &span_pcap),
    ] {
        tool(
            "tshark",
            &[
                "-r",
                root.join("lab/lab.pcap").to_str().unwrap(),
                "-Y",
                filter,
                "-F",
                "pcap",
                "-w",
                out.to_str().unwrap(),
            ],
        );
    }

    // Both send to one collector, from 127.0.0.1 and from ::1, so the
    // collector tells them apart.
    let nf_port = free_udp_port().unwrap();
    let collector = start_collector(
        &ch.url,
        &db,
        &[format!("127.0.0.1:{nf_port}"), format!("[::1]:{nf_port}")],
        free_tcp_port().unwrap(),
    );
    let (mirrors_port, span_port) = (free_tcp_port().unwrap(), free_tcp_port().unwrap());
    // The mirrors' exporter is reached through a relay, to be caught
    // midway through an answer.
    let relay = Relay::start(mirrors_port);
    let mirrors_url = format!("http://127.0.0.1:{}", relay.port);
    // The SPAN exporter serves HTTPS with a certificate of the test's CA.
    let span_url = format!("https://127.0.0.1:{span_port}");
    eastwest_tests::tls::make_ca(&dir, "ca").unwrap();
    eastwest_tests::tls::make_server_cert(&dir, "ca", "span", false).unwrap();
    let ca = format!("ca = \"{}\"\n", dir.join("ca.pem").display());
    let (mirrors_store, span_store) = (dir.join("mirrors-store"), dir.join("span-store"));
    replay(
        &mirrors_pcap,
        &format!("127.0.0.1:{nf_port}"),
        "esx-02",
        &mirrors_store,
        &mirrors_url,
    );
    replay(
        &span_pcap,
        &format!("[::1]:{nf_port}"),
        "esx-01",
        &span_store,
        &span_url,
    );

    // web-01 -> db-02 crossed hosts: seen on esx-01's SPAN port, by
    // esx-04's ERSPAN mirror and in the VXLAN underlay. The truth's frames
    // per interface the dashboard names (exporter and domain: the host and
    // its encapsulations), and which are the mirrors'.
    let conv = lab_conversation("web-01", "db-02");
    let mut truth: BTreeMap<(bool, u64), (String, BTreeSet<String>, u64)> = BTreeMap::new();
    for f in conv["flows"].as_array().unwrap() {
        let encap = f["encap"].as_str().unwrap();
        let point = truth
            .entry((encap.starts_with("erspan"), f["domain"].as_u64().unwrap()))
            .or_insert_with(|| (f["host"].as_str().unwrap().to_string(), BTreeSet::new(), 0));
        point.1.insert(encap.to_string());
        point.2 += f["packets"].as_u64().unwrap();
    }
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    let mut mirrored = BTreeSet::new();
    for ((mirror, _), (host, encaps, frames)) in &truth {
        let name = format!(
            "{host}/{}",
            encaps.iter().cloned().collect::<Vec<_>>().join("+")
        );
        if *mirror {
            mirrored.insert(name.clone());
        }
        want.insert(name, *frames);
    }
    assert!(want.len() >= 3 && mirrored.len() == 1, "{want:?}");
    let want_frames: u64 = want.values().sum();
    let flows_sql = format!(
        "SELECT sum(packets) FROM `{db}`.flows WHERE src_vm IN ('web-01', 'db-02') AND dst_vm IN ('web-01', 'db-02')"
    );
    wait_until("the conversation's flows", 30, || {
        ch.query(&flows_sql).unwrap_or_default().trim() == want_frames.to_string()
    });
    stop_collector(collector);
    let announced = ch
        .query(&format!(
            "SELECT DISTINCT IPv6NumToString(exporter), evidence_url FROM `{db}`.exporters FORMAT TSV"
        ))
        .unwrap();
    assert!(
        announced.contains(&format!("::ffff:127.0.0.1\t{mirrors_url}"))
            && announced.contains(&format!("::1\t{span_url}")),
        "each exporter's URL: {announced}"
    );

    let mut mirrors_server = serve_store(&dir, &mirrors_store, mirrors_port, token, None);
    let _span_server = serve_store(&dir, &span_store, span_port, token, Some("span"));
    let (_dashboard, base) = start_dashboard(&dir, &ch.url, &db, token, &ca);
    let query = format!(
        "/api/v1/packets?range=all&dataset=lab&vm=web-01&peer=db-02&proto=6&port={}",
        conv["server_port"]
    );

    // Both up: every frame of every point, from both exporters, one over
    // plain HTTP, one over HTTPS verified with the `[packets] ca`.
    let whole = dir.join("whole.pcapng");
    let (status, headers) = curl(&format!("{base}{query}"), "responder-token", &whole);
    assert_eq!(status, 200, "{headers}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("x-eastwest-partial: false"),
        "{headers}"
    );
    assert_eq!(frames_by_interface(&whole), want, "frames per point");

    // Past the size limit: a capture cut, and saying so. Every exporter's
    // answer fits the limit; their merge does not.
    let blocks = block_bytes_by_interface(&whole);
    let limit = blocks.values().max().unwrap() + 1_000;
    assert!(limit < blocks.values().sum::<u64>(), "{blocks:?}");
    let (small_dashboard, small_base) = start_dashboard(
        &dir,
        &ch.url,
        &db,
        token,
        &format!("max_bytes = {limit}\n{ca}"),
    );
    let cut = dir.join("cut.pcapng");
    let (status, headers) = curl(&format!("{small_base}{query}"), "responder-token", &cut);
    assert_eq!(status, 200, "{headers}");
    let frames = frame_count(&cut);
    assert!(0 < frames && frames < want_frames, "{frames} frames");
    let text = String::from_utf8_lossy(&std::fs::read(&cut).unwrap()).into_owned();
    assert!(
        text.contains(&format!("cut at the size limit of {limit} bytes")),
        "the cut is said in the capture"
    );
    drop(small_dashboard);

    // A dashboard that does not trust the test's CA cannot fetch from the
    // HTTPS exporter: only the mirrors' frames, marked partial.
    let (untrusting, untrusting_base) = start_dashboard(&dir, &ch.url, &db, token, "");
    let mirrors_only = dir.join("mirrors-only.pcapng");
    let (status, headers) = curl(
        &format!("{untrusting_base}{query}"),
        "responder-token",
        &mirrors_only,
    );
    assert_eq!(status, 200, "{headers}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("x-eastwest-partial: true"),
        "{headers}"
    );
    let only: BTreeMap<String, u64> = want
        .iter()
        .filter(|(name, _)| mirrored.contains(*name))
        .map(|(name, n)| (name.clone(), *n))
        .collect();
    assert_eq!(
        frames_by_interface(&mirrors_only),
        only,
        "the mirrors' point only"
    );
    drop(untrusting);

    // The mirrors' exporter killed midway through its answer: the capture
    // still reads, holds the other exporter's frames, and ends with a
    // section naming the point whose download broke off. The client asks
    // for trailers: they say it too, after the capture.
    relay.hold_after.store(1_500, Ordering::SeqCst);
    let broken = dir.join("broken.pcapng");
    let headers_file = broken.with_extension("headers");
    let download = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-o"])
        .arg(&broken)
        .arg("-D")
        .arg(&headers_file)
        .args(["-H", "Authorization: Bearer responder-token"])
        .args(["-H", "TE: trailers"])
        .arg(format!("{base}{query}"))
        .spawn()
        .unwrap();
    wait_until("the download caught midway", 30, || {
        relay.held.load(Ordering::SeqCst)
    });
    mirrors_server.0.kill().unwrap();
    let _ = mirrors_server.0.wait();
    let out = download.wait_with_output().unwrap();
    assert!(out.status.success(), "curl: {out:?}");
    let (_, stderr) = tool("tshark", &["-r", broken.to_str().unwrap(), "-q"]);
    assert!(stderr.trim().is_empty(), "tshark: {stderr}");
    let counts = frames_by_interface(&broken);
    let mirror_name = mirrored.first().unwrap();
    for (name, frames) in &want {
        if name == mirror_name {
            assert!(
                counts.get(name).copied().unwrap_or(0) < *frames,
                "{name}: {counts:?}"
            );
        } else {
            assert_eq!(counts.get(name), Some(frames), "{name}: {counts:?}");
        }
    }
    let text = String::from_utf8_lossy(&std::fs::read(&broken).unwrap()).into_owned();
    assert!(
        text.contains(&format!(
            "partial capture: {mirror_name}: the capture broke off"
        )),
        "the broken download is said in the capture"
    );
    // The headers went out while both exporters answered; the trailers
    // (curl writes them after the headers) carry the final word.
    let dumped = std::fs::read_to_string(&headers_file)
        .unwrap()
        .to_ascii_lowercase();
    let (head, trailers) = dumped.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains("trailer: x-eastwest-partial, x-eastwest-unavailable"),
        "{head}"
    );
    assert!(head.contains("x-eastwest-partial: false"), "{head}");
    assert!(trailers.contains("x-eastwest-partial: true"), "{trailers}");
    assert!(
        trailers.contains(&format!(
            "x-eastwest-unavailable: {}: the capture broke off",
            mirror_name.to_ascii_lowercase()
        )),
        "{trailers}"
    );

    // The mirrors' exporter gone before the download: the other's frames,
    // marked partial in the headers and the comment, naming the point.
    let partial = dir.join("partial.pcapng");
    let (status, headers) = curl(&format!("{base}{query}"), "responder-token", &partial);
    assert_eq!(status, 200, "{headers}");
    let lower = headers.to_ascii_lowercase();
    assert!(lower.contains("x-eastwest-partial: true"), "{headers}");
    assert!(
        headers.contains(&format!("{mirror_name}: exporter unreachable")),
        "x-eastwest-unavailable: {headers}"
    );
    let mut rest = want.clone();
    rest.remove(mirror_name);
    assert_eq!(frames_by_interface(&partial), rest, "the reachable points");
    let (info, stderr) = tool("capinfos", &[partial.to_str().unwrap()]);
    assert!(!stderr.contains("arning"), "capinfos: {stderr}");
    assert!(
        info.contains(&format!(
            "partial capture, missing: {mirror_name}: exporter unreachable"
        )),
        "the comment: {info}"
    );

    // Every download counted by outcome, with its bytes.
    let metrics = dir.join("metrics.txt");
    let (status, _) = curl(&format!("{base}/metrics"), "", &metrics);
    assert_eq!(status, 200);
    let metrics = std::fs::read_to_string(&metrics).unwrap();
    let whole_bytes = std::fs::metadata(&whole).unwrap().len();
    for line in [
        "eastwest_dashboard_packet_downloads_total{outcome=\"complete\"} 1".to_string(),
        "eastwest_dashboard_packet_downloads_total{outcome=\"partial\"} 2".to_string(),
        format!(
            "eastwest_dashboard_packet_download_bytes_total{{outcome=\"complete\"}} {whole_bytes}"
        ),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
