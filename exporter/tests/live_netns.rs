//! Live capture in a small data center made of network namespaces (needs
//! root, as the project's CI runs):
//!
//! ```text
//!  hv1 (namespace)                                   hv2 (namespace)
//!  ┌───────────────────────────────┐                 ┌────────────────────┐
//!  │ vm1 ─┐                        │  underlay veth  │                    │
//!  │ vm2 ─┴─ br0 ── vx0 (VXLAN 42) │ u1 ═══════════ u2 │ vx0 ── br0 ── vm3  │
//!  │ exporter -i br0  (domain 1)   │ 192.168.77.1/.2 │                    │
//!  │ exporter -i u1   (VTEPs)      │                 │                    │
//!  └───────────────────────────────┘                 └────────────────────┘
//! ```
//!
//! VMs are namespaces on a Linux bridge through veth ports; hv2 joins the
//! same segment through a kernel VXLAN device. vm1 pings vm2 (switched
//! inside hv1, never on the wire) and vm3, and sends 300,000 bytes to vm3
//! over TCP. One exporter captures on the bridge, one on the underlay; each
//! exports to its own nfcapd, and nfdump must show the conversations: the
//! local one only on the bridge, the cross-host ones on both with the same
//! packets and bytes (the underlay exporter unwraps VXLAN and attributes
//! each direction to the host whose VTEP sent it; it runs `--workers 2`,
//! the bridge's one worker). The bridge's exporter also keeps a packet
//! store and serves it: the TCP transfer's frames it serves are byte for
//! byte the frames `dumpcap` captured on the same bridge. Every namespace is
//! deleted at the end, also when the test fails.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;

const INVENTORY: &str = r#"
[[host]]
name = "hv1"
domain = 1
mirror_sources = []
erspan_sessions = []
vteps = ["192.168.77.1"]

[[host]]
name = "hv2"
domain = 2
mirror_sources = []
erspan_sessions = []
vteps = ["192.168.77.2"]
"#;

/// The evidence token of the bridge's packet store.
const TOKEN: &str = "netns-evidence-token";

/// A live exporter inside `ns` on `iface`, exporting to `port` there; waits
/// until it captures (and, with `extra` naming `--evidence-listen`, until
/// it serves: the URL is returned).
/// `workers` threads (`--workers`).
fn start_exporter(
    ns: &Netns,
    iface: &str,
    port: u16,
    inventory: &str,
    workers: u8,
    extra: &[&str],
) -> (Child, Option<String>) {
    let mut child = ns
        .command(env!("CARGO_BIN_EXE_eastwest-exporter"))
        .args(["-i", iface, "--host", "hv1", "--domain", "1"])
        .args(["--workers", &workers.to_string()])
        .args(["--inventory", inventory, "--stats-json"])
        .args(["--export", &format!("127.0.0.1:{port}")])
        .args(extra)
        .env("EASTWEST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn exporter");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let serves = extra.contains(&"--evidence-listen");
    let (mut capturing, mut url) = (false, None);
    while !capturing || (serves && url.is_none()) {
        line.clear();
        let n = stderr.read_line(&mut line).expect("read stderr");
        assert!(n > 0, "exporter on {iface} ended before capturing");
        capturing |= line.contains("capturing");
        if let Some(u) = line
            .trim()
            .strip_prefix("eastwest-exporter: serving packets on ")
        {
            url = Some(u.to_owned());
        }
    }
    // Keep draining stderr so the exporter never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stderr.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    (child, url)
}

