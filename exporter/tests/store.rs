//! The packet store and the evidence server through the real binary: the
//! lab capture replayed into a store (indexed in place, and copied into
//! segments from standard input), `GET /packets` for each lab
//! conversation compared with what tshark finds in the original capture,
//! rotation, an expired window, recovery after `kill -9`, the token;
//! HTTPS with a certificate of a CA the test makes, read again on SIGHUP.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use eastwest_exporter::store::format;

const TOKEN: &str = "evidence-secret";

fn exporter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eastwest-exporter"))
}

fn lab() -> (PathBuf, PathBuf) {
    (
        workspace_file("lab/lab.pcap"),
        workspace_file("lab/inventory.toml"),
    )
}

/// The lab's truth (`lab/expected.json`, written by `eastwest-labgen`).
fn lab_truth() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(workspace_file("lab/expected.json")).expect("expected.json"),
    )
    .expect("JSON")
}

/// Frames in the lab capture, and those that are not IP, from its truth.
fn lab_frames() -> (u64, u64) {
    let truth = lab_truth();
    let non_ip = truth["non_ip"]
        .as_array()
        .expect("non_ip")
        .iter()
        .map(|x| x["frames"].as_u64().expect("frames"))
        .sum();
    (truth["frames"].as_u64().expect("frames"), non_ip)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A config file with the evidence token's digest and store settings.
fn config(dir: &Path, store: &str) -> PathBuf {
    let path = dir.join("exporter.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\n{store}\n[evidence]\ntoken_sha256 = \"{}\"\n",
            eastwest_core::token::digest_hex(TOKEN)
        ),
    )
    .expect("config");
    path
}

/// Replay the lab into the store at `store`; `stdin`: through standard
/// input (so frames are copied into segments).
fn replay(dir: &Path, store: &Path, stdin: bool) -> serde_json::Value {
    replay_with(dir, store, stdin, &[])
}

/// [`replay`] with more arguments.
fn replay_with(dir: &Path, store: &Path, stdin: bool, more: &[&str]) -> serde_json::Value {
    let (pcap, inventory) = lab();
    let mut cmd = exporter();
    cmd.args(more)
        .args(["--config", s(&dir.join("exporter.toml"))])
        .args(["--inventory", s(&inventory), "--host", "esx-01"])
        .args([
            "--packet-store",
            s(store),
            "--stats-json",
            "-e",
            "127.0.0.1:9",
        ]);
    let output = if stdin {
        cmd.args(["-r", "-"])
            .stdin(std::fs::File::open(&pcap).expect("lab"))
            .output()
    } else {
        cmd.args(["-r", s(&pcap)]).output()
    }
    .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().expect("stats")).expect("JSON")
}

/// An exporter serving the store (no capture), stopped on drop.
struct Serving {
    child: Child,
    url: String,
    /// What it logged before serving (start-up, recovery).
    log: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serving {
    fn start(dir: &Path, store: &Path) -> Serving {
        Serving::start_with(dir, store, &[])
    }

    /// [`Serving::start`] with more arguments.
    fn start_with(dir: &Path, store: &Path, args: &[&str]) -> Serving {
        let (_, inventory) = lab();
        let mut child = exporter()
            .args(args)
            .args(["--config", s(&dir.join("exporter.toml"))])
            .args(["--inventory", s(&inventory), "--host", "esx-01"])
            .args(["--packet-store", s(store)])
            .args(["--evidence-listen", "127.0.0.1:0"])
            .env("EASTWEST_LOG", "warn")
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Later lines go nowhere once the pipe is dropped; the exporter
        // logs only warnings, and none while serving these tests.
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut log = String::new();
        let url = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).expect("stderr") == 0 {
                panic!("the exporter exited before serving: {log}");
            }
            log += &line;
            if let Some(url) = line
                .trim()
                .strip_prefix("eastwest-exporter: serving packets on ")
            {
                break url.to_owned();
            }
        };
        Serving { child, url, log }
    }

    /// `GET path` with `token`; the status and the body in `out`.
    fn get(&self, path: &str, token: Option<&str>, out: &Path) -> u16 {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--max-time",
            "60",
            "-o",
            s(out),
            "-w",
            "%{http_code}",
        ]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let output = cmd
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("status code")
    }

    fn json(&self, path: &str, out: &Path) -> (u16, serde_json::Value) {
        let status = self.get(path, Some(TOKEN), out);
        let text = std::fs::read_to_string(out).expect("body");
        (status, serde_json::from_str(&text).expect("JSON body"))
    }
}

