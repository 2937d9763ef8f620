//! Per-flow cost of enrichment and verdict: for each flow, the two endpoint
//! lookups in the inventory (MAC, then address scoped by VNI, at the flow's
//! time) and the two zone lookups and the judgement of the lab policy, on
//! one thread. Run with `cargo bench -p eastwest-core --bench policy`.
//!
//! The flows cycle through every pair of lab addresses (known VMs, and
//! addresses outside the inventory zoned by CIDR), with and without MACs,
//! over TCP/UDP/ICMP and several ports, so each branch of the lookups runs.

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;

use eastwest_core::inventory::{Inventory, Mac};
use eastwest_core::policy::Policy;

fn main() {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab");
    let inventory = match Inventory::load(&lab.join("inventory.toml")) {
        Ok(inventory) => inventory,
        Err(err) => panic!("lab inventory: {err}"),
    };
    let policy = match Policy::load(&lab.join("policy.toml")) {
        Ok(policy) => policy,
        Err(err) => panic!("lab policy: {err}"),
    };
    let mut endpoints: Vec<(Option<Mac>, IpAddr, u32)> = Vec::new();
    for vm in &inventory.vms {
        for &ip in &vm.ips {
            endpoints.push((vm.macs.first().copied(), ip, vm.vni));
            endpoints.push((None, ip, vm.vni));
        }
    }
    for outside in ["203.0.113.7", "2001:db8::7", "192.0.2.1"] {
        if let Ok(ip) = outside.parse() {
            endpoints.push((None, ip, 0));
        }
    }
    let l4 = [
        (6u8, 8443u16),
        (6, 5432),
        (6, 22),
        (17, 11211),
        (1, 0),
        (6, 443),
    ];
    let mut flows = Vec::new();
    for (i, src) in endpoints.iter().enumerate() {
        for (j, dst) in endpoints.iter().enumerate() {
            let (proto, port) = l4[(i + j) % l4.len()];
            flows.push((*src, *dst, proto, port));
        }
    }
    let at_ms = 1_793_610_000_000;
    const ROUNDS: usize = 2_000;
    let mut violations = 0u64;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        for &((smac, sip, svni), (dmac, dip, dvni), proto, port) in &flows {
            let src = inventory.lookup(smac, sip, 0, svni, at_ms);
            let dst = inventory.lookup(dmac, dip, 0, dvni, at_ms);
            let verdict = policy.judge(
                policy.zone_of(src, sip),
                policy.zone_of(dst, dip),
                proto,
                port,
            );
            violations += u64::from(black_box(verdict).kind.as_str() == "violation");
        }
    }
    let elapsed = started.elapsed();
    let total = (flows.len() * ROUNDS) as f64;
    println!(
        "enrich + verdict: {} flows ({} distinct) in {:.3} s = {:.0} ns/flow, {:.2} M flows/s on one core ({violations} violations)",
        flows.len() * ROUNDS,
        flows.len(),
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / total,
        total / elapsed.as_secs_f64() / 1e6,
    );
}
