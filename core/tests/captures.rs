//! `decap::peel` + `decap::meter_peeled` over every packet of real captures from
//! other projects (see tests/data/README.md), asserting facts about each
//! capture that tshark agrees with.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;

use eastwest_core::decap::{
    meter, meter_peeled, peel, DecapError, Metered, Peeled, DEFAULT_MAX_DEPTH,
};
use eastwest_core::flow::Encap;
use eastwest_core::pcapfile::{PcapError, Reader, Record};

fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn records(name: &str) -> Vec<Record> {
    let file = std::fs::File::open(data_path(name)).expect("capture present");
    Reader::new(std::io::BufReader::new(file))
        .expect("pcap header")
        .collect::<Result<Vec<_>, _>>()
        .expect("records")
}

/// What one packet became.
#[derive(Debug)]
struct Outcome {
    peeled: Peeled<'static>,
    metered: Result<Metered, DecapError>,
}

fn outcomes(name: &str) -> Vec<Outcome> {
    records(name)
        .into_iter()
        .map(|record| {
            let frame: &'static [u8] = Box::leak(record.data.into_boxed_slice());
            let peeled = peel(frame, DEFAULT_MAX_DEPTH).expect("peel");
            let metered = meter_peeled(&peeled);
            Outcome { peeled, metered }
        })
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

#[test]
fn erspan_type_i() {
    let all = outcomes("tcpdump__erspan-type-i-4.pcap");
    assert_eq!(all.len(), 119);
    let mut icmp = (0, 0u64);
    let mut by_kind: BTreeMap<(Encap, u8, u16), usize> = BTreeMap::new();
    let mut not_ip: BTreeMap<u16, usize> = BTreeMap::new();
    for o in &all {
        match o.metered {
            Ok(m) => {
                *by_kind
                    .entry((o.peeled.encap, m.proto, m.vlan))
                    .or_default() += 1;
                if m.proto == 1 {
                    assert_eq!(o.peeled.encap, Encap::ErspanI);
                    assert_eq!((m.src, m.dst), (ip("10.1.1.100"), ip("10.1.1.1")));
                    assert_eq!(o.peeled.session, 0);
                    // tshark: outer 20.1.1.1 → 30.1.1.2.
                    assert_eq!(o.peeled.tunnel_src, Some(ip("20.1.1.1")));
                    assert_eq!(o.peeled.tunnel_dst, Some(ip("30.1.1.2")));
                    icmp.0 += 1;
                    icmp.1 += u64::from(m.ip_len);
                }
            }
            Err(DecapError::NotIp(ethertype)) => *not_ip.entry(ethertype).or_default() += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    // tshark: 80 ICMP, ip.len sum 4800.
    assert_eq!(icmp, (80, 4800));
    assert_eq!(by_kind.get(&(Encap::ErspanI, 89, 10)), Some(&8));
    // Routed GRE carrying IPv4/OSPF is metered at the inner OSPF packet.
    assert_eq!(by_kind.get(&(Encap::Gre, 89, 0)), Some(&8));
    assert_eq!(by_kind.get(&(Encap::Span, 47, 0)), None);
    assert_eq!(by_kind.get(&(Encap::Span, 89, 0)), Some(&16));
    assert_eq!(not_ip, BTreeMap::from([(0x88a7, 2), (0x88cc, 5)]));
}

#[test]
fn erspan_type_ii() {
    let all = outcomes("tcpdump__erspan-type-ii-2.pcap");
    assert_eq!(all.len(), 16);
    let mut vlans: BTreeMap<u16, usize> = BTreeMap::new();
    for o in &all {
        assert_eq!(o.peeled.encap, Encap::ErspanII);
        assert_eq!(o.peeled.session, 1);
        assert_eq!(o.peeled.depth, 1);
        *vlans.entry(o.peeled.outer_vlan).or_default() += 1;
        let m = o.metered.expect("meter");
        assert_eq!((m.proto, m.src_port, m.dst_port), (17, 1985, 1985));
        let expected_dst = if o.peeled.outer_vlan == 100 {
            "224.0.0.102"
        } else {
            "224.0.0.2"
        };
        assert_eq!(m.dst, ip(expected_dst));
    }
    assert_eq!(vlans, BTreeMap::from([(100, 8), (101, 8)]));
}

#[test]
fn erspan_type_iii() {
    let all = outcomes("tcpdump__erspan-type-iii-ft-0.pcap");
    assert_eq!(all.len(), 9);
    for o in &all {
        assert_eq!(o.peeled.encap, Encap::ErspanIII);
        assert_eq!(o.peeled.outer_vlan, 20);
        assert_eq!(o.peeled.tunnel_src, Some(ip("10.29.30.104")));
        let m = o.metered.expect("meter");
        assert_eq!(m.vlan, 20);
        assert_eq!((m.src, m.dst), (ip("10.29.11.1"), ip("10.29.20.21")));
        assert_eq!((m.proto, m.icmp_type_code, m.ip_len), (1, 0x0800, 84));
    }
}

#[test]
fn vxlan() {
    let all = outcomes("tcpdump__vxlan.pcap");
    assert_eq!(all.len(), 10);
    let mut icmp = 0;
    let mut arp = 0;
    for o in &all {
        assert_eq!(o.peeled.encap, Encap::Vxlan);
        assert_eq!(o.peeled.vni, 100);
        match o.metered {
            Ok(m) => {
                assert_eq!(m.proto, 1);
                assert!(m.src == ip("192.168.203.3") || m.src == ip("192.168.203.5"));
                icmp += 1;
            }
            Err(DecapError::NotIp(0x0806)) => arp += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((icmp, arp), (8, 2));
}

#[test]
fn single_dot1q_tag() {
    let all = outcomes("zeek__icmp_dot1q.pcap");
    assert_eq!(all.len(), 15);
    let mut icmp = 0;
    let mut arp = 0;
    for o in &all {
        assert_eq!((o.peeled.encap, o.peeled.outer_vlan), (Encap::Span, 123));
        match o.metered {
            Ok(m) => {
                assert_eq!((m.vlan, m.proto), (123, 1));
                icmp += 1;
            }
            Err(DecapError::NotIp(0x0806)) => arp += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((icmp, arp), (9, 6));
}

#[test]
fn qinq_arp_is_not_ip() {
    let all = outcomes("tcpdump__802.1ad_QinQ.pcap");
    assert_eq!(all.len(), 2);
    for o in &all {
        // Outer 802.1ad tag 200, inner 802.1Q tag 2001 (tshark).
        assert_eq!((o.peeled.encap, o.peeled.outer_vlan), (Encap::Span, 200));
        assert_eq!(o.metered, Err(DecapError::NotIp(0x0806)));
    }
}

#[test]
fn ipv4_fragments() {
    let all = outcomes("zeek__ipv4-fragmented-1.pcap");
    let got: Vec<_> = all
        .iter()
        .map(|o| {
            let m = o.metered.expect("meter");
            (m.fragment, m.src_port, m.dst_port, m.ip_len, m.proto)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (Some((242, true)), 123, 137, 38, 17),
            (Some((242, false)), 0, 0, 136, 17),
            (Some((242, true)), 123, 137, 324, 17),
        ]
    );
}

#[test]
fn nvgre_keeps_the_gre_key() {
    let all = outcomes("packetnet__gre_nvgre.pcap");
    let [o] = &all[..] else { panic!("one frame") };
    // tshark: GRE key 0x12345602 from 100.0.17.1 to 100.0.17.2.
    assert_eq!((o.peeled.encap, o.peeled.vni), (Encap::Nvgre, 0x1234_5602));
    assert_eq!(o.peeled.tunnel_src, Some(ip("100.0.17.1")));
    assert_eq!(o.peeled.tunnel_dst, Some(ip("100.0.17.2")));
    let m = o.metered.expect("meter");
    assert_eq!((m.src, m.dst), (ip("10.0.0.1"), ip("10.0.0.2")));
    assert_eq!((m.src_port, m.dst_port, m.ip_len), (1001, 1002, 42));
    assert_eq!(m.src_mac, [0xaa, 0xbb, 0, 0, 0x10, 0x01]);
}

#[test]
fn mpls_label_stacks_under_vlan_tags() {
    // tshark: VLAN 3199 without MPLS; VLAN 0 + label 16106; VLAN 3399 +
    // labels 254 and 99 (bottom); all TCP 65.65.65.65 → 65.65.65.65.
    let got: Vec<_> = outcomes("zeek__mpls-in-vlan.pcap")
        .iter()
        .map(|o| {
            let m = o.metered.expect("meter");
            assert_eq!(o.peeled.encap, Encap::Span);
            assert_eq!((m.src, m.dst), (ip("65.65.65.65"), ip("65.65.65.65")));
            (m.vlan, m.proto, m.src_port, m.dst_port, m.ip_len)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (3199, 6, 19244, 80, 257),
            (0, 6, 80, 32828, 1500),
            (3399, 6, 61193, 80, 710),
        ]
    );
}

#[test]
fn truncated_capture_keeps_ip_total_length() {
    let records = records("suricata-verify__ipv4-truncated.pcap");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].data.len(), 1530);
    let m = meter(&records[0].data).expect("meter");
    assert_eq!(m.ip_len, 65028);
    assert_eq!((m.src_port, m.dst_port, m.proto), (2539, 5333, 17));
    assert_eq!((m.src, m.dst), (ip("10.16.1.10"), ip("10.16.1.11")));
}

#[test]
fn corrupt_file_is_an_error_with_offset() {
    let file = std::fs::File::open(data_path("ndpi__fuzz-2021-10-13.pcap")).expect("present");
    let mut reader = Reader::new(file).expect("header");
    match reader.next() {
        Some(Err(PcapError::RecordTooLarge { offset, len, .. })) => {
            assert_eq!((offset, len), (24, 524_501));
        }
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    assert!(reader.next().is_none());
}

/// tshark's view of the inner packets: per (src, dst) packets and ip.len.
fn tshark_inner(name: &str, filter: &str) -> BTreeMap<(IpAddr, IpAddr), (u64, u64)> {
    let output = Command::new("tshark")
        .args(["-r"])
        .arg(data_path(name))
        .args(["-Y", filter, "-T", "fields", "-E", "occurrence=l"])
        .args(["-e", "ip.src", "-e", "ip.dst", "-e", "ip.len"])
        .output()
        .expect("tshark runs (install it with scripts/install-deps test)");
    assert!(output.status.success(), "tshark failed on {name}");
    let mut sums = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [src, dst, len] = fields[..] else {
            panic!("unexpected tshark line {line:?}")
        };
        let entry: &mut (u64, u64) = sums.entry((ip(src), ip(dst))).or_default();
        entry.0 += 1;
        entry.1 += len.parse::<u64>().expect("ip.len");
    }
    sums
}

fn ours(name: &str, encap: Encap) -> BTreeMap<(IpAddr, IpAddr), (u64, u64)> {
    let mut sums = BTreeMap::new();
    for o in outcomes(name) {
        if o.peeled.encap != encap {
            continue;
        }
        if let Ok(m) = o.metered {
            let entry: &mut (u64, u64) = sums.entry((m.src, m.dst)).or_default();
            entry.0 += 1;
            entry.1 += u64::from(m.ip_len);
        }
    }
    sums
}

#[test]
fn inner_flows_match_tshark() {
    for (name, filter, encap) in [
        (
            "tcpdump__erspan-type-i-4.pcap",
            "erspan && ip",
            Encap::ErspanI,
        ),
        ("tcpdump__erspan-type-ii-2.pcap", "erspan", Encap::ErspanII),
        (
            "tcpdump__erspan-type-iii-ft-0.pcap",
            "erspan",
            Encap::ErspanIII,
        ),
        ("tcpdump__vxlan.pcap", "vxlan && ip && !arp", Encap::Vxlan),
        ("zeek__mpls-in-vlan.pcap", "ip", Encap::Span),
        ("packetnet__gre_nvgre.pcap", "ip", Encap::Nvgre),
    ] {
        let theirs = tshark_inner(name, filter);
        assert!(!theirs.is_empty(), "{name}: tshark saw nothing");
        assert_eq!(ours(name, encap), theirs, "{name}");
    }
}
