use super::zones::{mask_v4, mask_v6};
use super::*;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use crate::inventory::{Inventory, Vm, CURRENT};

fn lab_path(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lab")
        .join(file)
}

fn lab() -> (Inventory, Policy) {
    let inventory = match Inventory::load(&lab_path("inventory.toml")) {
        Ok(inv) => inv,
        Err(err) => panic!("lab inventory: {err}"),
    };
    let policy = match Policy::load(&lab_path("policy.toml")) {
        Ok(policy) => policy,
        Err(err) => panic!("lab policy: {err}"),
    };
    (inventory, policy)
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

/// Zone of a lab VM found the way the collector finds it (by address).
fn zone<'p>(inv: &Inventory, policy: &'p Policy, addr: &str) -> &'p str {
    let addr = ip(addr);
    policy.zone_of(inv.lookup(None, addr, 0, 0, 0), addr)
}

fn verdict<'p>(
    inv: &Inventory,
    policy: &'p Policy,
    src: &str,
    dst: &str,
    proto: u8,
    port: u16,
) -> Verdict<'p> {
    policy.judge(zone(inv, policy, src), zone(inv, policy, dst), proto, port)
}

const TCP: u8 = 6;
const UDP: u8 = 17;

#[test]
fn lab_policy_loads_clean() {
    let (inv, policy) = lab();
    assert_eq!(policy.warnings(), &[] as &[ConfigError]);
    assert_eq!(policy.check_inventory(&inv), vec![]);
    let zones: Vec<&str> = policy.zone_names().collect();
    assert_eq!(
        zones,
        [
            "dmz",
            "app",
            "db",
            "payroll",
            "finance-frontend",
            "mgmt",
            "internet"
        ]
    );
    assert_eq!(policy.rules().len(), 6);
    assert_eq!(policy.default_cross_zone(), (Action::Deny, "medium"));
    assert_eq!(policy.revision().len(), 12);
    assert!(policy.revision().bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn lab_zones_follow_the_vm() {
    let (inv, policy) = lab();
    let by_name = |name: &str| {
        let vm = inv.vm(name).expect("lab VM");
        policy.zone_of(Some(vm), vm.ips[0]).to_string()
    };
    assert_eq!(by_name("web-01"), "dmz");
    assert_eq!(by_name("app-02"), "app");
    assert_eq!(by_name("db-02"), "db");
    assert_eq!(by_name("payroll-01"), "payroll", "by name pattern");
    assert_eq!(by_name("fin-fe-01"), "finance-frontend", "by port group");
    assert_eq!(by_name("jump-01"), "mgmt", "by VLAN");
    // The lab's internet zone (0.0.0.0/0, ::/0) catches every other address.
    assert_eq!(zone(&inv, &policy, "203.0.113.7"), "internet");
    assert_eq!(zone(&inv, &policy, "2001:db8::7"), "internet");
}

#[test]
fn lab_verdicts() {
    let (inv, policy) = lab();
    let payroll_to_fe = verdict(&inv, &policy, "10.10.4.11", "10.10.5.11", TCP, 443);
    assert_eq!(
        payroll_to_fe,
        Verdict {
            kind: VerdictKind::Violation,
            rule: "payroll must never talk to the finance front end",
            severity: "critical",
        }
    );
    let web_to_app = verdict(&inv, &policy, "10.10.1.11", "10.10.2.11", TCP, 8443);
    assert_eq!(
        web_to_app,
        Verdict {
            kind: VerdictKind::Allowed,
            rule: "DMZ web servers call the app tier on 8443",
            severity: "",
        }
    );
    let web_to_db = verdict(&inv, &policy, "10.10.1.11", "10.10.3.12", TCP, 5432);
    assert_eq!(web_to_db.kind, VerdictKind::Violation);
    assert_eq!(web_to_db.rule, "the DMZ must never reach the database tier");
    assert_eq!(web_to_db.severity, "critical");
    let jump_to_db = verdict(&inv, &policy, "10.10.6.11", "10.10.3.11", TCP, 22);
    assert_eq!(jump_to_db.kind, VerdictKind::Allowed);
    assert_eq!(
        jump_to_db.rule,
        "management jump host administers everything over SSH"
    );
    let app_to_db = verdict(&inv, &policy, "10.10.2.12", "fd00:10:3::11", TCP, 5432);
    assert_eq!(app_to_db.kind, VerdictKind::Allowed);
    // Same pair, wrong port: no rule, cross-zone default.
    let app_to_db_ssh = verdict(&inv, &policy, "10.10.2.12", "10.10.3.11", TCP, 22);
    assert_eq!(
        app_to_db_ssh,
        Verdict {
            kind: VerdictKind::Violation,
            rule: DEFAULT_RULE,
            severity: "medium",
        }
    );
    let web_to_web = verdict(&inv, &policy, "10.10.1.11", "10.10.1.12", TCP, 80);
    assert_eq!(
        web_to_web,
        Verdict {
            kind: VerdictKind::Allowed,
            rule: INTRA_ZONE_RULE,
            severity: "",
        }
    );
    let web_to_app_udp = verdict(&inv, &policy, "10.10.1.11", "10.10.2.11", UDP, 8443);
    assert_eq!(web_to_app_udp.rule, DEFAULT_RULE);
    let web_out = verdict(&inv, &policy, "10.10.1.11", "203.0.113.7", TCP, 443);
    assert_eq!(web_out.kind, VerdictKind::Violation);
    assert_eq!(web_out.rule, DEFAULT_RULE);
}

#[test]
fn unzoned_endpoints_are_unknown() {
    let (inv, policy) = lab();
    let unknown = Verdict {
        kind: VerdictKind::Unknown,
        rule: UNZONED_RULE,
        severity: "",
    };
    assert_eq!(policy.judge(UNZONED, "db", TCP, 5432), unknown);
    assert_eq!(
        policy.judge("mgmt", UNZONED, TCP, 22),
        unknown,
        "'*' is not unzoned"
    );
    assert_eq!(policy.judge("dmz", "no-such-zone", TCP, 22), unknown);
    assert_eq!(VerdictKind::Unknown.as_str(), "unknown");

    // Without a catch-all CIDR zone an address outside the inventory is unzoned.
    let text = "[[zone]]\nname = \"db\"\ntags = [\"db\"]\n\
                    [[zone]]\nname = \"lab\"\ncidrs = [\"10.10.0.0/16\"]\n";
    let policy = Policy::parse(text, "p.toml").expect("valid");
    assert_eq!(zone(&inv, &policy, "10.10.3.11"), "db");
    assert_eq!(zone(&inv, &policy, "10.10.99.1"), "lab");
    assert_eq!(zone(&inv, &policy, "192.0.2.1"), UNZONED);
    assert_eq!(zone(&inv, &policy, "fd00:10:1::11"), UNZONED);
    let v = verdict(&inv, &policy, "192.0.2.1", "10.10.3.11", TCP, 5432);
    assert_eq!(v.kind, VerdictKind::Unknown);
}

#[test]
fn lab_separation() {
    let (inv, policy) = lab();
    assert_eq!(
        policy.separation_violations(&inv),
        vec![CoResidency {
            host: "esx-03".into(),
            zones: ("payroll".into(), "finance-frontend".into()),
            vms: ("payroll-01".into(), "fin-fe-01".into()),
        }]
    );
}

#[test]
fn separation_follows_migrations_and_same_zone_pairs() {
    let (inv, _) = lab();
    // web-02 moved next to the databases: dmz and db now share esx-04.
    let text = std::fs::read_to_string(lab_path("inventory.toml")).expect("lab inventory");
    let moved = text.replacen(
        "name = \"web-02\"\nhost = \"esx-02\"",
        "name = \"web-02\"\nhost = \"esx-04\"",
        1,
    );
    assert_ne!(moved, text);
    let moved = Inventory::parse(&moved, "moved.toml").expect("valid");
    let policy_text = "separate = [[\"dmz\", \"db\"], [\"db\", \"db\"]]\n\
                           [[zone]]\nname = \"dmz\"\ntags = [\"dmz\"]\n\
                           [[zone]]\nname = \"db\"\ntags = [\"db\"]\n";
    let policy = Policy::parse(policy_text, "p.toml").expect("valid");
    let pairs: Vec<(String, String)> = policy
        .separation_violations(&moved)
        .into_iter()
        .map(|c| c.vms)
        .collect();
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        pairs,
        [
            pair("web-02", "db-01"),
            pair("web-02", "db-02"),
            pair("db-01", "db-02")
        ]
    );
    // Before the move only the two databases share a host.
    assert_eq!(policy.separation_violations(&inv).len(), 1);
}

#[test]
fn separation_periods_follow_placement_history() {
    // fin-fe-01 leaves esx-03 at 09:01 and comes back at 09:02; at 09:03
    // payroll-01 itself moves to esx-04, next to nobody it is kept from.
    let text = std::fs::read_to_string(lab_path("inventory.toml")).expect("lab inventory");
    let history = format!(
            "{text}\n[[vm]]\nname = \"fin-fe-01\"\nsince = \"2026-11-02T09:01:00Z\"\nhost = \"esx-01\"\n\
             \n[[vm]]\nname = \"fin-fe-01\"\nsince = \"2026-11-02T09:02:00Z\"\nhost = \"esx-03\"\n\
             \n[[vm]]\nname = \"payroll-01\"\nsince = \"2026-11-02T09:03:00Z\"\nhost = \"esx-04\"\n"
        );
    let inv = Inventory::parse(&history, "history.toml").expect("valid");
    let (_, policy) = lab();
    let ms = |t: &str| crate::inventory::parse_time(t).expect("time");
    let periods: Vec<(String, String, u64, u64)> = policy
        .separation_periods(&inv)
        .into_iter()
        .map(|p| (p.pair.host, p.pair.vms.1, p.since_ms, p.until_ms))
        .collect();
    let fin = |host: &str, since: u64, until: u64| {
        (host.to_string(), "fin-fe-01".to_string(), since, until)
    };
    assert_eq!(
        periods,
        vec![
            fin("esx-03", 0, ms("2026-11-02T09:01:00Z")),
            fin(
                "esx-03",
                ms("2026-11-02T09:02:00Z"),
                ms("2026-11-02T09:03:00Z")
            ),
        ]
    );
    assert!(policy.separation_violations(&inv).is_empty(), "apart now");
    // The lab as it is: one period, still open.
    let (lab_inv, _) = lab();
    let open = policy.separation_periods(&lab_inv);
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].since_ms, open[0].until_ms), (0, CURRENT));
}

