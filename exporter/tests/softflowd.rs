//! Side by side with softflowd (Debian's softflowd 1.1.0, NetFlow v9) on
//! the same plain-Ethernet capture, both into nfcapd: the same
//! conversations (5-tuples) with the same packets each; bytes differ only
//! by what softflowd counts beyond the IP header's total length (Ethernet
//! padding of short frames), which tshark measures.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;

/// Bytes softflowd counts beyond the IP total length: per frame, the
/// captured length minus the Ethernet header (and 802.1Q tags) minus the
/// IP length, per tshark.
fn padding(pcap: &Path) -> u64 {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-T", "fields", "-E", "occurrence=f", "-e", "frame.cap_len"])
        .args(["-e", "vlan.id", "-e", "ip.len", "-e", "ipv6.plen"])
        .output()
        .expect("tshark runs");
    assert!(out.status.success());
    let mut extra = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let [cap, vlan, v4, v6] = cols[..] else {
            panic!("tshark line {line:?}");
        };
        let num = |s: &str| s.parse::<u64>().unwrap_or_else(|_| panic!("{line:?}"));
        let ip = if !v4.is_empty() {
            num(v4)
        } else {
            40 + num(v6)
        };
        let l2 = 14 + if vlan.is_empty() { 0 } else { 4 };
        extra += num(cap) - l2 - ip;
    }
    extra
}

/// softflowd's records of `pcap`, in nfcapd files under `dir`.
fn softflowd_into_nfcapd(pcap: &Path, dir: &Path) -> std::path::PathBuf {
    let theirs = Nfcapd::start(&dir.join("softflowd"));
    let out = Command::new("softflowd")
        .arg("-r")
        .arg(pcap)
        .args(["-n", &format!("127.0.0.1:{}", theirs.port)])
        // NetFlow v9, foreground, no control socket, capture time.
        .args(["-v", "9", "-d", "-c", "none", "-a", "-p"])
        .arg(dir.join("softflowd.pid"))
        .output()
        .expect("softflowd (scripts/install-deps test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    theirs.stop()
}

/// Our records of `pcap`, in nfcapd files under `dir`, and the run's
/// stats.
fn eastwest_into_nfcapd(pcap: &Path, dir: &Path) -> (std::path::PathBuf, serde_json::Value) {
    let ours = Nfcapd::start(&dir.join("eastwest"));
    let run = run_exporter(&[
        "--read",
        pcap.to_str().expect("utf-8"),
        "--export",
        &format!("127.0.0.1:{}", ours.port),
        "--stats-json",
    ]);
    assert!(run.output.status.success(), "{}", run.stderr());
    (ours.stop(), run.stats())
}

#[test]
fn same_conversations_and_packets_as_softflowd() {
    let pcap = data("ndpi__1kxun.pcap");
    let dir = temp_dir("softflowd");
    let theirs = softflowd_into_nfcapd(&pcap, &dir);
    let (ours, _) = eastwest_into_nfcapd(&pcap, &dir);

    let (_, their_packets, their_bytes) = nfdump_info(&theirs);
    let (_, our_packets, our_bytes) = nfdump_info(&ours);
    assert_eq!(their_packets, 1_723, "softflowd sees every frame");
    assert_eq!(our_packets, their_packets);
    assert_eq!(our_bytes, 2_503_232, "IP total lengths (tshark)");
    assert_eq!(our_bytes + padding(&pcap), their_bytes);

    // Flow records differ (each exporter's own timeouts slice
    // conversations differently); per 5-tuple they agree.
    let theirs = nfdump_by_tuple(&theirs);
    let ours = nfdump_by_tuple(&ours);
    assert_eq!(theirs.len(), 297, "softflowd's conversations");
    let packets = |t: &BTreeMap<String, (u64, u64)>| -> BTreeMap<String, u64> {
        t.iter().map(|(k, v)| (k.clone(), v.0)).collect()
    };
    assert_eq!(packets(&ours), packets(&theirs));
    std::fs::remove_dir_all(dir).expect("cleanup");
}

/// zeek's fragmented-1 without its first frame (`editcap`), so the later
/// fragment of datagram 0xf2 arrives without its first fragment: metered
/// under the flow of its addresses and protocol with ports 0, as softflowd
/// does, and counted as `fragment_unmatched`. Every IP byte is counted.
#[test]
fn unmatched_later_fragment_is_metered_like_softflowd() {
    let dir = temp_dir("softflowd-fragments");
    let pcap = dir.join("fragmented-1-without-frame-1.pcap");
    let out = Command::new("editcap")
        .arg(data("zeek__ipv4-fragmented-1.pcap"))
        .arg(&pcap)
        .arg("1")
        .output()
        .expect("editcap (Wireshark) runs");
    assert!(out.status.success(), "{out:?}");
    let theirs = softflowd_into_nfcapd(&pcap, &dir);
    let (ours, stats) = eastwest_into_nfcapd(&pcap, &dir);
    assert_eq!(stats["fragment_unmatched"], 1, "{stats}");
    assert!(
        stats["decode_errors"]
            .as_object()
            .is_some_and(|e| e.is_empty()),
        "{stats}"
    );

    let (_, their_packets, their_bytes) = nfdump_info(&theirs);
    let (_, our_packets, our_bytes) = nfdump_info(&ours);
    // tshark: ip.len 136 (the later fragment) + 324 (a first fragment).
    assert_eq!((our_packets, our_bytes), (2, 460));
    assert_eq!(our_packets, their_packets);
    assert_eq!(our_bytes + padding(&pcap), their_bytes);
    let by_tuple = nfdump_by_tuple(&ours);
    assert_eq!(by_tuple.len(), 2, "{by_tuple:?}");
    assert_eq!(
        by_tuple.keys().collect::<Vec<_>>(),
        nfdump_by_tuple(&theirs).keys().collect::<Vec<_>>()
    );
    assert!(
        by_tuple
            .keys()
            .any(|k| k.ends_with(" 164.1.123.163 164.1.123.61 0 0")),
        "{by_tuple:?}"
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}
