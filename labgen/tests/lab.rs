//! The lab generator: determinism, freshness of the committed files,
//! agreement with lab/inventory.toml and lab/policy.toml, and the truth
//! checked against tshark and against core's own decap.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;

use eastwest_core::decap::{meter, peel, DEFAULT_MAX_DEPTH};
use eastwest_core::inventory::Inventory;
use eastwest_core::pcapfile::Reader;
use eastwest_core::policy::{Policy, VerdictKind};
use eastwest_labgen::{generate, lab, Lab};

fn lab_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../lab")
}

fn fresh() -> Lab {
    generate().expect("generate")
}

#[test]
fn output_is_deterministic() {
    let (a, b) = (fresh(), fresh());
    assert_eq!(a.pcap, b.pcap);
    assert_eq!(
        a.expected_json().expect("json"),
        b.expected_json().expect("json")
    );
    assert!(
        a.pcap.len() < 2 * 1024 * 1024,
        "lab.pcap must stay well under 2 MB"
    );
    assert!(a.expected.frames > 1_500);
}

#[test]
fn committed_files_are_fresh() {
    let lab = fresh();
    let pcap = std::fs::read(lab_dir().join("lab.pcap")).expect("lab/lab.pcap committed");
    let json = std::fs::read_to_string(lab_dir().join("expected.json")).expect("lab/expected.json");
    let hint = "stale: run `cargo run -p eastwest-labgen -- --out lab`";
    assert!(pcap == lab.pcap, "lab/lab.pcap is {hint}");
    assert!(
        json == lab.expected_json().expect("json"),
        "lab/expected.json is {hint}"
    );
}

#[test]
fn twin_matches_inventory_toml() {
    let text = std::fs::read_to_string(lab_dir().join("inventory.toml")).expect("inventory");
    let inventory = Inventory::parse(&text, "lab/inventory.toml").expect("valid inventory");
    assert_eq!(inventory.hosts.len(), lab::HOSTS.len());
    for host in &lab::HOSTS {
        let h = inventory.host(host.name).expect("host in inventory");
        assert_eq!(h.domain, host.domain, "{}", host.name);
        assert_eq!(h.vteps, vec![IpAddr::V4(host.vtep)], "{}", host.name);
        let sources: Vec<IpAddr> = host.mirror.source().map(IpAddr::V4).into_iter().collect();
        assert_eq!(h.mirror_sources, sources, "{}", host.name);
        let sessions: Vec<u16> = Some(host.mirror.session())
            .filter(|s| *s != 0)
            .into_iter()
            .collect();
        assert_eq!(h.erspan_sessions, sessions, "{}", host.name);
    }
    assert_eq!(inventory.vms.len(), lab::VMS.len());
    for vm in &lab::VMS {
        let v = inventory.vm(vm.name).expect("vm in inventory");
        assert_eq!(v.host, vm.host, "{}", vm.name);
        assert_eq!(v.macs, vec![vm.mac], "{}", vm.name);
        let mut ips = vec![IpAddr::V4(vm.ipv4)];
        ips.extend(vm.ipv6.map(IpAddr::V6));
        assert_eq!(v.ips, ips, "{}", vm.name);
        assert_eq!(
            (v.port_group.as_str(), v.vlan, v.vni),
            (vm.port_group, vm.vlan, vm.vni)
        );
    }
}

#[test]
fn verdicts_match_policy_toml() {
    let inv_text = std::fs::read_to_string(lab_dir().join("inventory.toml")).expect("inventory");
    let inventory = Inventory::parse(&inv_text, "lab/inventory.toml").expect("inventory");
    let text = std::fs::read_to_string(lab_dir().join("policy.toml")).expect("policy");
    let policy = Policy::parse(&text, "lab/policy.toml").expect("valid policy");
    for conv in lab::CONVERSATIONS.iter() {
        let c = inventory.vm(conv.client).expect("client");
        let s = inventory.vm(conv.server).expect("server");
        let c_ip = lab::vm(conv.client)
            .and_then(|v| v.ip(conv.ipv6))
            .expect("ip");
        let s_ip = lab::vm(conv.server)
            .and_then(|v| v.ip(conv.ipv6))
            .expect("ip");
        let proto = match (conv.kind, conv.ipv6) {
            (lab::Kind::Tcp { .. }, _) => 6,
            (lab::Kind::Udp { .. }, _) => 17,
            (lab::Kind::Echo { .. }, false) => 1,
            (lab::Kind::Echo { .. }, true) => 58,
        };
        let verdict = policy.judge(
            policy.zone_of(Some(c), c_ip),
            policy.zone_of(Some(s), s_ip),
            proto,
            conv.server_port,
        );
        match conv.expect {
            lab::Expect::Allowed => {
                assert_eq!(verdict.kind, VerdictKind::Allowed, "{conv:?}: {verdict:?}")
            }
            lab::Expect::Violation(rule) => {
                assert_eq!(verdict.kind, VerdictKind::Violation, "{conv:?}");
                assert_eq!(verdict.rule, rule, "{conv:?}");
            }
        }
    }
}