/// vMotions that create a co-residency (still current, and one ended by
/// a removal), next to the lab's own: history and the current list.
#[test]
fn separation_periods_created_by_vmotion_and_ended_by_removal() {
    let text = std::fs::read_to_string(lab_path("inventory.toml")).expect("lab inventory");
    let history = format!(
        "{text}\n[[vm]]\nname = \"db-02\"\nsince = \"2026-11-02T09:04:00Z\"\nhost = \"esx-02\"\n\
             \n[[vm]]\nname = \"db-01\"\nsince = \"2026-11-02T09:05:00Z\"\nhost = \"esx-01\"\n\
             \n[[vm]]\nname = \"db-02\"\nsince = \"2026-11-02T09:06:00Z\"\nremoved = true\n"
    );
    let inv = Inventory::parse(&history, "history.toml").expect("valid");
    let (_, policy) = lab();
    let ms = |t: &str| crate::inventory::parse_time(t).expect("time");
    let periods = policy.separation_periods(&inv);
    let seen: Vec<(&str, &str, &str, u64, u64)> = periods
        .iter()
        .map(|p| {
            (
                p.pair.host.as_str(),
                p.pair.vms.0.as_str(),
                p.pair.vms.1.as_str(),
                p.since_ms,
                p.until_ms,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "esx-01",
                "web-01",
                "db-01",
                ms("2026-11-02T09:05:00Z"),
                CURRENT
            ),
            (
                "esx-02",
                "web-02",
                "db-02",
                ms("2026-11-02T09:04:00Z"),
                ms("2026-11-02T09:06:00Z")
            ),
            ("esx-03", "payroll-01", "fin-fe-01", 0, CURRENT),
        ]
    );
    assert_eq!(periods[0].pair.zones, ("dmz".to_string(), "db".to_string()));
    let now: Vec<(String, String)> = policy
        .separation_violations(&inv)
        .into_iter()
        .map(|c| (c.host, c.vms.1))
        .collect();
    assert_eq!(
        now,
        vec![
            ("esx-01".to_string(), "db-01".to_string()),
            ("esx-03".to_string(), "fin-fe-01".to_string())
        ]
    );
    // A report window sees the periods that share time with it.
    let window = |from: &str, to: &str| -> Vec<&str> {
        periods
            .iter()
            .filter(|p| p.overlaps(Some(ms(from)), Some(ms(to))))
            .map(|p| p.pair.host.as_str())
            .collect()
    };
    assert_eq!(
        window("2026-11-02T09:00:00Z", "2026-11-02T09:04:00Z"),
        ["esx-03"]
    );
    assert_eq!(
        window("2026-11-02T09:04:00Z", "2026-11-02T09:05:00Z"),
        ["esx-02", "esx-03"]
    );
    assert_eq!(
        window("2026-11-02T09:06:00Z", "2026-11-02T10:00:00Z"),
        ["esx-01", "esx-03"]
    );
    assert!(periods.iter().all(|p| p.overlaps(None, None)));
}