/// tshark and capinfos read `path` without a warning.
fn check_readable(path: &Path) {
    for (tool, args) in [("tshark", vec!["-r", s(path)]), ("capinfos", vec![s(path)])] {
        let out = Command::new(tool).args(&args).output().expect(tool);
        // tshark's note on running as root is about the test machine,
        // not the file.
        let stderr = String::from_utf8_lossy(&out.stderr);
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.contains("Running as user \"root\""))
            .collect();
        assert!(
            out.status.success() && warnings.is_empty(),
            "{tool}: {stderr}"
        );
    }
}

fn window(from_ns: u64, to_ns: u64) -> String {
    format!("from={from_ns}&to={to_ns}")
}

const ALL_TIME: (u64, u64) = (1, u64::MAX / 2);

/// For every lab conversation: `/packets` returns exactly the frames
/// tshark finds in the original capture, in time order, as many as the
/// lab's truth says were observed at every point.
fn conversations_equal_tshark(serving: &Serving, dir: &Path) {
    let (pcap, _) = lab();
    let expected = lab_truth();
    for conv in expected["conversations"].as_array().expect("conversations") {
        let name = conv["name"].as_str().expect("name");
        let (a, b) = (
            conv["client_ip"].as_str().expect("ip"),
            conv["server_ip"].as_str().expect("ip"),
        );
        let proto = conv["proto"].as_u64().expect("proto");
        let ip = if a.contains(':') { "ipv6" } else { "ip" };
        let mut filter = format!("{ip}.addr=={a} && {ip}.addr=={b}");
        let mut query = format!(
            "{}&host={a}&peer={b}&proto={proto}",
            window(ALL_TIME.0, ALL_TIME.1)
        );
        match proto {
            6 | 17 => {
                let port = conv["server_port"].as_u64().expect("port");
                let l4 = if proto == 6 { "tcp" } else { "udp" };
                // Later fragments carry no ports (tshark shows them at the
                // last fragment, reassembled): the lab's truth counts them.
                filter += &format!(" && ({l4}.port=={port} || ip.flags.mf==1 || ip.frag_offset>0)");
                query += &format!("&port={port}");
            }
            1 => filter += " && icmp",
            _ => filter += " && icmpv6",
        }
        let want = tshark_frames(&pcap, &filter);
        let truth: u64 = conv["flows"]
            .as_array()
            .expect("flows")
            .iter()
            .map(|f| f["packets"].as_u64().expect("packets"))
            .sum();
        assert_eq!(
            want.len() as u64,
            truth,
            "{name}: tshark agrees with the lab's truth"
        );
        let out = dir.join("conversation.pcapng");
        let status = serving.get(&format!("/packets?{query}"), Some(TOKEN), &out);
        assert_eq!(
            status,
            200,
            "{name}: {}",
            std::fs::read_to_string(&out).unwrap_or_default()
        );
        check_readable(&out);
        let got = frames(&out);
        assert!(
            got.windows(2).all(|w| w[0].0 <= w[1].0),
            "{name}: time order"
        );
        assert_eq!(got.len(), want.len(), "{name}: frame count");
        assert!(got == want, "{name}: the same frames, byte for byte");
    }
}

