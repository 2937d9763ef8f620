//! Per-flow cost of enrich + verdict alone, on one thread: for each flow
//! the two endpoint lookups in the inventory (MAC, then address scoped by
//! VLAN/VNI, at the flow's time), the two zones (the placement's, else by
//! CIDR) and the rule match, on a generated data-center estate:
//!
//! * 64 hosts; `VMS` VMs (default 4,000) with a MAC, an IPv4 and an IPv6
//!   address each, a tenth of them moved once by a vMotion an hour before
//!   the flows, and 500 tenant VMs in two VNIs reusing the same addresses;
//! * 48 zones: 12 by VM name pattern, 12 by tag, 8 by port group, 8 by
//!   VLAN, 4 by VNI (every one with its own IPv4 and IPv6 CIDRs too), and 4
//!   CIDR-only zones for addresses outside the inventory (corporate,
//!   partners, management, internet);
//! * 300 ordered rules over zone pairs, ports, protocols and `*`;
//! * 65,536 flows: 60 % endpoints with MAC and address, 25 % address only,
//!   5 % tenant addresses scoped by VNI, 10 % addresses outside the
//!   inventory; TCP/UDP/ICMP, a third on ports some rule names.
//!
//! It prints evaluations/s on one core, the median of `RUNS` runs (env,
//! default 3), for 1,000, 4,000 and 16,000 VMs (growth), and with
//! `BENCH_JSON=<path>` writes the figures as scripts/bench reads them.
//! `BENCH_QUICK=1`: one run, fewer flows. Run with `scripts/bench-policy` or
//! `cargo bench -p eastwest-core --bench policy`.
//!
//! A plain harness (no criterion): like the exporter and collector benches,
//! it reports medians of whole runs and writes the JSON the orchestrator
//! reads; no extra dependency to build.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use eastwest_core::inventory::{Inventory, Mac};
use eastwest_core::policy::{Policy, VerdictKind};

/// The flows' time: 2026-11-02T09:00:00Z.
const AT_MS: u64 = 1_793_610_000_000;
const HOSTS: usize = 64;
/// Zones selected by VM attributes (name, tag, port group, VLAN, VNI).
const VM_ZONES: usize = 44;
const TENANT_VMS: usize = 250;
const RULES: usize = 300;

/// A small deterministic generator (64-bit LCG, high bits out).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mac(i: usize) -> String {
    format!(
        "00:50:56:{:02x}:{:02x}:{:02x}",
        (i >> 16) & 0xff,
        (i >> 8) & 0xff,
        i & 0xff
    )
}

fn v4(zone: usize, i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, zone as u8, (i >> 8) as u8, i as u8)
}

fn v6(zone: usize, i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, zone as u16, 0, 0, 0, 0, 0, i as u16 + 1)
}

/// What VM `i` is: its zone and the attributes that put it there.
fn vm_toml(i: usize, out: &mut String) {
    let zone = i % VM_ZONES;
    let name = if zone < 12 {
        format!("app{zone:02}-{i}")
    } else {
        format!("vm-{i}")
    };
    let tags = if (12..24).contains(&zone) {
        format!("[\"tier{zone}\", \"prod\"]")
    } else {
        "[\"prod\"]".to_string()
    };
    let port_group = if (24..32).contains(&zone) {
        format!("pg-{zone}")
    } else {
        "pg-other".to_string()
    };
    let vlan = if (32..40).contains(&zone) {
        100 + zone
    } else {
        0
    };
    let vni = if (40..44).contains(&zone) {
        5000 + zone
    } else {
        0
    };
    out.push_str(&format!(
        "[[vm]]\nname = \"{name}\"\nhost = \"esx-{:03}\"\nmacs = [\"{}\"]\nips = [\"{}\", \"{}\"]\n\
         tags = {tags}\nport_group = \"{port_group}\"\nvlan = {vlan}\nvni = {vni}\n\n",
        i % HOSTS,
        mac(i),
        v4(zone, i),
        v6(zone, i),
    ));
    if i.is_multiple_of(10) {
        out.push_str(&format!(
            "[[vm]]\nname = \"{name}\"\nsince = \"2026-11-02T08:00:00Z\"\nhost = \"esx-{:03}\"\n\n",
            (i + 1) % HOSTS
        ));
    }
}

