//! The real binary on real captures, exporting into a real UDP socket;
//! what arrives is decoded with `netflow_parser` (and tshark) and checked
//! against tshark's reading of the inner IP headers.

mod common;

use std::net::IpAddr;
use std::process::Command;

use common::*;
use eastwest_core::flow::Encap;
use eastwest_core::netflow::observation_point;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn assert_clean_exit(run: &Run) {
    assert!(
        run.output.status.success(),
        "exit {:?}\n{}",
        run.output.status,
        run.stderr()
    );
}

#[test]
fn erspan_type_i_icmp_totals_equal_tshark() {
    let pcap = data("tcpdump__erspan-type-i-4.pcap");
    let run = run_exporter(&[
        "--read",
        pcap.to_str().expect("utf-8"),
        "--host",
        "probe",
        "--domain",
        "9",
        "--stats-json",
    ]);
    assert_clean_exit(&run);
    let decoded = decode(&run.datagrams);
    let got = totals(&decoded.flows);
    // Routed GRE (IPv4 in GRE, not ERSPAN) is metered at its inner OSPF
    // packet, as tshark's innermost IP header.
    let truth = tshark_truth(&pcap, "");
    let icmp = (ip("10.1.1.100"), ip("10.1.1.1"), 1);
    assert_eq!(truth[&icmp], (80, 4_800), "tshark's truth");
    // Every inner flow tshark sees is exported with the same totals.
    assert_eq!(got, truth);
    assert!(!got.keys().any(|k| k.2 == 47), "no GRE flow: {got:?}");
    // The capture spans more than the 60 s active timeout: the ICMP flow
    // is exported in slices whose times do not overlap.
    let mut slices: Vec<_> = decoded
        .flows
        .iter()
        .filter(|f| (f.src, f.dst, f.proto) == (Some(icmp.0), Some(icmp.1), 1))
        .collect();
    slices.sort_by_key(|f| f.first_ms);
    assert!(slices.len() > 1);
    for w in slices.windows(2) {
        assert!(w[0].last_ms < w[1].first_ms);
        assert!(w[1].first_ms - w[0].first_ms >= 60_000);
    }
    for f in &slices {
        assert_eq!(
            f.observation_point,
            u64::from(observation_point(Encap::ErspanI, 0))
        );
        assert_eq!(f.source_id, 9, "no inventory: own domain");
    }
    assert_eq!(decoded.names.get(&9).map(String::as_str), Some("probe"));
    assert!(decoded.template_packets >= 1);
    let stats = run.stats();
    assert_eq!(stats["packets_read"], 119);
    assert_eq!(stats["encapsulations"]["erspan1"], 88);
    assert_eq!(stats["encapsulations"]["gre"], 8);
    assert_eq!(stats["encapsulations"]["span"], 16);
    assert_eq!(stats["decode_errors"]["not_ip"], 7);
    assert_eq!(stats["unattributed"], 88);
    assert_eq!(stats["flows_exported"], decoded.flows.len());
    assert_eq!(stats["export_packets_sent"], run.datagrams.len());
    assert_eq!(stats["records_per_domain"]["9"], decoded.flows.len());
    // Per-domain sequence numbers count export packets from 0.
    let seqs = &decoded.sequences[&9];
    assert_eq!(*seqs, (0..seqs.len() as u32).collect::<Vec<_>>());
}

