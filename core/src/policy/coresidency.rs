//! Co-residency: VMs of zones that `separate` keeps apart sharing a host.

use foldhash::HashMap;
use toml::Spanned;

use super::file::Builder;
use super::Policy;
use crate::config::ConfigError;
use crate::inventory::{Inventory, Vm, CURRENT};

/// Two VMs of zones that must never share a host, sharing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoResidency {
    pub host: String,
    /// The `separate` pair, in the order the policy wrote it.
    pub zones: (String, String),
    /// The VMs, in the order of `zones`.
    pub vms: (String, String),
}

/// A [`CoResidency`] and how long it lasted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoResidencyPeriod {
    pub pair: CoResidency,
    /// When the placement that brought them together took effect (epoch ms).
    pub since_ms: u64,
    /// When one of them left (exclusive), [`CURRENT`] if they still share it.
    pub until_ms: u64,
}

impl CoResidencyPeriod {
    /// Whether the period shares time with the window `[from_ms, to_ms)`
    /// (None: open on that side), as a report over that window lists it.
    pub fn overlaps(&self, from_ms: Option<u64>, to_ms: Option<u64>) -> bool {
        from_ms.is_none_or(|from| self.until_ms > from) && to_ms.is_none_or(|to| self.since_ms < to)
    }
}

impl Builder<'_> {
    pub(super) fn separate(
        &self,
        defs: &[Spanned<Vec<Spanned<String>>>],
        zone_by_name: &HashMap<String, usize>,
    ) -> Result<Vec<(String, String)>, ConfigError> {
        let mut pairs = Vec::with_capacity(defs.len());
        for pair in defs {
            let [a, b] = pair.get_ref().as_slice() else {
                return Err(self.error(
                    pair.span().start,
                    "separate",
                    format!(
                        "each entry is a pair of zones, [\"a\", \"b\"]; this one has {}",
                        pair.get_ref().len()
                    ),
                ));
            };
            for zone in [a, b] {
                if !zone_by_name.contains_key(zone.get_ref()) {
                    return Err(self.error(
                        zone.span().start,
                        "separate",
                        format!("unknown zone {:?}", zone.get_ref()),
                    ));
                }
            }
            pairs.push((a.get_ref().clone(), b.get_ref().clone()));
        }
        Ok(pairs)
    }
}

impl Policy {
    /// Pairs of VMs in zones that `separate` keeps apart, sharing a host
    /// now (current placements). Ordered by host (inventory order), then
    /// `separate` pair, then VMs in inventory order. A pair naming one zone
    /// twice means no two VMs of that zone may share a host.
    pub fn separation_violations(&self, inventory: &Inventory) -> Vec<CoResidency> {
        let current: Vec<&Vm> = inventory.current().collect();
        inventory
            .hosts
            .iter()
            .flat_map(|host| self.sharing(&host.name, &current))
            .collect()
    }

    /// Every period in the inventory's history during which VMs of zones
    /// `separate` keeps apart shared a host: from the placement change that
    /// brought them together to the one that parted them ([`CURRENT`] if
    /// they still share it). Ordered by host, then start, then as
    /// [`separation_violations`](Policy::separation_violations).
    pub fn separation_periods(&self, inventory: &Inventory) -> Vec<CoResidencyPeriod> {
        let mut periods = Vec::new();
        for host in &inventory.hosts {
            let here: Vec<&Vm> = inventory
                .vms
                .iter()
                .filter(|vm| vm.host == host.name)
                .collect();
            let mut bounds: Vec<u64> = here
                .iter()
                .flat_map(|vm| [vm.since_ms, vm.until_ms])
                .filter(|&t| t != CURRENT)
                .collect();
            bounds.sort_unstable();
            bounds.dedup();
            // Periods still open, by the co-residency they are of.
            let mut open: Vec<CoResidencyPeriod> = Vec::new();
            for (i, &start) in bounds.iter().enumerate() {
                let end = bounds.get(i + 1).copied().unwrap_or(CURRENT);
                let then: Vec<&Vm> = here
                    .iter()
                    .copied()
                    .filter(|vm| vm.holds_at(start))
                    .collect();
                let now = self.sharing(&host.name, &then);
                let (still, ended): (Vec<_>, Vec<_>) =
                    open.into_iter().partition(|p| now.contains(&p.pair));
                periods.extend(ended);
                open = still;
                for pair in now {
                    match open.iter_mut().find(|p| p.pair == pair) {
                        Some(period) => period.until_ms = end,
                        None => open.push(CoResidencyPeriod {
                            pair,
                            since_ms: start,
                            until_ms: end,
                        }),
                    }
                }
            }
            periods.extend(open);
        }
        periods.sort_by(|a, b| {
            let host =
                |p: &CoResidencyPeriod| inventory.hosts.iter().position(|h| h.name == p.pair.host);
            (host(a), a.since_ms).cmp(&(host(b), b.since_ms))
        });
        periods
    }

    /// The separated pairs among `vms` (placements on `host` at one time).
    fn sharing(&self, host: &str, vms: &[&Vm]) -> Vec<CoResidency> {
        let here: Vec<(&Vm, usize)> = vms
            .iter()
            .filter(|vm| vm.host == host)
            .filter_map(|&vm| self.vm_zone(vm).map(|z| (vm, z)))
            .collect();
        let mut found = Vec::new();
        for (a, b) in &self.separate {
            let (Some(&za), Some(&zb)) = (self.zone_by_name.get(a), self.zone_by_name.get(b))
            else {
                continue;
            };
            for (i, &(vm_a, zone_a)) in here.iter().enumerate() {
                if zone_a != za {
                    continue;
                }
                for (j, &(vm_b, zone_b)) in here.iter().enumerate() {
                    if zone_b != zb || i == j || (za == zb && j < i) {
                        continue;
                    }
                    found.push(CoResidency {
                        host: host.to_string(),
                        zones: (a.clone(), b.clone()),
                        vms: (vm_a.name.clone(), vm_b.name.clone()),
                    });
                }
            }
        }
        found
    }
}