fn inventory_text(vms: usize) -> String {
    let mut text = String::new();
    for h in 0..HOSTS {
        text.push_str(&format!(
            "[[host]]\nname = \"esx-{h:03}\"\ndomain = {}\n\n",
            h + 1
        ));
    }
    for i in 0..vms {
        vm_toml(i, &mut text);
    }
    // Two tenants reusing 100.64.0.0/24, told apart by VNI.
    for k in 0..TENANT_VMS {
        for (tenant, vni) in [("a", 7001), ("b", 7002)] {
            text.push_str(&format!(
                "[[vm]]\nname = \"tenant-{tenant}-{k}\"\nhost = \"esx-{:03}\"\nips = [\"100.64.{}.{}\"]\n\
                 tags = [\"tier{}\"]\nvni = {vni}\n\n",
                k % HOSTS,
                k >> 8,
                k & 0xff,
                if tenant == "a" { 12 } else { 13 },
            ));
        }
    }
    text
}

fn zone_name(z: usize) -> String {
    match z {
        44 => "corp".into(),
        45 => "partners".into(),
        46 => "dc-mgmt".into(),
        47 => "internet".into(),
        z => format!("z{z:02}"),
    }
}

fn policy_text() -> String {
    let mut text = String::from(
        "default_cross_zone = \"deny\"\ndefault_severity = \"medium\"\n\
         separate = [[\"z00\", \"z12\"], [\"z24\", \"z40\"]]\n\n",
    );
    for z in 0..VM_ZONES {
        let selector = match z {
            0..12 => format!("vm_names = [\"app{z:02}-*\"]"),
            12..24 => format!("tags = [\"tier{z}\"]"),
            24..32 => format!("port_groups = [\"pg-{z}\"]"),
            32..40 => format!("vlans = [{}]", 100 + z),
            _ => format!("vnis = [{}]", 5000 + z),
        };
        text.push_str(&format!(
            "[[zone]]\nname = \"{}\"\n{selector}\ncidrs = [\"10.{z}.0.0/16\", \"fd00:{z:x}::/32\"]\n\n",
            zone_name(z)
        ));
    }
    for (z, cidrs) in [
        (44, "\"172.16.0.0/12\""),
        (45, "\"192.168.0.0/16\", \"2001:db8:100::/48\""),
        (46, "\"10.255.0.0/16\""),
        (47, "\"0.0.0.0/0\", \"::/0\""),
    ] {
        text.push_str(&format!(
            "[[zone]]\nname = \"{}\"\ncidrs = [{cidrs}]\n\n",
            zone_name(z)
        ));
    }
    let mut rng = Lcg(7);
    for r in 0..RULES {
        let from = zone_name(r % 48);
        let to = if r.is_multiple_of(37) {
            "*".to_string()
        } else {
            zone_name(rng.below(48))
        };
        let l4 = match r % 4 {
            0 => format!("proto = \"tcp\"\nports = [\"{}\"]\n", 1000 + r),
            1 => format!("proto = \"udp\"\nports = [\"{}-{}\"]\n", 2000 + r, 2010 + r),
            2 => "proto = \"icmp\"\n".to_string(),
            _ => String::new(),
        };
        let action = if r.is_multiple_of(3) {
            "action = \"deny\"\nseverity = \"high\"\n"
        } else {
            "action = \"allow\"\n"
        };
        text.push_str(&format!(
            "[[rule]]\ndescription = \"rule {r}\"\nfrom = [\"{from}\"]\nto = [\"{to}\"]\n{l4}{action}\n"
        ));
    }
    text
}

/// One endpoint as a flow record gives it.
#[derive(Clone, Copy)]
struct End {
    mac: Option<Mac>,
    ip: IpAddr,
    vlan: u16,
    vni: u32,
}

#[derive(Clone, Copy)]
struct Flow {
    src: End,
    dst: End,
    proto: u8,
    port: u16,
}

