//! Interoperability per encapsulation: for a real capture of each mirror
//! format (SPAN, 802.1Q, QinQ, MPLS, ERSPAN I, II, III, VXLAN, NVGRE,
//! routed GRE), the real binary
//! exports to nfcapd (Debian's nfdump) and to a test socket at once;
//!
//! * `nfdump -I` counts exactly the packets and bytes tshark reads from the
//!   same capture's innermost IP headers (packets, IP total lengths);
//! * tshark's NetFlow dissector decodes every export packet without a
//!   malformed-packet or expert warning, and its per-record packets and
//!   octets add up to the same truth.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// tshark's truth for `pcap`: (packets, bytes) summed over the frames that
/// match the display filter, taking the innermost IP header (an IP header
/// quoted inside ICMP is not a layer of its own).
fn truth(pcap: &Path, filter: &str) -> (u64, u64) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-Y", filter, "-T", "fields", "-E", "occurrence=a"])
        .args(["-E", "aggregator=;", "-e", "frame.protocols"])
        .args(["-e", "ip.len", "-e", "ipv6.plen"])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut total = (0, 0);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let [protocols, v4, v6] = cols[..] else {
            panic!("tshark line {line:?}");
        };
        let layers: Vec<&str> = protocols
            .split(':')
            .take_while(|p| !p.starts_with("icmp"))
            .filter(|p| *p == "ip" || *p == "ipv6")
            .collect();
        let Some(&last) = layers.last() else { continue };
        // The index of the innermost header among the headers of its
        // version.
        let nth = layers.iter().filter(|p| **p == last).count() - 1;
        let len = |col: &str| -> u64 {
            col.split(';')
                .nth(nth)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no length in {line:?}"))
        };
        total.0 += 1;
        total.1 += match last {
            "ip" => len(v4),
            _ => 40 + len(v6),
        };
    }
    total
}

/// tshark over our export packets: no warning, and the records' packets
/// and octets summed.
fn tshark_reads_export(dir: &Path, run: &Run) -> (u64, u64) {
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
        "cflow.packets",
        "-e",
        "cflow.octets",
    ]);
    let sum = |s: &str| -> u64 { s.split(';').filter_map(|n| n.parse::<u64>().ok()).sum() };
    fields.lines().fold((0, 0), |(p, b), line| {
        let cols: Vec<&str> = line.split('\t').collect();
        (
            p + sum(cols[0]),
            b + sum(cols.get(1).copied().unwrap_or("")),
        )
    })
}