#[test]
fn lab_replay_indexed_in_place_serves_each_conversation() {
    let dir = temp_dir("store-inplace");
    let store = dir.join("store");
    // An index of a replay is cut every 8192 / 80 = 102 frames (not by
    // capture time here): the conversations are served across indexes.
    config(&dir, "segment_bytes = 8192\nsegment_secs = 86400\n");
    let stats = replay(&dir, &store, false);
    let st = &stats["store"];
    let (frames, non_ip) = lab_frames();
    assert_eq!(st["frames_stored"], frames, "{st}");
    assert_eq!(st["frames_unindexed"], non_ip, "the lab's non-IP frames");
    // Only indexes: no frame copied.
    let mut indexes = 0;
    for item in std::fs::read_dir(&store).expect("store") {
        let name = item.expect("entry").file_name();
        let name = name.to_str().expect("utf-8");
        assert!(
            name.starts_with("ext-") && name.ends_with(".ewpi"),
            "{name}"
        );
        indexes += 1;
    }
    assert_eq!(indexes, frames.div_ceil(102), "one index per 102 frames");
    assert!(st["bytes"].as_u64().expect("bytes") < frames * 64, "{st}");
    let serving = Serving::start(&dir, &store);
    conversations_equal_tshark(&serving, &dir);
    drop(serving);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn two_workers_store_what_one_worker_stores() {
    let dir = temp_dir("store-workers");
    config(&dir, "");
    for stdin in [false, true] {
        let one = dir.join(format!("one-{stdin}"));
        let two = dir.join(format!("two-{stdin}"));
        let stats_one = replay(&dir, &one, stdin);
        let stats_two = replay_with(&dir, &two, stdin, &["--workers", "2"]);
        assert_eq!(
            stats_one["store"]["frames_stored"], stats_two["store"]["frames_stored"],
            "{stats_two}"
        );
        assert!(std::fs::read_dir(&one).expect("store").count() > 0);
        // The same files, byte for byte.
        let diff = Command::new("diff")
            .args(["-r", s(&one), s(&two)])
            .output()
            .expect("diff");
        assert!(
            diff.status.success(),
            "stdin: {stdin}: {}",
            String::from_utf8_lossy(&diff.stdout)
        );
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// `GET url` over HTTPS trusting `ca`, with the token: the status (0: no
/// answer, e.g. a certificate the CA did not sign).
fn https_get(url: &str, ca: &Path, out: &Path) -> u16 {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert", s(ca), "-o", s(out)])
        .args(["-w", "%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {TOKEN}"))
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn https_with_the_certificate_read_again_on_sighup() {
    use eastwest_tests::tls::{make_ca, make_server_cert};
    let dir = temp_dir("store-https");
    let store = dir.join("store");
    config(&dir, "");
    replay(&dir, &store, false);
    for ca in ["ca1", "ca2"] {
        make_ca(&dir, ca).expect("CA");
        make_server_cert(&dir, ca, &format!("{ca}-server"), ca == "ca2").expect("certificate");
    }
    let (cert, key) = (dir.join("evidence.pem"), dir.join("evidence.key"));
    std::fs::copy(dir.join("ca1-server.pem"), &cert).expect("cert");
    std::fs::copy(dir.join("ca1-server.key"), &key).expect("key");
    let serving = Serving::start_with(
        &dir,
        &store,
        &[
            "--evidence-tls-cert",
            s(&cert),
            "--evidence-tls-key",
            s(&key),
        ],
    );
    assert!(
        serving.url.starts_with("https://127.0.0.1:"),
        "{}",
        serving.url
    );
    let out = dir.join("out.json");
    let store_url = format!("{}/store", serving.url);
    let (ca1, ca2) = (dir.join("ca1.pem"), dir.join("ca2.pem"));
    assert_eq!(https_get(&store_url, &ca1, &out), 200);
    assert_eq!(https_get(&store_url, &ca2, &out), 0, "another CA's client");
    // Plain HTTP on the HTTPS port: a 400 naming the fix.
    let plain = serving.url.replace("https://", "http://");
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "20", &format!("{plain}/store")])
        .output()
        .expect("curl");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("use https://"),
        "{output:?}"
    );

    // A new certificate (another CA, an RSA key) and SIGHUP: new
    // connections get it; the exporter keeps serving.
    std::fs::copy(dir.join("ca2-server.pem"), &cert).expect("cert");
    std::fs::copy(dir.join("ca2-server.key"), &key).expect("key");
    let pid = serving.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while https_get(&store_url, &ca2, &out) != 200 {
        assert!(
            Instant::now() < deadline,
            "the new certificate after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(https_get(&store_url, &ca1, &out), 0, "the old CA no more");
    // A broken file on SIGHUP: the certificate in use is kept.
    std::fs::write(&cert, "not a certificate\n").expect("cert");
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(https_get(&store_url, &ca2, &out), 200, "still serving");
    // The failed handshakes are counted.
    assert_eq!(
        https_get(&format!("{}/metrics", serving.url), &ca2, &out),
        200
    );
    let metrics = std::fs::read_to_string(&out).expect("metrics");
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("exporter_evidence_tls_handshake_failures_total "))
        .and_then(|v| v.parse().ok())
        .expect("the handshake failure counter");
    assert!(failures >= 2, "{metrics}");
    drop(serving);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn lab_replay_copied_into_segments_serves_each_conversation() {
    let dir = temp_dir("store-segments");
    let store = dir.join("store");
    config(&dir, "");
    let stats = replay(&dir, &store, true);
    assert_eq!(stats["store"]["frames_stored"], lab_frames().0);
    assert!(std::fs::read_dir(&store).expect("store").any(|e| e
        .expect("entry")
        .file_name()
        .to_string_lossy()
        .ends_with(".ewpk")));
    let serving = Serving::start(&dir, &store);
    conversations_equal_tshark(&serving, &dir);

    let out = dir.join("answer");
    let (status, status_json) = serving.json("/store", &out);
    assert_eq!(status, 200);
    assert_eq!(status_json["oldest_ns"], 1_793_610_001_000_000_000u64);
    // The token: none, a wrong one, the right one.
    let q = format!("/packets?{}", window(ALL_TIME.0, ALL_TIME.1));
    assert_eq!(serving.get(&q, None, &out), 401);
    assert_eq!(serving.get(&q, Some("wrong"), &out), 401);
    assert_eq!(serving.get("/store", Some("wrong"), &out), 401);
    assert_eq!(serving.get(&q, Some(TOKEN), &out), 200);
    // The size limit.
    let (status, body) = serving.json(&format!("{q}&max_bytes=1000"), &out);
    assert_eq!(status, 413, "{body}");
    let (status, _) = serving.json("/packets?from=yesterday&to=1", &out);
    assert_eq!(status, 400);
    let metrics = serving.get("/metrics", Some(TOKEN), &out);
    assert_eq!(metrics, 200);
    let text = std::fs::read_to_string(&out).expect("metrics");
    assert!(
        text.contains("exporter_store_oldest_seconds 1793610001"),
        "{text}"
    );
    // The Prometheus text format, read strictly; every series, with its
    // type, in this order.
    let families = eastwest_tests::metric_families(&text).expect("Prometheus text");
    assert_eq!(families.len(), 7, "{families:?}");
    let types: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .collect();
    assert_eq!(
        types,
        [
            "exporter_store_segments gauge",
            "exporter_store_bytes gauge",
            "exporter_store_oldest_seconds gauge",
            "exporter_store_segments_expired_total counter",
            "exporter_store_segments_recovered_total counter",
            "exporter_store_stopped gauge",
            "exporter_evidence_tls_handshake_failures_total counter",
        ],
        "{text}"
    );
    drop(serving);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn rotation_keeps_the_store_bounded_and_says_when_a_window_expired() {
    let dir = temp_dir("store-rotation");
    let store = dir.join("store");
    config(&dir, "segment_bytes = 32768\nmax_bytes = 131072\n");
    let stats = replay(&dir, &store, true);
    let st = &stats["store"];
    assert!(
        st["segments_expired"].as_u64().expect("expired") > 0,
        "{st}"
    );
    let on_disk: u64 = std::fs::read_dir(&store)
        .expect("store")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .sum();
    assert!(on_disk <= 131_072, "{on_disk} bytes on disk");
    assert_eq!(st["bytes"].as_u64(), Some(on_disk), "{st}");
    let oldest = st["oldest_ns"].as_u64().expect("oldest");
    assert!(
        oldest > 1_793_610_001_000_000_000,
        "the first frames are gone"
    );

    let serving = Serving::start(&dir, &store);
    let out = dir.join("answer");
    let (status, body) = serving.json(&format!("/packets?{}", window(1, oldest)), &out);
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["oldest_ns"].as_u64(), Some(oldest));
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("oldest frame"),
        "{body}"
    );
    assert!(
        body["oldest"]
            .as_str()
            .expect("oldest")
            .starts_with("2026-"),
        "{body}"
    );
    // What is still held is served, from the oldest frame on.
    let status = serving.get(
        &format!("/packets?{}", window(1, u64::MAX / 2)),
        Some(TOKEN),
        &out,
    );
    assert_eq!(status, 200);
    check_readable(&out);
    let got = frames(&out);
    assert!(!got.is_empty());
    assert!(got.iter().all(|(ts, _)| *ts >= oldest));
    drop(serving);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn a_damaged_tail_after_kill_9_is_reindexed_at_start() {
    let dir = temp_dir("store-crash");
    let store = dir.join("store");
    config(&dir, "segment_bytes = 65536\n");
    let (pcap, inventory) = lab();
    // Standard input stays open: the exporter is mid-run when killed.
    let mut child = exporter()
        .args(["--config", s(&dir.join("exporter.toml"))])
        .args(["--inventory", s(&inventory), "--host", "esx-01"])
        .args(["--packet-store", s(&store), "-r", "-", "-e", "127.0.0.1:9"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(&std::fs::read(&pcap).expect("lab"))
        .expect("feed");
    let indexes = |store: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(store)
            .into_iter()
            .flatten()
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "ewpi"))
            .collect();
        v.sort();
        v
    };
    // 852 kB of lab in 64 kB segments: wait for nine sealed.
    let start = Instant::now();
    while indexes(&store).len() < 9 {
        assert!(start.elapsed() < Duration::from_secs(60), "segments sealed");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    drop(stdin);

    // The crash struck while the last sealed segment's index was being
    // written and its last record torn: remove the index, tear the record.
    let last = indexes(&store).pop().expect("an index");
    std::fs::remove_file(&last).expect("remove index");
    let seg = last.with_extension("ewpk");
    let bytes = std::fs::read(&seg).expect("segment");
    let (frames_before, valid) = format::scan_segment(&bytes).expect("scan");
    assert_eq!(valid, bytes.len() as u64);
    let torn = bytes.len() - 7;
    std::fs::write(&seg, &bytes[..torn]).expect("tear");
    let last_record = frames_before.last().expect("a frame").pos;
    let want_dropped = torn as u64 - last_record;

    let serving = Serving::start(&dir, &store);
    let out = dir.join("answer");
    let (status, st) = serving.json("/store", &out);
    assert_eq!(status, 200);
    // The open segment (nothing of it reached the disk but its name) and
    // the torn one.
    assert!(
        st["segments_recovered"].as_u64().expect("recovered") >= 1,
        "{st}"
    );
    assert_eq!(
        st["tail_bytes_dropped"].as_u64(),
        Some(want_dropped),
        "{st}"
    );
    let repaired = std::fs::read(&seg).expect("segment");
    assert_eq!(repaired.len() as u64, last_record, "cut at the torn record");
    assert!(last.exists(), "re-indexed");

    // Every metered frame up to the torn one is served, exactly (not the
    // lab's LLDP and ARP, plain or in ERSPAN: stored, but without a flow
    // key; tshark counts LLDP's management address as IP).
    let held: usize = indexes(&store)
        .iter()
        .map(|p| {
            let seg = std::fs::read(p.with_extension("ewpk")).expect("segment");
            format::scan_segment(&seg).expect("scan").0.len()
        })
        .sum();
    let want = tshark_frames(
        &pcap,
        &format!("(ip || ipv6) && !arp && !lldp && frame.number <= {held}"),
    );
    let status = serving.get(
        &format!("/packets?{}", window(1, u64::MAX / 2)),
        Some(TOKEN),
        &out,
    );
    assert_eq!(status, 200);
    check_readable(&out);
    let got = frames(&out);
    assert_eq!(got.len(), want.len(), "the frames before the tear");
    assert!(got == want, "the frames before the tear, byte for byte");
    assert!(
        serving.log.contains("re-indexed a segment"),
        "{}",
        serving.log
    );
    drop(serving);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn a_full_disk_stops_the_store_not_the_exporter() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let dir = temp_dir("store-full");
    config(&dir, "segment_bytes = 65536\n");
    let without = replay(&dir, &dir.join("unbounded"), true);
    let (pcap, inventory) = lab();
    let disk = dir.join("disk");
    std::fs::create_dir_all(&disk).expect("mount point");
    // A 256 KiB file system in a mount namespace of the run's own: the
    // 686 kB lab does not fit.
    let output = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs -o size=256k none \"$0\" && exec \"$@\"",
        ])
        .arg(&disk)
        .arg(env!("CARGO_BIN_EXE_eastwest-exporter"))
        .args(["--config", s(&dir.join("exporter.toml"))])
        .args(["--inventory", s(&inventory), "--host", "esx-01"])
        .args(["--packet-store", s(&disk.join("store")), "--stats-json"])
        .args(["-e", "127.0.0.1:9", "-r", "-"])
        .stdin(std::fs::File::open(&pcap).expect("lab"))
        .output()
        .expect("unshare");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stats: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("stats")).expect("JSON");
    let stopped = stats["store"]["stopped"]
        .as_str()
        .expect("the store stopped");
    assert!(stopped.contains("No space left"), "{stopped}");
    assert!(stderr.contains("packet store stopped"), "{stderr}");
    // Metering and export went on, to the last flow.
    for key in ["packets_read", "flows_exported", "records_per_domain"] {
        assert_eq!(stats[key], without[key], "{key}");
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