fn endpoint(rng: &mut Lcg, vms: usize) -> End {
    let plain = |ip: IpAddr| End {
        mac: None,
        ip,
        vlan: 0,
        vni: 0,
    };
    let roll = rng.below(100);
    let i = rng.below(vms);
    let zone = i % VM_ZONES;
    let ip = if rng.below(4) == 0 {
        IpAddr::V6(v6(zone, i))
    } else {
        IpAddr::V4(v4(zone, i))
    };
    match roll {
        0..60 => {
            let m = i;
            End {
                mac: Some([0x00, 0x50, 0x56, (m >> 16) as u8, (m >> 8) as u8, m as u8]),
                ip,
                vlan: if (32..40).contains(&zone) {
                    100 + zone as u16
                } else {
                    0
                },
                vni: if (40..44).contains(&zone) {
                    5000 + zone as u32
                } else {
                    0
                },
            }
        }
        60..85 => plain(ip),
        85..90 => {
            let k = rng.below(TENANT_VMS);
            End {
                mac: None,
                ip: IpAddr::V4(Ipv4Addr::new(100, 64, (k >> 8) as u8, k as u8)),
                vlan: 0,
                vni: 7001 + rng.below(2) as u32,
            }
        }
        _ => match rng.below(4) {
            0 => plain(IpAddr::V4(Ipv4Addr::new(172, 20, rng.below(256) as u8, 9))),
            1 => plain(IpAddr::V6(Ipv6Addr::new(
                0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 7,
            ))),
            2 => plain(IpAddr::V4(Ipv4Addr::new(8, 8, rng.below(256) as u8, 8))),
            _ => plain(IpAddr::V4(Ipv4Addr::new(10, 200, 0, rng.below(256) as u8))),
        },
    }
}

fn flows(count: usize, vms: usize) -> Vec<Flow> {
    let mut rng = Lcg(42);
    (0..count)
        .map(|_| {
            let (proto, port) = match rng.below(6) {
                0 => (6, 1000 + rng.below(RULES) as u16),
                1 => (17, 2000 + rng.below(RULES + 10) as u16),
                2 => (1, 0),
                3 => (6, 443),
                4 => (17, 53),
                _ => (6, 5432),
            };
            Flow {
                src: endpoint(&mut rng, vms),
                dst: endpoint(&mut rng, vms),
                proto,
                port,
            }
        })
        .collect()
}

/// The estate, parsed, and its flows.
struct Estate {
    inventory: Inventory,
    policy: Policy,
    /// `policy.placement_zones(&inventory)`.
    zones: Vec<Option<usize>>,
    flows: Vec<Flow>,
}

fn estate(vms: usize, flow_count: usize) -> Estate {
    let inventory = match Inventory::parse(&inventory_text(vms), "bench-inventory.toml") {
        Ok(inventory) => inventory,
        Err(err) => panic!("generated inventory: {err}"),
    };
    let policy = match Policy::parse(&policy_text(), "bench-policy.toml") {
        Ok(policy) => policy,
        Err(err) => panic!("generated policy: {err}"),
    };
    Estate {
        zones: policy.placement_zones(&inventory),
        inventory,
        policy,
        flows: flows(flow_count, vms),
    }
}

/// Counts of each verdict kind over one pass (checks the work is real).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    allowed: u64,
    violation: u64,
    unknown: u64,
    known_endpoints: u64,
}

/// One pass of enrich + verdict over every flow, as the collector does it:
/// placement by MAC then address, the placement's zone from the
/// per-placement table, else the address's CIDR zone, then the rule match.
fn pass(estate: &Estate, tally: &mut Tally) {
    let (inv, policy, zones) = (&estate.inventory, &estate.policy, &estate.zones);
    let zone = |placement: Option<usize>, ip: IpAddr| {
        policy.endpoint_zone(placement.and_then(|p| zones[p]), ip)
    };
    for flow in &estate.flows {
        let (s, d) = (flow.src, flow.dst);
        let src = inv.lookup_index(s.mac, s.ip, s.vlan, s.vni, AT_MS);
        let dst = inv.lookup_index(d.mac, d.ip, d.vlan, d.vni, AT_MS);
        tally.known_endpoints += u64::from(src.is_some()) + u64::from(dst.is_some());
        let verdict = policy.decide(zone(src, s.ip), zone(dst, d.ip), flow.proto, flow.port);
        count(tally, verdict.kind);
    }
}