#[test]
fn indexed_zones_equal_direct_zones() {
    let (inv, policy) = lab();
    let placements = policy.placement_zones(&inv);
    assert_eq!(placements.len(), inv.vms.len());
    for (vm, &zone) in inv.vms.iter().zip(&placements) {
        assert_eq!(zone, policy.vm_zone_index(vm));
        for &ip in &vm.ips {
            let index = policy.endpoint_zone(zone, ip);
            assert_eq!(policy.zone_name(index), policy.zone_of(Some(vm), ip));
            let found = inv.lookup_index(None, ip, 0, 0, 0);
            assert_eq!(found.map(|i| &inv.vms[i]), Some(vm));
        }
    }
    let outside = ip("203.0.113.9");
    let internet = policy.endpoint_zone(None, outside);
    assert_eq!(policy.zone_name(internet), "internet");
    assert_eq!(policy.endpoint_zone(Some(999), outside), internet);
    assert_eq!(policy.zone_name(None), UNZONED);
    assert_eq!(policy.zone_name(Some(999)), UNZONED);
    // By index and by name, the same verdicts.
    let (dmz, app) = (policy.zone_index("dmz"), policy.zone_index("app"));
    assert_eq!(
        policy.decide(dmz, app, TCP, 8443),
        policy.judge("dmz", "app", TCP, 8443)
    );
    assert_eq!(policy.decide(dmz, None, TCP, 1).kind, VerdictKind::Unknown);
    assert_eq!(
        policy.decide(Some(999), app, TCP, 1).kind,
        VerdictKind::Unknown
    );
}