type FlowKey = (String, String, String, String, u16, u16, u16, u32, u16);

/// Flows as core's peel + meter see lab.pcap: (encap, tunnel src, src, dst,
/// src port, dst port, vlan, vni, session) → (packets, bytes). Non-first
/// fragments join the flow of their first fragment.
fn flows_by_decap(pcap: &[u8]) -> BTreeMap<FlowKey, (u64, u64)> {
    let mut flows = BTreeMap::new();
    let mut first_fragment_ports = BTreeMap::new();
    for record in Reader::new(pcap).expect("header") {
        let record = record.expect("record");
        let peeled = peel(&record.data, DEFAULT_MAX_DEPTH).expect("peel");
        let Ok(m) = meter(peeled.frame) else { continue };
        let (mut sp, mut dp) = (m.src_port, m.dst_port);
        match m.fragment {
            Some((id, true)) => {
                first_fragment_ports.insert((m.src, id), (sp, dp));
            }
            Some((id, false)) => {
                (sp, dp) = *first_fragment_ports
                    .get(&(m.src, id))
                    .expect("first fragment first");
            }
            None => {}
        }
        let key = (
            peeled.encap.as_str().to_string(),
            peeled.tunnel_src.map(|a| a.to_string()).unwrap_or_default(),
            m.src.to_string(),
            m.dst.to_string(),
            sp,
            dp,
            m.vlan,
            peeled.vni,
            peeled.session,
        );
        let entry: &mut (u64, u64) = flows.entry(key).or_default();
        entry.0 += 1;
        entry.1 += u64::from(m.ip_len);
    }
    flows
}