/// SIGINT (the exporter exports its open flows), then its `--stats-json`.
fn stop_exporter(child: Child) -> serde_json::Value {
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    let out = child.wait_with_output().expect("exporter exits");
    assert!(out.status.success(), "{:?}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("stats line")).expect("stats JSON")
}

/// Packets and bytes of the records whose "proto src dst sport dport"
/// (protocol as a number) starts with `prefix`.
fn conversation(t: &std::collections::BTreeMap<String, (u64, u64)>, prefix: &str) -> (u64, u64) {
    t.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .fold((0, 0), |(p, b), (_, v)| (p + v.0, b + v.1))
}

#[test]
fn vms_on_a_bridge_and_a_vxlan_peer_host() {
    if !is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let hv1 = Netns::new("hv1");
    let hv2 = Netns::new("hv2");
    let vm1 = Netns::new("vm1");
    let vm2 = Netns::new("vm2");
    let vm3 = Netns::new("vm3");
    for ns in [&hv1, &hv2, &vm1, &vm2, &vm3] {
        ns.run(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.run(&["ip", "link", "set", "lo", "up"]);
    }
    // Underlay between the hosts.
    hv1.run(&[
        "ip", "link", "add", "name", "u1", "type", "veth", "peer", "name", "u2", "netns", &hv2.name,
    ]);
    for (hv, dev, addr, remote) in [
        (&hv1, "u1", "192.168.77.1", "192.168.77.2"),
        (&hv2, "u2", "192.168.77.2", "192.168.77.1"),
    ] {
        hv.run(&["ip", "addr", "add", &format!("{addr}/24"), "dev", dev]);
        hv.run(&["ip", "link", "set", dev, "up"]);
        hv.run(&["ip", "link", "add", "name", "br0", "type", "bridge"]);
        hv.run(&["ip", "link", "set", "br0", "up"]);
        hv.run(&[
            "ip", "link", "add", "name", "vx0", "type", "vxlan", "id", "42", "local", addr,
            "remote", remote, "dstport", "4789", "dev", dev,
        ]);
        hv.run(&["ip", "link", "set", "vx0", "master", "br0", "up"]);
    }
    // VMs: a veth port on their host's bridge.
    for (hv, vm, port, addr) in [
        (&hv1, &vm1, "vm1p", "10.77.1.1"),
        (&hv1, &vm2, "vm2p", "10.77.1.2"),
        (&hv2, &vm3, "vm3p", "10.77.1.3"),
    ] {
        hv.run(&[
            "ip", "link", "add", "name", port, "type", "veth", "peer", "name", "eth0", "netns",
            &vm.name,
        ]);
        hv.run(&["ip", "link", "set", port, "master", "br0", "up"]);
        vm.run(&["ip", "addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
        // Below the VXLAN device's 1450, so nothing is dropped for size.
        vm.run(&["ip", "link", "set", "eth0", "mtu", "1400", "up"]);
    }

    let dir = temp_dir("netns");
    let inventory = dir.join("inventory.toml");
    std::fs::write(&inventory, INVENTORY).expect("inventory");
    let inventory = inventory.to_str().expect("utf-8");
    let bridge_nf = Nfcapd::start_in(Some(&hv1), &dir.join("bridge"));
    let underlay_nf = Nfcapd::start_in(Some(&hv1), &dir.join("underlay"));
    // The bridge's exporter keeps its frames (segments sealed after a
    // second of capture time, so they are served while it runs).
    let config = dir.join("exporter.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nsegment_secs = 1\n[evidence]\ntoken_sha256 = \"{}\"\n",
            eastwest_core::token::digest_hex(TOKEN)
        ),
    )
    .expect("exporter config");
    let store = dir.join("store");
    let (on_bridge, evidence) = start_exporter(
        &hv1,
        "br0",
        bridge_nf.port,
        inventory,
        1,
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--packet-store",
            store.to_str().expect("utf-8"),
            "--evidence-listen",
            "127.0.0.1:0",
        ],
    );
    let evidence = evidence.expect("the bridge's exporter serves its packets");
    // The truth of the store: dumpcap on the same bridge.
    let dumped = dir.join("bridge.pcapng");
    let mut dumpcap = hv1
        .command("dumpcap")
        .args(["-q", "-i", "br0", "-w", dumped.to_str().expect("utf-8")])
        .stderr(Stdio::piped())
        .spawn()
        .expect("dumpcap");
    let mut dumpcap_err = BufReader::new(dumpcap.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.contains("Capturing on") {
        line.clear();
        let n = dumpcap_err.read_line(&mut line).expect("dumpcap stderr");
        assert!(n > 0, "dumpcap ended before capturing");
    }
    // The underlay's exporter shards its flow table over two workers.
    let (on_underlay, _) = start_exporter(&hv1, "u1", underlay_nf.port, inventory, 2, &[]);

    // Traffic: pings, then a TCP transfer vm1 → vm3.
    for target in ["10.77.1.2", "10.77.1.3"] {
        vm1.run(&["ping", "-c", "3", "-i", "0.2", "-W", "2", target]);
    }
    let server = vm3
        .command("python3")
        .args([
            "-c",
            "import socket\n\
             s = socket.socket()\n\
             s.bind(('10.77.1.3', 5001))\n\
             s.listen(1)\n\
             c, _ = s.accept()\n\
             n = 0\n\
             while True:\n    d = c.recv(65536)\n    if not d: break\n    n += len(d)\n\
             print(n)\n",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("server");
    vm1.run(&[
        "python3",
        "-c",
        "import socket, time\n\
         for _ in range(50):\n    \
             try:\n        c = socket.create_connection(('10.77.1.3', 5001)); break\n    \
             except OSError: time.sleep(0.1)\n\
         c.sendall(bytes(300000))\n\
         c.close()\n",
    ]);
    let received = server.wait_with_output().expect("server exits");
    assert_eq!(String::from_utf8_lossy(&received.stdout).trim(), "300000");
    std::thread::sleep(Duration::from_millis(300));
    let ok = std::process::Command::new("kill")
        .args(["-INT", &dumpcap.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    assert!(dumpcap.wait().expect("dumpcap exits").success());
    // The transfer's frames from the store (once its segment is sealed:
    // a second of capture time after the transfer).
    std::thread::sleep(Duration::from_millis(2500));
    let served = dir.join("served.pcapng");
    let status = hv1
        .command("curl")
        .args([
            "-sS",
            "--max-time",
            "60",
            "-o",
            served.to_str().expect("utf-8"),
        ])
        .args(["-w", "%{http_code}"])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .arg(format!(
            "{evidence}/packets?from=1&to={}&host=10.77.1.1&peer=10.77.1.3&proto=6&port=5001",
            u64::MAX / 2
        ))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&status.stdout),
        "200",
        "{}",
        std::fs::read_to_string(&served).unwrap_or_default()
    );
    let want: Vec<Vec<u8>> = tshark_frames(&dumped, "tcp.port==5001")
        .into_iter()
        .map(|(_, bytes)| bytes)
        .collect();
    let got: Vec<Vec<u8>> = frames(&served).into_iter().map(|(_, b)| b).collect();
    // veth ports hand the bridge segmentation-offloaded frames: fewer,
    // larger frames than on a wire, the same bytes.
    let payload: usize = want.iter().map(Vec::len).sum();
    assert!(payload > 300_000, "{} bytes of the transfer", payload);
    assert_eq!(got.len(), want.len(), "frames served against dumpcap's");
    // Two packet sockets on one bridge each see every frame, but the two
    // directions are switched by softirqs on either CPU, so the sockets
    // may interleave them differently: each direction (by source MAC) must
    // be dumpcap's, in its order and byte for byte.
    let (want_by, got_by) = (by_source_mac(&want), by_source_mac(&got));
    assert_eq!(
        got_by.keys().collect::<Vec<_>>(),
        want_by.keys().collect::<Vec<_>>(),
        "source addresses"
    );
    for (mac, w) in &want_by {
        let g = &got_by[mac];
        assert_eq!(g.len(), w.len(), "frames from {mac:02x?}");
        assert_eq!(
            g.iter().zip(w).position(|(g, w)| g != w),
            None,
            "the served frames from {mac:02x?} are dumpcap's, byte for byte (first difference at that frame)"
        );
    }

    let bridge_stats = stop_exporter(on_bridge);
    let underlay_stats = stop_exporter(on_underlay);
    let bridge = nfdump_by_tuple(&bridge_nf.stop());
    let underlay = nfdump_by_tuple(&underlay_nf.stop());
    let report =
        format!("bridge {bridge:#?}\nunderlay {underlay:#?}\n{bridge_stats}\n{underlay_stats}");

    // Switched inside hv1: only the bridge sees it.
    let local = conversation(&bridge, "1 10.77.1.1 10.77.1.2 ");
    assert_eq!(local, (3, 3 * 84), "{report}");
    assert_eq!(
        conversation(&bridge, "1 10.77.1.2 10.77.1.1 "),
        (3, 3 * 84),
        "{report}"
    );
    assert_eq!(
        conversation(&underlay, "1 10.77.1.1 10.77.1.2 "),
        (0, 0),
        "local traffic is never on the wire: {report}"
    );
    // Across hosts: both see the same conversations.
    for prefix in [
        "1 10.77.1.1 10.77.1.3 ",
        "1 10.77.1.3 10.77.1.1 ",
        "6 10.77.1.1 10.77.1.3 ",
        "6 10.77.1.3 10.77.1.1 ",
    ] {
        let seen = conversation(&bridge, prefix);
        assert!(seen.0 > 0, "{prefix}: {report}");
        assert_eq!(conversation(&underlay, prefix), seen, "{prefix}: {report}");
    }
    assert_eq!(conversation(&bridge, "1 10.77.1.1 10.77.1.3 "), (3, 252));
    let (_, tcp_bytes) = conversation(&bridge, "6 10.77.1.1 10.77.1.3 ");
    assert!(tcp_bytes > 300_000, "payload plus headers: {report}");
    // The underlay exporter unwrapped VXLAN and attributed each direction
    // to the host whose VTEP sent it.
    assert!(
        underlay_stats["encapsulations"]["vxlan"].as_u64() > Some(0),
        "{underlay_stats}"
    );
    assert!(underlay_stats["records_per_domain"]["1"].as_u64() > Some(0));
    assert!(underlay_stats["records_per_domain"]["2"].as_u64() > Some(0));
    assert_eq!(underlay_stats["unattributed"], 0, "{underlay_stats}");
    assert_eq!(bridge_stats["kernel"]["dropped"], 0, "{bridge_stats}");
    std::fs::remove_dir_all(dir).expect("cleanup");
}

/// Frames grouped by their Ethernet source address, each group in order.
fn by_source_mac(frames: &[Vec<u8>]) -> std::collections::BTreeMap<[u8; 6], Vec<&[u8]>> {
    let mut out = std::collections::BTreeMap::<[u8; 6], Vec<&[u8]>>::new();
    for frame in frames {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(frame.get(6..12).expect("an Ethernet frame"));
        out.entry(mac).or_default().push(frame);
    }
    out
}