/// The CIDR range tables against the definition: the first zone in the
/// file with a prefix holding the address, over generated nested and
/// overlapping prefixes of both families and every boundary address.
#[test]
fn cidr_tables_equal_first_matching_prefix() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..40 {
        let mut text = String::new();
        let mut prefixes: Vec<(usize, Cidr)> = Vec::new();
        for zone in 0..6 {
            let mut cidrs = Vec::new();
            for _ in 0..(next() % 5) {
                // Few distinct high bits, so prefixes nest and overlap.
                let cidr = if next() % 3 == 0 {
                    let len = (next() % 129) as u8;
                    let addr = u128::from(next() % 4) << 120 | u128::from(next() % 4) << 64;
                    Cidr {
                        addr: IpAddr::V6(mask_v6(addr, len).into()),
                        len,
                    }
                } else {
                    let len = (next() % 33) as u8;
                    let addr = ((next() % 4) as u32) << 30 | ((next() % 8) as u32) << 20;
                    Cidr {
                        addr: IpAddr::V4(mask_v4(addr, len).into()),
                        len,
                    }
                };
                cidrs.push(format!("\"{cidr}\""));
                prefixes.push((zone, cidr));
            }
            text.push_str(&format!(
                "[[zone]]\nname = \"z{zone}\"\ncidrs = [{}]\n",
                cidrs.join(", ")
            ));
        }
        let policy = match Policy::parse(&text, "generated.toml") {
            Ok(policy) => policy,
            Err(err) => panic!("round {round}: {err}\n{text}"),
        };
        let expect = |addr: IpAddr| {
            prefixes
                .iter()
                .filter(|(_, c)| c.contains(addr))
                .map(|&(zone, _)| zone)
                .min()
        };
        let mut probes: Vec<IpAddr> = vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::BROADCAST),
            IpAddr::V6(u128::MAX.into()),
            IpAddr::V6(0u128.into()),
        ];
        for (_, c) in &prefixes {
            match c.addr {
                IpAddr::V4(net) => {
                    let first = u32::from(net);
                    let last = first | !mask_v4(u32::MAX, c.len);
                    for a in [first.wrapping_sub(1), first, last, last.wrapping_add(1)] {
                        probes.push(IpAddr::V4(a.into()));
                    }
                }
                IpAddr::V6(net) => {
                    let first = u128::from(net);
                    let last = first | !mask_v6(u128::MAX, c.len);
                    for a in [first.wrapping_sub(1), first, last, last.wrapping_add(1)] {
                        probes.push(IpAddr::V6(a.into()));
                    }
                }
            }
        }
        for _ in 0..200 {
            probes.push(IpAddr::V4(
                (((next() % 4) as u32) << 30 | (next() as u32 & 0x3fff_ffff)).into(),
            ));
        }
        for addr in probes {
            assert_eq!(
                policy.endpoint_zone(None, addr),
                expect(addr),
                "round {round}, {addr}\n{text}"
            );
        }
    }
}