#[test]
fn expected_matches_core_decap() {
    let lab = fresh();
    let mut truth = BTreeMap::new();
    for conv in &lab.expected.conversations {
        for f in &conv.flows {
            let key = (
                f.encap.to_string(),
                f.tunnel_src.clone(),
                f.src_ip.clone(),
                f.dst_ip.clone(),
                f.src_port,
                f.dst_port,
                f.vlan,
                f.vni,
                f.session,
            );
            assert!(truth.insert(key, (f.packets, f.bytes)).is_none());
        }
    }
    assert_eq!(flows_by_decap(&lab.pcap), truth);
    // The co-resident violation is seen only at esx-03, in both directions.
    let payroll = lab
        .expected
        .conversations
        .iter()
        .find(|c| c.client_vm == "fin-fe-01")
        .expect("payroll conversation");
    assert!(payroll.same_host);
    assert_eq!(payroll.verdict, "violation");
    assert!(payroll
        .flows
        .iter()
        .all(|f| f.observation == "esx-03/erspan2"));
    assert_eq!(payroll.flows.len(), 2);
    // app-02 → db-01 is seen at three observation points.
    let db = lab
        .expected
        .conversations
        .iter()
        .find(|c| c.client_vm == "app-02" && c.server_vm == "db-01")
        .expect("app-02 → db-01");
    let points: Vec<&str> = db.flows.iter().map(|f| f.observation.as_str()).collect();
    assert_eq!(
        points,
        ["esx-02/erspan1", "esx-04/erspan3", "underlay/vxlan"].repeat(2)
    );
    // erp-app-01 → erp-db-01 between the Hyper-V hosts: at hv-01's mirror
    // and on the NVGRE underlay, keyed there by the destination's VSID
    // (upper 24 bits of the GRE key) and attributed to the sending host.
    let erp = lab
        .expected
        .conversations
        .iter()
        .find(|c| c.client_vm == "erp-app-01")
        .expect("erp-app-01 → erp-db-01");
    let seen: Vec<(&str, &str, u32, &str)> = erp
        .flows
        .iter()
        .map(|f| {
            (
                f.observation.as_str(),
                f.host,
                f.vni >> 8,
                f.tunnel_src.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("hv-01/erspan2", "hv-01", 0, "198.18.0.5"),
            ("underlay/nvgre", "hv-01", 5003, "172.16.0.5"),
            ("hv-01/erspan2", "hv-01", 0, "198.18.0.5"),
            ("underlay/nvgre", "hv-02", 5002, "172.16.0.6"),
        ]
    );
}

/// tshark's inner `ip.len` sums per (src, dst) over the whole capture.
#[test]
fn expected_matches_tshark() {
    let pcap = lab_dir().join("lab.pcap");
    let output = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-T", "fields", "-E", "occurrence=l"])
        .args(["-e", "ip.src", "-e", "ip.dst", "-e", "ip.len"])
        .output()
        .expect("tshark runs (install it with scripts/install-deps test)");
    assert!(output.status.success());
    let mut theirs: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        if let [src, dst, len] = fields[..] {
            if len.is_empty() {
                continue;
            }
            let entry = theirs
                .entry((src.to_string(), dst.to_string()))
                .or_default();
            entry.0 += 1;
            entry.1 += len.parse::<u64>().expect("ip.len");
        }
    }
    let lab = fresh();
    let mut checked = 0;
    for conv in lab.expected.conversations.iter().filter(|c| c.proto != 58) {
        for (src, dst, dir) in [
            (&conv.client_ip, &conv.server_ip, "forward"),
            (&conv.server_ip, &conv.client_ip, "reverse"),
        ] {
            let ours = conv
                .flows
                .iter()
                .filter(|f| f.direction == dir)
                .fold((0, 0), |acc, f| (acc.0 + f.packets, acc.1 + f.bytes));
            assert_eq!(
                theirs.get(&(src.clone(), dst.clone())).copied(),
                Some(ours),
                "{} {dir}",
                conv.name
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * 9);
}

/// (tunnel source, inner src, inner dst, inner VLAN, ERSPAN VLAN, VNI or
/// GRE-TEB key, ERSPAN session)
type TunnelKey = (String, String, String, u16, u16, u32, u16);

/// Every lab frame's encapsulation as tshark dissects it (not core::wire,
/// which builds the headers): outer source, inner addresses, 802.1Q tag,
/// ERSPAN VLAN and session, VXLAN VNI or NVGRE key, with packets and IP
/// bytes.
#[test]
fn encapsulations_match_tshark() {
    let output = Command::new("tshark")
        .arg("-r")
        .arg(lab_dir().join("lab.pcap"))
        .args(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"])
        .args(["-e", "ip.src", "-e", "ip.dst", "-e", "ip.len"])
        .args(["-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.plen"])
        .args(["-e", "vlan.id", "-e", "erspan.vlan", "-e", "erspan.spanid"])
        .args(["-e", "vxlan.vni", "-e", "gre.key", "-e", "gre.proto"])
        .output()
        .expect("tshark runs (install it with scripts/install-deps test)");
    assert!(output.status.success());
    let mut theirs: BTreeMap<TunnelKey, (u64, u64)> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let f: Vec<Vec<&str>> = line
            .split('\t')
            .map(|x| x.split(',').filter(|s| !s.is_empty()).collect())
            .collect();
        let [ip_src, ip_dst, ip_len, v6_src, v6_dst, v6_plen, vlan, erspan_vlan, session, vni, key, gre_proto] =
            &f[..]
        else {
            panic!("tshark line {line:?}");
        };
        let num = |v: &[&str]| -> u64 {
            v.last().map_or(0, |x| match x.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).expect("hex"),
                None => x.parse().expect("number"),
            })
        };
        let tunneled = !gre_proto.is_empty() || !vni.is_empty();
        let layers = ip_src.len() + v6_src.len();
        if layers < 1 + usize::from(tunneled) {
            continue; // not IP (ARP, LLDP), plain or inside a tunnel
        }
        let (src, dst, len) = if let (Some(s), Some(d)) = (v6_src.last(), v6_dst.last()) {
            (s.to_string(), d.to_string(), num(v6_plen) + 40)
        } else {
            (
                ip_src.last().expect("src").to_string(),
                ip_dst.last().expect("dst").to_string(),
                num(ip_len),
            )
        };
        let tunnel_src = if tunneled {
            ip_src[0].to_string()
        } else {
            String::new()
        };
        let teb_key = if gre_proto.last() == Some(&"0x6558") {
            num(key)
        } else {
            0
        };
        let entry = theirs
            .entry((
                tunnel_src,
                src,
                dst,
                num(vlan) as u16,
                num(erspan_vlan) as u16,
                (num(vni) + teb_key) as u32,
                num(session) as u16,
            ))
            .or_default();
        entry.0 += 1;
        entry.1 += len;
    }
    let mut truth: BTreeMap<TunnelKey, (u64, u64)> = BTreeMap::new();
    for conv in &fresh().expected.conversations {
        for f in &conv.flows {
            let entry = truth
                .entry((
                    f.tunnel_src.clone(),
                    f.src_ip.clone(),
                    f.dst_ip.clone(),
                    f.vlan,
                    f.erspan_vlan,
                    f.vni,
                    f.session,
                ))
                .or_default();
            entry.0 += f.packets;
            entry.1 += f.bytes;
        }
    }
    assert_eq!(theirs, truth);
}