#[test]
fn erspan_type_iii_is_attributed_by_mirror_source() {
    let dir = temp_dir("erspan3");
    let inventory = dir.join("inventory.toml");
    std::fs::write(
        &inventory,
        r#"
[[host]]
name = "esx-lab-7"
domain = 7
mirror_sources = ["10.29.30.104"]
erspan_sessions = []
vteps = []
"#,
    )
    .expect("write inventory");
    let pcap = data("tcpdump__erspan-type-iii-ft-0.pcap");
    let run = run_exporter(&[
        "-r",
        pcap.to_str().expect("utf-8"),
        "--inventory",
        inventory.to_str().expect("utf-8"),
        "--host",
        "probe",
        "--domain",
        "100",
        "--stats-json",
    ]);
    assert_clean_exit(&run);
    let decoded = decode(&run.datagrams);
    let truth = tshark_truth(&pcap, "");
    let key = (ip("10.29.11.1"), ip("10.29.20.21"), 1);
    assert_eq!(truth[&key], (9, 756));
    assert_eq!(totals(&decoded.flows), truth);
    let f = &decoded.flows[0];
    assert_eq!(f.source_id, 7);
    assert_eq!(f.vlan, 20, "inner 802.1Q tag");
    assert_eq!(
        f.observation_point,
        u64::from(observation_point(Encap::ErspanIII, 0))
    );
    assert_eq!(decoded.names.get(&7).map(String::as_str), Some("esx-lab-7"));
    let stats = run.stats();
    assert_eq!(stats["encapsulations"]["erspan3"], 9);
    assert_eq!(stats["unattributed"], 0);
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn several_files_in_order_vxlan_by_vtep_and_dot1q() {
    let dir = temp_dir("multi");
    let inventory = dir.join("inventory.toml");
    std::fs::write(
        &inventory,
        r#"
[[host]]
name = "esx-vtep"
domain = 3
mirror_sources = []
erspan_sessions = []
vteps = ["192.168.203.1"]
"#,
    )
    .expect("write inventory");
    let vxlan = data("tcpdump__vxlan.pcap");
    let dot1q = data("zeek__icmp_dot1q.pcap");
    let run = run_exporter(&[
        "-r",
        vxlan.to_str().expect("utf-8"),
        "-r",
        dot1q.to_str().expect("utf-8"),
        "--inventory",
        inventory.to_str().expect("utf-8"),
        "--host",
        "probe",
        "--domain",
        "1",
        "--stats-json",
    ]);
    assert_clean_exit(&run);
    let decoded = decode(&run.datagrams);
    // ARP inside VXLAN is not IP: tshark's last IP header is the outer one,
    // while the exporter counts the frame as `not_ip`.
    let mut truth = tshark_truth(&vxlan, "!arp");
    truth.extend(tshark_truth(&dot1q, ""));
    assert_eq!(totals(&decoded.flows), truth);
    for f in &decoded.flows {
        if f.src == Some(ip("192.168.203.3")) || f.src == Some(ip("192.168.203.5")) {
            // Only frames from VTEP 192.168.203.1 belong to esx-vtep.
            assert_eq!(f.vni, 100);
        } else {
            assert_eq!((f.source_id, f.vlan, f.vni), (1, 123, 0));
        }
    }
    assert_eq!(decoded.names.get(&1).map(String::as_str), Some("probe"));
    assert_eq!(decoded.names.get(&3).map(String::as_str), Some("esx-vtep"));
    let from_vtep: u64 = decoded
        .flows
        .iter()
        .filter(|f| f.source_id == 3)
        .map(|f| f.packets)
        .sum();
    let stats = run.stats();
    assert_eq!(stats["packets_read"], 25);
    assert_eq!(stats["unattributed"], 8 - from_vtep);
    assert!(from_vtep > 0);
    assert_eq!(stats["decode_errors"]["not_ip"], 2 + 6);
    assert_eq!(stats["encapsulations"]["vxlan"], 8);
    assert_eq!(stats["encapsulations"]["span"], 9);
    std::fs::remove_dir_all(dir).expect("cleanup");
}

/// packetnet's gre_nvgre: one TCP segment 10.0.0.1:1001 → 10.0.0.2:1002
/// in GRE 0x6558 with key 0x12345602 (VSID 0x123456, FlowID 2) from
/// 100.0.17.1, a VTEP of the inventory's host.
#[test]
fn nvgre_by_vtep_keeps_the_gre_key() {
    let dir = temp_dir("nvgre");
    let inventory = dir.join("inventory.toml");
    std::fs::write(
        &inventory,
        r#"
[[host]]
name = "hyperv-01"
domain = 6
mirror_sources = []
erspan_sessions = []
vteps = ["100.0.17.1"]
"#,
    )
    .expect("write inventory");
    let pcap = data("packetnet__gre_nvgre.pcap");
    let run = run_exporter(&[
        "-r",
        pcap.to_str().expect("utf-8"),
        "--inventory",
        inventory.to_str().expect("utf-8"),
        "--stats-json",
    ]);
    assert_clean_exit(&run);
    let decoded = decode(&run.datagrams);
    assert_eq!(totals(&decoded.flows), tshark_truth(&pcap, ""));
    let [flow] = &decoded.flows[..] else {
        panic!("one flow: {:?}", decoded.flows);
    };
    assert_eq!(
        (flow.src, flow.dst),
        (Some(ip("10.0.0.1")), Some(ip("10.0.0.2")))
    );
    assert_eq!((flow.src_port, flow.dst_port, flow.proto), (1001, 1002, 6));
    assert_eq!((flow.packets, flow.bytes), (1, 42));
    assert_eq!(flow.source_id, 6);
    assert_eq!(flow.vni, 0x1234_5602);
    assert_eq!(flow.vni >> 8, 0x12_3456, "the VSID");
    assert_eq!(
        flow.observation_point,
        u64::from(observation_point(Encap::Nvgre, 0))
    );
    assert_eq!(decoded.names.get(&6).map(String::as_str), Some("hyperv-01"));
    let stats = run.stats();
    assert_eq!(stats["encapsulations"]["nvgre"], 1, "{stats}");
    assert_eq!(stats["unattributed"], 0);
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn later_fragments_join_their_first_fragment() {
    let pcap = data("zeek__ipv4-fragmented-1.pcap");
    let run = run_exporter(&["-r", pcap.to_str().expect("utf-8"), "--stats-json"]);
    assert_clean_exit(&run);
    let decoded = decode(&run.datagrams);
    let packets: u64 = decoded.flows.iter().map(|f| f.packets).sum();
    let bytes: u64 = decoded.flows.iter().map(|f| f.bytes).sum();
    let truth = tshark_truth(&pcap, "");
    assert_eq!(
        (packets, bytes),
        truth
            .values()
            .fold((0, 0), |(p, b), &(tp, tb)| (p + tp, b + tb))
    );
    assert_eq!(decoded.flows.len(), 1, "one UDP flow, fragments included");
}

#[test]
fn tshark_decodes_our_netflow_without_warnings() {
    let dir = temp_dir("tshark");
    let a = data("tcpdump__erspan-type-i-4.pcap");
    let b = data("zeek__communityid-ipv6.pcap");
    let run = run_exporter(&[
        "-r",
        a.to_str().expect("utf-8"),
        "-r",
        b.to_str().expect("utf-8"),
        "--host",
        "probe-tshark",
        "--domain",
        "5",
        "--dataset",
        "case-tshark",
    ]);
    assert_clean_exit(&run);
    let pcap = dir.join("netflow.pcap");
    write_udp_pcap(&pcap, &run.datagrams, run.port);
    let decode_as = format!("udp.port=={},cflow", run.port);
    let tshark = |extra: &[&str]| {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(["-d", &decode_as])
            .args(extra)
            .output()
            .expect("tshark runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let verbose = tshark(&["-V"]);
    assert!(!verbose.contains("Malformed"), "{verbose}");
    // The dataset (vendor field 40500): tshark shows it as unknown bytes.
    let hex: Vec<String> = b"case-tshark\0"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dataset = format!("Type 40500: Value (hex bytes): {}", hex.join(" "));
    assert!(verbose.contains(&dataset), "{dataset} missing:\n{verbose}");
    let expert = tshark(&["-q", "-z", "expert"]);
    assert!(
        !expert.contains("Warning") && !expert.contains("Error"),
        "{expert}"
    );
    let fields = tshark(&[
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=;",
        "-e",
        "cflow.source_id",
        "-e",
        "cflow.packets",
        "-e",
        "cflow.octets",
        "-e",
        "cflow.srcaddr",
        "-e",
        "cflow.srcaddrv6",
    ]);
    let mut packets = 0u64;
    let mut octets = 0u64;
    let mut v4 = 0;
    let mut v6 = 0;
    for line in fields.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols[0], "5", "{line}");
        let sum = |s: &str| -> u64 { s.split(';').filter_map(|n| n.parse::<u64>().ok()).sum() };
        packets += sum(cols[1]);
        octets += sum(cols[2]);
        v4 += cols[3].split(';').filter(|s| !s.is_empty()).count();
        v6 += cols[4].split(';').filter(|s| !s.is_empty()).count();
    }
    let decoded = decode(&run.datagrams);
    assert_eq!(
        packets,
        decoded.flows.iter().map(|f| f.packets).sum::<u64>()
    );
    assert_eq!(octets, decoded.flows.iter().map(|f| f.bytes).sum::<u64>());
    assert!(v4 > 0 && v6 > 0, "both templates decoded: {v4} v4, {v6} v6");
    assert_eq!(v4 + v6, decoded.flows.len());
    let names = tshark(&["-T", "fields", "-e", "cflow.observation_domain_name"]);
    assert!(names.contains("probe-tshark"), "{names}");
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn missing_file_is_one_clear_line() {
    let run = run_exporter(&["-r", "/nonexistent/capture.pcap"]);
    assert!(!run.output.status.success());
    let err = run.stderr();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/capture.pcap"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert!(run.datagrams.is_empty());
}

#[test]
fn a_missing_second_file_stops_before_anything_is_sent() {
    let good = data("zeek__icmp_dot1q.pcap");
    let run = run_exporter(&[
        "-r",
        good.to_str().expect("utf-8"),
        "-r",
        "/nonexistent/b.pcap",
    ]);
    assert!(!run.output.status.success());
    assert!(run.stderr().contains("/nonexistent/b.pcap"));
    assert!(run.datagrams.is_empty());
}

#[test]
fn non_ethernet_capture_names_its_link_type() {
    let pcap = data("ndpi__fuzz-2021-10-13.pcap");
    let run = run_exporter(&["-r", pcap.to_str().expect("utf-8")]);
    assert!(!run.output.status.success());
    let err = run.stderr();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("link type NULL"), "{err}");
    assert!(err.contains("ndpi__fuzz-2021-10-13.pcap"), "{err}");
}

#[test]
fn truncated_capture_exports_what_is_readable_and_fails() {
    let dir = temp_dir("truncated");
    let whole = std::fs::read(data("tcpdump__erspan-type-i-4.pcap")).expect("read");
    let cut = dir.join("cut.pcap");
    // Cut in the middle of a record: libpcap reports a truncated file.
    std::fs::write(&cut, &whole[..whole.len() / 2 + 7]).expect("write");
    let run = run_exporter(&["-r", cut.to_str().expect("utf-8"), "--stats-json"]);
    assert!(!run.output.status.success(), "a damaged file is a failure");
    let err = run.stderr();
    assert!(err.contains("capture error"), "{err}");
    assert!(err.contains("cut.pcap"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let stats = run.stats();
    let read = stats["packets_read"].as_u64().expect("count");
    assert!(read > 10 && read < 119, "{read}");
    // Walk the record headers by hand: the complete records are read, and
    // the error names the offset where the cut record's data starts.
    let kept = &whole[..whole.len() / 2 + 7];
    let (mut at, mut complete) = (24usize, 0u64);
    loop {
        let incl = u32::from_le_bytes(kept[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        if at + 16 + incl > kept.len() {
            break;
        }
        at += 16 + incl;
        complete += 1;
    }
    assert_eq!(read, complete);
    assert!(
        err.contains(&format!("truncated record data at offset {}", at + 16)),
        "{err}"
    );
    assert_eq!(stats["capture_errors"].as_array().map(Vec::len), Some(1));
    let decoded = decode(&run.datagrams);
    let packets: u64 = decoded.flows.iter().map(|f| f.packets).sum();
    assert_eq!(
        packets,
        stats["encapsulations"]
            .as_object()
            .expect("map")
            .values()
            .filter_map(|v| v.as_u64())
            .sum::<u64>()
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn check_config_validates_and_prints() {
    let dir = temp_dir("check");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[capture]\nread = [\"x.pcap\"]\n[encode]\nmtu = 1200\n[send]\nspeed = \"realtime\"\n",
    )
    .expect("write");
    let bin = env!("CARGO_BIN_EXE_eastwest-exporter");
    let out = Command::new(bin)
        .args(["--config", good.to_str().expect("utf-8"), "--check-config"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("mtu = 1200"), "{printed}");
    assert!(printed.contains("speed = \"realtime\""), "{printed}");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[cache]\ninactive = 5\n").expect("write");
    let out = Command::new(bin)
        .args(["--config", bad.to_str().expect("utf-8"), "--check-config"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("inactive"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn help_lists_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_eastwest-exporter"))
        .arg("--help")
        .output()
        .expect("run");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--read",
        "--interface",
        "--snaplen",
        "--filter",
        "--export",
        "--speed",
        "--inventory",
        "--host",
        "--domain",
        "--max-depth",
        "--inactive-timeout",
        "--active-timeout",
        "--max-flows",
        "--mtu",
        "--template-refresh-packets",
        "--template-refresh-secs",
        "--stats-json",
        "--dataset",
        "--buffer-kib",
        "--stats-interval",
        "--file-reader",
        "--config",
        "--check-config",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

/// Live capture on loopback (needs root / CAP_NET_RAW, which the project's
/// CI has): five UDP datagrams to a test port, then SIGINT; the open flow
/// must be exported before the exporter exits.
#[test]
fn live_capture_on_loopback_exports_on_interrupt() {
    use std::io::{BufRead, BufReader};
    use std::net::UdpSocket;
    use std::process::Stdio;
    use std::time::Duration;

    if !is_root() {
        eprintln!("skipped: live capture needs root");
        return;
    }
    let collector = UdpSocket::bind("127.0.0.1:0").expect("bind");
    collector
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let target = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = target.local_addr().expect("addr").port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_eastwest-exporter"))
        .args(["-i", "lo", "--filter", &format!("udp dst port {port}")])
        .args(["--host", "live", "--domain", "4", "--stats-json"])
        .args([
            "--export",
            &collector.local_addr().expect("addr").to_string(),
        ])
        .env("EASTWEST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    loop {
        line.clear();
        let n = stderr.read_line(&mut line).expect("read stderr");
        assert!(n > 0, "exporter ended before capturing");
        if line.contains("capturing") {
            break;
        }
    }
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for _ in 0..5 {
        sender
            .send_to(&[0u8; 100], ("127.0.0.1", port))
            .expect("send");
    }
    std::thread::sleep(Duration::from_millis(300));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{:?}", out.status);
    let mut buf = vec![0u8; 65_536];
    let n = collector.recv(&mut buf).expect("an export packet");
    let decoded = decode(&[buf[..n].to_vec()]);
    let flow = decoded
        .flows
        .iter()
        .find(|f| f.proto == 17)
        .expect("the UDP flow");
    assert_eq!((flow.packets, flow.bytes), (5, 5 * 128));
    assert_eq!(flow.source_id, 4);
    assert_eq!(decoded.names.get(&4).map(String::as_str), Some("live"));
}

/// Live capture with a small kernel buffer while the exporter is stopped
/// (SIGSTOP): the kernel drops what does not fit, and `--stats-json`, the
/// summary and the periodic log line report it. A veth pair inside a
/// network namespace of the test's own, so each frame is seen exactly once
/// (loopback shows the kernel every frame twice).
#[test]
fn live_capture_reports_kernel_drops() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    use std::time::Duration;

    if !is_root() {
        eprintln!("skipped: live capture needs root");
        return;
    }
    const SENT: u64 = 20_000;
    let ns = Netns::new("drops");
    // No IPv6 on the new interfaces: their neighbour discovery could reach
    // the socket before the filter below is attached and be counted as
    // received.
    for conf in ["all", "default"] {
        ns.run(&[
            "sh",
            "-c",
            &format!("echo 1 > /proc/sys/net/ipv6/conf/{conf}/disable_ipv6"),
        ]);
    }
    ns.run(&[
        "ip", "link", "add", "name", "cap0", "type", "veth", "peer", "name", "src0",
    ]);
    for dev in ["cap0", "src0", "lo"] {
        ns.run(&["ip", "link", "set", dev, "up"]);
    }
    let mut child = ns
        .command(env!("CARGO_BIN_EXE_eastwest-exporter"))
        .args(["-i", "cap0", "--buffer-kib", "256", "--stats-interval", "1"])
        // Only the test's frames, not the IPv6 neighbour discovery of
        // interfaces coming up.
        .args(["--filter", "udp dst port 6000"])
        .args(["--host", "live", "--stats-json", "--export", "127.0.0.1:9"])
        .env("EASTWEST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id().to_string();
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
        assert!(ok.success(), "kill {sig}");
    };
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    loop {
        line.clear();
        let n = stderr.read_line(&mut line).expect("read stderr");
        assert!(n > 0, "exporter ended before capturing");
        if line.contains("capturing") {
            break;
        }
    }
    signal("-STOP");
    // SENT Ethernet/IPv4/UDP frames of 1000 bytes out of src0 (into cap0).
    let sent = ns
        .command("python3")
        .args([
            "-c",
            "import socket, struct, sys\n\
             s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
             s.bind(('src0', 0))\n\
             ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 986, 1, 0, 64, 17, 0,\n\
                 bytes([10, 99, 0, 1]), bytes([10, 99, 0, 2]))\n\
             udp = struct.pack('!HHHH', 5000, 6000, 966, 0) + bytes(958)\n\
             frame = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0]) + ip + udp\n\
             for _ in range(int(sys.argv[1])): s.send(frame)\n",
            &SENT.to_string(),
        ])
        .status()
        .expect("python3");
    assert!(sent.success(), "sender");
    signal("-CONT");
    std::thread::sleep(Duration::from_millis(2_500));
    signal("-INT");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("stderr");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{:?}\n{rest}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stats: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("JSON")).expect("stats JSON");
    let kernel = &stats["kernel"];
    let dropped = kernel["dropped"].as_u64().expect("kernel.dropped");
    let received = kernel["received"].as_u64().expect("kernel.received");
    let read = stats["packets_read"].as_u64().expect("packets_read");
    assert!(
        dropped > 0,
        "a 256 KiB buffer cannot hold {SENT} frames: {kernel}"
    );
    assert_eq!(received, SENT, "{kernel}");
    assert_eq!(
        read + dropped,
        SENT,
        "each frame was read or dropped: {stats}"
    );
    assert_eq!(stats["ip_bytes_metered"].as_u64(), Some(read * 986));
    assert!(rest.contains("capture stats"), "periodic log line:\n{rest}");
    assert!(rest.contains("kernel_dropped"), "{rest}");
    assert!(
        rest.contains(&format!("dropped {dropped} (capture buffer full)")),
        "summary:\n{rest}"
    );
}

/// The same capture as classic pcap (built-in reader), as classic pcap
/// through libpcap, as pcapng (editcap converts it; the built-in reader and
/// libpcap read it) and on stdin: the same counters.
#[test]
fn every_file_path_reads_the_same() {
    let dir = temp_dir("readers");
    let pcap = data("zeek__icmp_dot1q.pcap");
    let pcapng = dir.join("icmp_dot1q.pcapng");
    let ok = Command::new("editcap")
        .args(["-F", "pcapng"])
        .arg(&pcap)
        .arg(&pcapng)
        .status()
        .expect("editcap (tshark's package)");
    assert!(ok.success());
    let p = pcap.to_str().expect("utf-8");
    let counters = |run: &Run| {
        assert!(run.output.status.success(), "{}", run.stderr());
        let s = run.stats();
        (
            s["packets_read"].clone(),
            s["ip_bytes_metered"].clone(),
            s["flows_exported"].clone(),
        )
    };
    let native = counters(&run_exporter(&["-r", p, "--stats-json"]));
    assert_eq!(native.0, 15);
    assert_eq!(native.1, 900);
    let libpcap = run_exporter(&["-r", p, "--file-reader", "libpcap", "--stats-json"]);
    assert_eq!(counters(&libpcap), native);
    let ng_path = pcapng.to_str().expect("utf-8");
    let ng = run_exporter(&["-r", ng_path, "--stats-json"]);
    assert_eq!(counters(&ng), native);
    let ng = run_exporter(&["-r", ng_path, "--file-reader", "libpcap", "--stats-json"]);
    assert_eq!(counters(&ng), native);
    let stdin = std::fs::File::open(&pcap).expect("open");
    let out = Command::new(env!("CARGO_BIN_EXE_eastwest-exporter"))
        .args(["-r", "-", "--stats-json", "--export", "127.0.0.1:9"])
        .stdin(stdin)
        .output()
        .expect("run");
    let piped = Run {
        output: out,
        datagrams: Vec::new(),
        port: 9,
    };
    assert_eq!(counters(&piped), native);
    std::fs::remove_dir_all(dir).expect("cleanup");
}