#[test]
fn precedence_between_and_within_kinds() {
    let text = "\
[[zone]]
name = \"by-cidr\"
cidrs = [\"10.0.0.0/8\"]

[[zone]]
name = \"by-vni\"
vnis = [5000]

[[zone]]
name = \"by-vlan\"
vlans = [7]

[[zone]]
name = \"by-pg\"
port_groups = [\"pg\"]

[[zone]]
name = \"by-tag\"
tags = [\"t2\"]

[[zone]]
name = \"by-tag-first\"
tags = [\"t1\"]

[[zone]]
name = \"by-name\"
vm_names = [\"vm-*\"]
";
    let policy = Policy::parse(text, "p.toml").expect("valid");
    let addr = ip("10.1.2.3");
    let mut vm = Vm {
        name: "vm-1".into(),
        host: "h".into(),
        macs: vec![],
        ips: vec![addr],
        port_group: "pg".into(),
        vlan: 7,
        vni: 5000,
        tags: vec!["t1".into(), "t2".into()],
        since_ms: 0,
        until_ms: CURRENT,
    };
    assert_eq!(policy.zone_of(Some(&vm), addr), "by-name");
    vm.name = "other".into();
    assert_eq!(
        policy.zone_of(Some(&vm), addr),
        "by-tag",
        "first zone in the file"
    );
    vm.tags.clear();
    assert_eq!(policy.zone_of(Some(&vm), addr), "by-pg");
    vm.port_group.clear();
    assert_eq!(policy.zone_of(Some(&vm), addr), "by-vlan");
    vm.vlan = 0;
    assert_eq!(policy.zone_of(Some(&vm), addr), "by-vni");
    vm.vni = 0;
    assert_eq!(policy.zone_of(Some(&vm), addr), "by-cidr");
    assert_eq!(policy.zone_of(Some(&vm), ip("192.0.2.1")), UNZONED);
    let mapped = IpAddr::V6(Ipv4Addr::new(10, 9, 9, 9).to_ipv6_mapped());
    assert_eq!(policy.zone_of(None, mapped), "by-cidr");
}

#[test]
fn the_first_name_pattern_in_the_file_wins() {
    // globset matches literals, prefixes and globs with different
    // strategies: file order must hold across them.
    let zone = |name: &str, patterns: &str| {
        format!("[[zone]]\nname = \"{name}\"\nvm_names = [{patterns}]\n")
    };
    let vm = |name: &str| Vm {
        name: name.into(),
        host: "h".into(),
        macs: vec![],
        ips: vec![],
        port_group: String::new(),
        vlan: 0,
        vni: 0,
        tags: vec![],
        since_ms: 0,
        until_ms: CURRENT,
    };
    let addr = ip("192.0.2.1");
    let text = zone("wide", "\"pay*\"") + &zone("exact", "\"payroll-01\", \"db-?\"");
    let policy = Policy::parse(&text, "p.toml").expect("valid");
    assert_eq!(policy.zone_of(Some(&vm("payroll-01")), addr), "wide");
    assert_eq!(policy.zone_of(Some(&vm("db-1")), addr), "exact");
    let text = zone("exact", "\"payroll-01\"") + &zone("wide", "\"x\", \"pay*\"");
    let policy = Policy::parse(&text, "p.toml").expect("valid");
    assert_eq!(policy.zone_of(Some(&vm("payroll-01")), addr), "exact");
    assert_eq!(policy.zone_of(Some(&vm("payroll-02")), addr), "wide");
    assert_eq!(policy.zone_of(Some(&vm("other")), addr), UNZONED);
}

#[test]
fn cidrs_first_zone_wins_and_overlap_warns() {
    let text = "[[zone]]\nname = \"wide\"\ncidrs = [\"10.0.0.0/8\"]\n\
                    [[zone]]\nname = \"narrow\"\ncidrs = [\"10.1.0.0/16\", \"192.168.1.0/24\"]\n";
    let policy = Policy::parse(text, "p.toml").expect("valid");
    assert_eq!(policy.zone_of(None, ip("10.1.2.3")), "wide");
    assert_eq!(policy.zone_of(None, ip("192.168.1.9")), "narrow");
    let warnings = policy.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        (warnings[0].line, warnings[0].field.as_str()),
        (6, "zone.cidrs")
    );
    assert!(warnings[0]
        .message
        .contains("overlaps 10.0.0.0/8 of zone \"wide\""));
}

#[test]
fn l4_matching() {
    let text = "\
[[zone]]
name = \"a\"
tags = [\"a\"]
[[zone]]
name = \"b\"
tags = [\"b\"]
[[rule]]
description = \"ping\"
from = [\"*\"]
to = [\"*\"]
proto = \"icmp\"
action = \"allow\"
[[rule]]
description = \"web\"
from = [\"a\"]
to = [\"b\"]
proto = 6
ports = [\"80\", 443, \"8000-8999\"]
action = \"allow\"
[[rule]]
description = \"no dns inside b\"
from = [\"b\"]
to = [\"b\"]
proto = \"udp\"
ports = [\"53\"]
action = \"deny\"
severity = \"low\"
";
    let policy = Policy::parse(text, "p.toml").expect("valid");
    let rule = |s: &str, d: &str, proto: u8, port: u16| policy.judge(s, d, proto, port).rule;
    assert_eq!(rule("a", "b", 1, 0), "ping");
    assert_eq!(rule("b", "a", 58, 0), "ping");
    assert_eq!(rule("a", "b", TCP, 443), "web");
    assert_eq!(rule("a", "b", TCP, 8000), "web");
    assert_eq!(rule("a", "b", TCP, 8999), "web");
    assert_eq!(rule("a", "b", TCP, 9000), DEFAULT_RULE);
    assert_eq!(rule("a", "b", UDP, 443), DEFAULT_RULE);
    assert_eq!(rule("b", "a", TCP, 443), DEFAULT_RULE);
    let dns = policy.judge("b", "b", UDP, 53);
    assert_eq!((dns.kind, dns.severity), (VerdictKind::Violation, "low"));
    assert_eq!(rule("b", "b", UDP, 54), INTRA_ZONE_RULE);
    assert_eq!(rule("a", "a", UDP, 53), INTRA_ZONE_RULE);
}

#[test]
fn default_cross_zone_allow() {
    let text = "default_cross_zone = \"allow\"\n\
                    [[zone]]\nname = \"a\"\ntags = [\"a\"]\n[[zone]]\nname = \"b\"\ntags = [\"b\"]\n";
    let policy = Policy::parse(text, "p.toml").expect("valid");
    let v = policy.judge("a", "b", TCP, 1);
    assert_eq!(
        (v.kind, v.rule, v.severity),
        (VerdictKind::Allowed, DEFAULT_RULE, "")
    );
}

#[test]
fn revision_follows_content() {
    let text = std::fs::read_to_string(lab_path("policy.toml")).expect("lab policy");
    let a = Policy::parse(&text, "a").expect("valid");
    let b = Policy::parse(&text, "b").expect("valid");
    let c = Policy::parse(&format!("{text}\n# edited\n"), "c").expect("valid");
    assert_eq!(a.revision(), b.revision());
    assert_ne!(a.revision(), c.revision());
    // SHA-256 of the empty string starts e3b0c44298fc.
    assert_eq!(
        Policy::parse("", "empty").expect("valid").revision(),
        "e3b0c44298fc"
    );
}

#[test]
fn cidr_and_port_parsing() {
    assert_eq!(
        Cidr::parse("10.0.0.0/8").map(|c| c.to_string()),
        Ok("10.0.0.0/8".into())
    );
    assert_eq!(Cidr::parse("10.0.0.1").map(|c| c.len), Ok(32));
    assert_eq!(Cidr::parse("fd00::/8").map(|c| c.len), Ok(8));
    assert!(Cidr::parse("10.0.0.1/8").is_err_and(|e| e.contains("10.0.0.0/8")));
    assert!(Cidr::parse("10.0.0.0/33").is_err());
    assert!(Cidr::parse("10.0.0/8").is_err());
    assert!(Cidr::parse("::/129").is_err());
    assert_eq!(
        PortRange::parse("22"),
        Ok(PortRange {
            first: 22,
            last: 22
        })
    );
    assert_eq!(
        PortRange::parse("8000-8999"),
        Ok(PortRange {
            first: 8000,
            last: 8999
        })
    );
    assert!(PortRange::parse("9000-8000").is_err());
    assert!(PortRange::parse("65536").is_err());
    assert!(PortRange::parse("ssh").is_err());
    assert!(PortRange::parse("1-2-3").is_err());
}

fn parse_err(text: &str) -> ConfigError {
    match Policy::parse(text, "p.toml") {
        Ok(policy) => panic!("parsed: {policy:?}"),
        Err(err) => err,
    }
}

fn assert_at(err: &ConfigError, line: usize, field: &str, needle: &str) {
    assert_eq!(
        (err.file.as_str(), err.line, err.field.as_str()),
        ("p.toml", line, field),
        "{err}"
    );
    assert!(err.message.contains(needle), "{err}");
}

/// Lines 1-6: zones "a" and "b".
const ZONES: &str =
    "[[zone]]\nname = \"a\"\ntags = [\"a\"]\n[[zone]]\nname = \"b\"\ntags = [\"b\"]\n";

fn with_rule(body: &str) -> String {
    // The rule's header is line 7, its first key line 8.
    format!("{ZONES}[[rule]]\n{body}")
}

#[test]
fn rule_naming_unknown_zone() {
    let text =
        with_rule("description = \"x\"\nfrom = [\"a\"]\nto = [\"a\", \"c\"]\naction = \"deny\"\n");
    assert_at(&parse_err(&text), 10, "rule.to", "unknown zone \"c\"");
    let text =
        with_rule("description = \"x\"\nfrom = [\"unzoned\"]\nto = [\"a\"]\naction = \"deny\"\n");
    assert_at(&parse_err(&text), 9, "rule.from", "judged unknown");
    let text = with_rule("description = \"x\"\nfrom = []\nto = [\"a\"]\naction = \"deny\"\n");
    assert_at(&parse_err(&text), 9, "rule.from", "empty list");
}

#[test]
fn separate_naming_unknown_zone() {
    let text = format!("separate = [[\"a\", \"b\"],\n  [\"a\", \"nope\"]]\n{ZONES}");
    assert_at(&parse_err(&text), 2, "separate", "unknown zone \"nope\"");
    let text = format!("separate = [[\"a\", \"b\", \"a\"]]\n{ZONES}");
    assert_at(&parse_err(&text), 1, "separate", "pair of zones");
}

#[test]
fn bad_ports_and_protos() {
    let rule = |proto: &str, ports: &str| {
        with_rule(&format!(
                "description = \"x\"\nfrom = [\"a\"]\nto = [\"b\"]\n{proto}\n{ports}\naction = \"allow\"\n"
            ))
    };
    let err = parse_err(&rule("proto = \"tcp\"", "ports = [\"22\", \"9000-8000\"]"));
    assert_at(&err, 12, "rule.ports", "backwards");
    let err = parse_err(&rule("proto = \"tcp\"", "ports = [\"70000\"]"));
    assert_at(&err, 12, "rule.ports", "not a port");
    let err = parse_err(&rule("proto = \"tcp\"", "ports = []"));
    assert_at(&err, 12, "rule.ports", "empty list");
    let err = parse_err(&rule("proto = \"icmp\"", "ports = [\"22\"]"));
    assert_at(&err, 12, "rule.ports", "ports need proto");
    let err = parse_err(&rule("", "ports = [\"22\"]"));
    assert_at(&err, 12, "rule.ports", "ports need proto");
    let err = parse_err(&rule("proto = \"tpc\"", ""));
    assert_at(&err, 11, "rule.proto", "not a protocol");
    let err = parse_err(&rule("proto = 256", ""));
    assert_at(&err, 11, "rule.proto", "not a protocol");
}

#[test]
fn bad_zone_selectors() {
    let err = parse_err("[[zone]]\nname = \"a\"\ncidrs = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n");
    assert_at(&err, 3, "zone.cidrs", "prefix length");
    let err = parse_err("[[zone]]\nname = \"a\"\ncidrs = [\"10.1.0.0/8\"]\n");
    assert_at(&err, 3, "zone.cidrs", "host bits");
    let err = parse_err("[[zone]]\nname = \"a\"\nvm_names = [\"web-[\"]\n");
    assert_at(&err, 3, "zone.vm_names", "");
    let err = parse_err("[[zone]]\nname = \"a\"\nvlans = [4095]\n");
    assert_at(&err, 3, "zone.vlans", "4095");
    let err = parse_err("[[zone]]\nname = \"a\"\nvnis = [0]\n");
    assert_at(&err, 3, "zone.vnis", "VNI 0");
    let err = parse_err(&format!("{ZONES}[[zone]]\nname = \"a\"\ntags = [\"x\"]\n"));
    assert_at(
        &err,
        8,
        "zone.name",
        "duplicate zone \"a\" (first at line 2)",
    );
    let err = parse_err("[[zone]]\nname = \"*\"\n");
    assert_at(&err, 2, "zone.name", "reserved");
    let err = parse_err("[[zone]]\nname = \"a\"\ntag = [\"x\"]\n");
    assert_at(&err, 3, "zone.tag", "unknown field");
    let err = parse_err("[[zone]]\nname = \"a\"\ncidrs = [\"10.0.0.0/8\", \"ten/8\"]\n");
    assert_at(&err, 3, "zone.cidrs", "is not a CIDR");
}

#[test]
fn empty_description_and_allow_severity() {
    let err = parse_err(&with_rule(
        "description = \" \"\nfrom = [\"a\"]\nto = [\"b\"]\naction = \"deny\"\n",
    ));
    assert_at(&err, 8, "rule.description", "empty description");
    let text = with_rule(
        "description = \"x\"\nfrom = [\"a\"]\nto = [\"b\"]\naction = \"allow\"\n\
             severity = \"high\"\n",
    );
    let policy = Policy::parse(&text, "p.toml").expect("valid");
    let warnings = policy.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_at(
        &warnings[0],
        12,
        "rule.severity",
        "severity of an allow rule",
    );
    assert_eq!(policy.rules()[0].severity, "");
}

#[test]
fn bad_rule_fields() {
    let text =
        with_rule("description = \"x\"\nfrom = [\"a\"]\nto = [\"b\"]\naction = \"permit\"\n");
    assert_at(&parse_err(&text), 11, "rule.action", "unknown variant");
    let text = with_rule("description = \"x\"\nfrom = [\"a\"]\nto = [\"b\"]\naction = \"deny\"\nseverity = \"urgent\"\n");
    assert_at(&parse_err(&text), 12, "rule.severity", "unknown severity");
    let text = with_rule("description = \"x\"\nfrom = [\"a\"]\nto = [\"b\"]\n");
    assert_eq!(parse_err(&text).field, "rule.action");
    let text = format!(
        "{}[[rule]]\ndescription = \"x\"\nfrom = [\"b\"]\nto = [\"a\"]\naction = \"deny\"\n",
        with_rule("description = \"x\"\nfrom = [\"a\"]\nto = [\"b\"]\naction = \"deny\"\n")
    );
    assert_at(&parse_err(&text), 13, "rule.description", "first at line 8");
    let err = parse_err("default_severity = \"severe\"\n");
    assert_at(&err, 1, "default_severity", "unknown severity");
    let err = parse_err("default_cross_zone = \"maybe\"\n");
    assert_at(&err, 1, "default_cross_zone", "unknown variant");
}

#[test]
fn shadowed_rules_warn() {
    let text = with_rule(
            "description = \"all tcp a to b\"\nfrom = [\"a\"]\nto = [\"*\"]\nproto = \"tcp\"\naction = \"deny\"\n\
             [[rule]]\ndescription = \"web a to b\"\nfrom = [\"a\"]\nto = [\"b\"]\nproto = \"tcp\"\nports = [\"443\"]\naction = \"allow\"\n\
             [[rule]]\ndescription = \"udp a to b\"\nfrom = [\"a\", \"b\"]\nto = [\"b\"]\nproto = \"udp\"\nports = [\"1-100\", \"101-200\"]\naction = \"allow\"\n\
             [[rule]]\ndescription = \"dns\"\nfrom = [\"b\"]\nto = [\"b\"]\nproto = \"udp\"\nports = [\"53\", \"150-160\"]\naction = \"allow\"\n\
             [[rule]]\ndescription = \"icmp\"\nfrom = [\"a\"]\nto = [\"b\"]\nproto = \"icmp\"\naction = \"allow\"\n",
        );
    let policy = Policy::parse(&text, "p.toml").expect("valid");
    let warnings = policy.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_at(
        &warnings[0],
        14,
        "rule",
        "\"web a to b\" never decides: rule \"all tcp a to b\" (line 8)",
    );
    assert_at(
        &warnings[1],
        28,
        "rule",
        "\"dns\" never decides: rule \"udp a to b\"",
    );
}

#[test]
fn unreachable_zones_warn() {
    let text = "[[zone]]\nname = \"a\"\ntags = [\"x\"]\nvlans = [7]\n\
                    [[zone]]\nname = \"b\"\ntags = [\"x\"]\n\
                    [[zone]]\nname = \"c\"\n\
                    [[zone]]\nname = \"d\"\ntags = [\"x\", \"y\"]\n";
    let policy = Policy::parse(text, "p.toml").expect("valid");
    let found: Vec<(usize, bool)> = policy
        .warnings()
        .iter()
        .map(|w| {
            (
                w.line,
                w.message.contains("unreachable") || w.message.contains("no selectors"),
            )
        })
        .collect();
    assert_eq!(
        found,
        [(6, true), (9, true), (12, false)],
        "{:?}",
        policy.warnings()
    );
    assert_at(
        &policy.warnings()[2],
        12,
        "zone.tags",
        "\"x\" already selects zone \"a\"",
    );

    let (inv, _) = lab();
    let text = "[[zone]]\nname = \"dmz\"\ntags = [\"dmz\"]\n[[zone]]\nname = \"ghost\"\nvm_names = [\"ghost-*\"]\n\
                    [[zone]]\nname = \"outside\"\ncidrs = [\"0.0.0.0/0\"]\n";
    let policy = Policy::parse(text, "p.toml").expect("valid");
    let empty = policy.check_inventory(&inv);
    assert_eq!(empty.len(), 1, "{empty:?}");
    assert_at(&empty[0], 5, "zone", "zone \"ghost\"");
}

#[test]
fn unreadable_file() {
    let err = Policy::load(Path::new("/nonexistent/eastwest/policy.toml")).expect_err("missing");
    assert_eq!((err.line, err.field.as_str()), (0, ""));
}