fn count(tally: &mut Tally, kind: VerdictKind) {
    match black_box(kind) {
        VerdictKind::Allowed => tally.allowed += 1,
        VerdictKind::Violation => tally.violation += 1,
        VerdictKind::Unknown => tally.unknown += 1,
    }
}

/// Evaluations per second: median of `runs` runs of `rounds` passes.
fn measure(estate: &Estate, runs: usize, rounds: usize) -> (f64, Tally) {
    let mut first = Tally::default();
    pass(estate, &mut first);
    let mut rates: Vec<f64> = (0..runs)
        .map(|_| {
            let mut tally = Tally::default();
            let started = Instant::now();
            for _ in 0..rounds {
                pass(estate, &mut tally);
            }
            (estate.flows.len() * rounds) as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    (rates[rates.len() / 2], first)
}

fn main() {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let runs = if quick {
        1
    } else {
        std::env::var("RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(3)
    };
    let (flow_count, rounds) = if quick { (16_384, 5) } else { (65_536, 40) };
    let mut growth = Vec::new();
    let mut headline = None;
    for vms in [1_000, 4_000, 16_000] {
        let started = Instant::now();
        let estate = estate(vms, flow_count);
        let load_s = started.elapsed().as_secs_f64();
        let (rate, tally) = measure(&estate, runs, rounds);
        println!(
            "enrich + verdict, {vms} VMs ({} placements), {} zones, {} rules: {:.2} M evaluations/s on one core = {:.0} ns/flow \
             (median of {runs} runs of {} flows; one pass: {} allowed, {} violation, {} unknown, {} endpoints known; load {load_s:.2} s)",
            estate.inventory.vms.len(),
            estate.policy.zones().len(),
            estate.policy.rules().len(),
            rate / 1e6,
            1e9 / rate,
            flow_count * rounds,
            tally.allowed,
            tally.violation,
            tally.unknown,
            tally.known_endpoints,
        );
        growth.push(serde_json::json!({
            "size": format!("{vms} VMs"),
            "figures": {"evaluations_per_s": rate.round(), "ns_per_flow": (1e9 / rate * 10.0).round() / 10.0, "load_s": (load_s * 1000.0).round() / 1000.0},
        }));
        if vms == 4_000 {
            headline = Some((
                rate,
                estate.inventory.vms.len(),
                estate.policy.rules().len(),
            ));
        }
    }
    let Ok(path) = std::env::var("BENCH_JSON") else {
        return;
    };
    let Some((rate, placements, rules)) = headline else {
        return;
    };
    let json = serde_json::json!({
        "component": "policy",
        "command": "scripts/bench-policy",
        "runs": runs,
        "inputs": format!(
            "generated estate: 64 hosts, 4,000 VMs + 500 tenant VMs in two VNIs sharing addresses ({placements} placements with vMotion history), \
             48 zones (name patterns, tags, port groups, VLANs, VNIs, CIDRs), {rules} rules; {flow_count} flows (60 % MAC + address, 25 % address only, \
             5 % VNI-scoped tenant addresses, 10 % outside the inventory; IPv4 and IPv6)"
        ),
        "figures": [
            {"id": "evaluations_per_s_per_core", "what": "enrich + verdict per flow (two inventory lookups, two zones, rule match), one thread, 4,000 VMs",
             "unit": "evaluations/s", "ours": rate.round(), "peer": null, "peer_value": null, "target": 2_000_000, "better": "higher"},
            {"id": "ns_per_evaluation", "what": "time per flow for enrich + verdict, 4,000 VMs",
             "unit": "ns", "ours": (1e9 / rate * 10.0).round() / 10.0, "peer": null, "peer_value": null, "target": 500, "better": "lower"},
        ],
        "growth": growth,
        "notes": [
            "core evaluation only (cargo bench -p eastwest-core --bench policy): the collector's per-row column copies are measured by the collector bench",
            "target: the collector's decode path goal of 2M flows/s/core; 500 ns is that budget for evaluation alone",
        ],
    });
    if let Err(err) = std::fs::write(&path, format!("{json:#}\n")) {
        eprintln!("BENCH_JSON {path}: {err}");
        std::process::exit(1);
    }
}