/// Export `pcap` to nfcapd and a socket; everything must equal `want`
/// (packets, bytes), which must equal tshark's truth.
fn check(name: &str, pcap: &Path, filter: &str, want: (u64, u64)) {
    let dir = temp_dir(&format!("encap-{name}"));
    assert_eq!(truth(pcap, filter), want, "{name}: tshark's truth");
    let nfcapd = Nfcapd::start(&dir.join("nfcapd"));
    let run = run_exporter(&[
        "--read",
        pcap.to_str().expect("utf-8"),
        "--host",
        "probe",
        "--export",
        &format!("127.0.0.1:{}", nfcapd.port),
        "--stats-json",
    ]);
    assert!(run.output.status.success(), "{name}: {}", run.stderr());
    let stats = run.stats();
    assert_eq!(
        stats["ip_bytes_metered"].as_u64(),
        Some(want.1),
        "{name}: {stats}"
    );
    let (flows, packets, bytes) = nfcapd.finish();
    assert_eq!((packets, bytes), want, "{name}: nfdump -I");
    assert_eq!(
        Some(flows),
        stats["flows_exported"].as_u64(),
        "{name}: every record reached nfdump"
    );
    assert_eq!(
        tshark_reads_export(&dir, &run),
        want,
        "{name}: tshark cflow"
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

/// nfdump's own `nfpcapd` over `pcap`: (packets, bytes) of its flows.
fn nfpcapd_totals(name: &str, pcap: &Path) -> (u64, u64) {
    let dir = temp_dir(&format!("nfpcapd-{name}"));
    let out = Command::new("nfpcapd")
        .arg("-r")
        .arg(pcap)
        .arg("-w")
        .arg(&dir)
        .output()
        .expect("nfpcapd (Debian's nfdump) runs");
    assert!(out.status.success(), "{out:?}");
    let (_, packets, bytes) = nfdump_info(&dir);
    std::fs::remove_dir_all(dir).expect("cleanup");
    (packets, bytes)
}

#[test]
fn span_plain_ethernet_ipv4_and_ipv6() {
    // 1723 frames, IPv4 and IPv6, timestamps jumping six years.
    check("span", &data("ndpi__1kxun.pcap"), "", (1_723, 2_503_232));
}

#[test]
fn span_ipv6_tcp() {
    check(
        "span6",
        &data("zeek__communityid-ipv6.pcap"),
        "",
        (17, 1_294),
    );
}

#[test]
fn dot1q() {
    check("dot1q", &data("zeek__icmp_dot1q.pcap"), "", (9, 900));
}

/// The only real QinQ capture (tcpdump's 802.1ad_QinQ) carries ARP alone:
/// nothing to meter, both frames counted as `not_ip`. QinQ with IP is
/// covered by zeek's icmp_dot1q with an 802.1ad outer tag (VLAN 300)
/// inserted into every frame, so tshark and we read the same bytes.
#[test]
fn qinq() {
    let run = run_exporter(&[
        "--read",
        data("tcpdump__802.1ad_QinQ.pcap").to_str().expect("utf-8"),
        "--stats-json",
    ]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let stats = run.stats();
    assert_eq!(stats["packets_read"], 2);
    assert_eq!(stats["decode_errors"]["not_ip"], 2, "{stats}");
    assert_eq!(stats["flows_exported"], 0);

    let dir = temp_dir("qinq-derived");
    let pcap = dir.join("icmp_qinq.pcap");
    add_outer_tag(&data("zeek__icmp_dot1q.pcap"), &pcap, 300);
    check("qinq", &pcap, "", (9, 900));
    std::fs::remove_dir_all(dir).expect("cleanup");
}

/// Copy a classic little-endian pcap, inserting an 802.1ad tag (TPID
/// 0x88a8, `vlan`) after the MAC addresses of every frame.
fn add_outer_tag(from: &Path, to: &Path, vlan: u16) {
    let bytes = std::fs::read(from).expect("read capture");
    let magic = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
    assert!(
        magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d,
        "little-endian pcap"
    );
    let le = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let mut out = bytes[..24].to_vec();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let (incl, orig) = (le(at + 8) as usize, le(at + 12));
        let frame = &bytes[at + 16..at + 16 + incl];
        out.extend_from_slice(&bytes[at..at + 8]);
        out.extend_from_slice(&(incl as u32 + 4).to_le_bytes());
        out.extend_from_slice(&(orig + 4).to_le_bytes());
        out.extend_from_slice(&frame[..12]);
        out.extend_from_slice(&0x88a8u16.to_be_bytes());
        out.extend_from_slice(&vlan.to_be_bytes());
        out.extend_from_slice(&frame[12..]);
        at += 16 + incl;
    }
    assert_eq!(at, bytes.len(), "whole records");
    std::fs::write(to, out).expect("write capture");
}

#[test]
fn erspan_type_i() {
    // Also routed GRE (IPv4 in GRE: metered at the inner OSPF packet) and
    // native OSPF.
    check(
        "erspan1",
        &data("tcpdump__erspan-type-i-4.pcap"),
        "",
        // 80 ICMP + 8 OSPF inside ERSPAN, 8 OSPF in routed GRE, 16 native
        // OSPF.
        (112, 6_912),
    );
}

#[test]
fn erspan_type_ii() {
    check(
        "erspan2",
        &data("tcpdump__erspan-type-ii-2.pcap"),
        "",
        // HSRP hellos, 64 bytes each.
        (16, 1_024),
    );
}

#[test]
fn erspan_type_iii() {
    check(
        "erspan3",
        &data("tcpdump__erspan-type-iii-ft-0.pcap"),
        "",
        (9, 756),
    );
}

#[test]
fn vxlan() {
    check(
        "vxlan",
        &data("tcpdump__vxlan.pcap"),
        // ARP inside VXLAN is not IP (tshark's last IP header would be the
        // outer one): counted as not_ip, not metered.
        "!arp",
        (8, 672),
    );
}

/// zeek's mixed-vlan-mpls: 11 frames under one MPLS label, 14 under 802.1Q
/// and 22 plain, all IPv4; nfpcapd meters the same 47.
#[test]
fn mpls_mixed_with_vlan() {
    let pcap = data("zeek__mixed-vlan-mpls.pcap");
    let want = (47, 15_327);
    check("mpls", &pcap, "", want);
    assert_eq!(nfpcapd_totals("mpls", &pcap), want, "nfpcapd");
}

/// zeek's mpls-in-vlan: MPLS stacks of one and two labels under 802.1Q.
#[test]
fn mpls_in_vlan() {
    let pcap = data("zeek__mpls-in-vlan.pcap");
    let want = (3, 2_467);
    check("mpls-vlan", &pcap, "", want);
    assert_eq!(nfpcapd_totals("mpls-vlan", &pcap), want, "nfpcapd");
}

/// packetnet's gre_nvgre: Ethernet in GRE 0x6558 with an NVGRE key.
#[test]
fn nvgre() {
    check("nvgre", &data("packetnet__gre_nvgre.pcap"), "", (1, 42));
}

/// zeek's gre-sample: IPv4 in GRE (ICMP, SSH, DNS, NTP), metered at the
/// inner packet, as nfpcapd does.
#[test]
fn routed_gre() {
    let pcap = data("zeek__gre-sample.pcap");
    let want = (40, 5_211);
    check("gre", &pcap, "", want);
    assert_eq!(nfpcapd_totals("gre", &pcap), want, "nfpcapd");
}

/// zeek's gre-within-gre: IP in GRE in IP in GRE (ICMP and RIP).
#[test]
fn routed_gre_nested() {
    let pcap = data("zeek__gre-within-gre.pcap");
    let want = (628, 62_728);
    check("gre-in-gre", &pcap, "", want);
    assert_eq!(nfpcapd_totals("gre-in-gre", &pcap), want, "nfpcapd");
}

/// packetnet's gre_ipv6 (IPv6 in GRE) and gre_all_options (IPv4 in GRE
/// with checksum, key and sequence number).
#[test]
fn routed_gre_ipv6_and_all_options() {
    check("gre-ipv6", &data("packetnet__gre_ipv6.pcap"), "", (1, 57));
    check(
        "gre-options",
        &data("packetnet__gre_all_options.pcap"),
        "",
        (10, 1_000),
    );
}

/// tcpdump's various_gre: IPv4 in GRE behind Cisco MetaData (0x8909, the
/// TrustSec tag) is metered at the inner packet; GRE keepalives (GRE
/// protocol 0, behind Cisco MetaData or reflected bare) are counted as
/// `gre_keepalive`, CDP in GRE as `gre_not_ip`; none is metered as a GRE
/// flow. The rest is STP, CDP, DTP and Ethernet loopback: `not_ip`.
#[test]
fn gre_keepalives_and_non_ip_by_reason() {
    let pcap = data("tcpdump__various_gre.pcap");
    let count = |filter: &str| -> u64 {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(["-Y", filter])
            .output()
            .expect("tshark runs");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).lines().count() as u64
    };
    assert_eq!(count("gre.proto == 0"), 16);
    assert_eq!(count("gre.proto == 0x2000"), 2);
    assert_eq!(count("!gre"), 70);
    check(
        "various-gre",
        &pcap,
        "ip && !(gre.proto == 0) && !cdp",
        (12, 1_116),
    );
    let run = run_exporter(&["--read", pcap.to_str().expect("utf-8"), "--stats-json"]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let stats = run.stats();
    assert_eq!(stats["packets_read"], 100);
    assert_eq!(stats["encapsulations"]["gre"], 12, "{stats}");
    assert_eq!(stats["decode_errors"]["gre_keepalive"], 16, "{stats}");
    assert_eq!(stats["decode_errors"]["gre_not_ip"], 2, "{stats}");
    assert_eq!(stats["decode_errors"]["not_ip"], 70, "{stats}");
}
