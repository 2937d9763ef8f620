//! Zones: CIDRs, the zone selectors, their checks and warnings, and the
//! lookups that put an endpoint in a zone.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use foldhash::{HashMap, HashMapExt};
use globset::Glob;
use toml::Spanned;

use super::file::{Builder, ZoneDef};
use super::{Policy, ANY_ZONE, UNZONED};
use crate::config::{self, ConfigError};
use crate::inventory::{Inventory, Vm};

/// An IP prefix such as `10.10.0.0/16` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub len: u8,
}

impl Cidr {
    /// Parse `addr/len`; a bare address is a host prefix. Host bits must be 0.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr_text, len_text) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("{text:?} is not a CIDR (want 10.0.0.0/8 or fd00::/8)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len_text {
            None => max,
            Some(len) => match len.parse::<u8>() {
                Ok(len) if len <= max => len,
                _ => return Err(format!("{text:?}: prefix length must be 0-{max}")),
            },
        };
        let cidr = Cidr { addr, len };
        if cidr.network() != addr {
            return Err(format!(
                "{text:?} has host bits set (did you mean {}?)",
                Cidr {
                    addr: cidr.network(),
                    len
                }
            ));
        }
        Ok(cidr)
    }

    /// The address with the host bits cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(v4) => IpAddr::V4(mask_v4(u32::from(v4), self.len).into()),
            IpAddr::V6(v6) => IpAddr::V6(mask_v6(u128::from(v6), self.len).into()),
        }
    }

    /// Whether `addr` is inside this prefix (same family only).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => mask_v4(u32::from(a), self.len) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(a)) => mask_v6(u128::from(a), self.len) == u128::from(net),
            _ => false,
        }
    }

    /// Whether the two prefixes share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        if self.len <= other.len {
            self.contains(other.addr)
        } else {
            other.contains(self.addr)
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

pub(super) fn mask_v4(addr: u32, len: u8) -> u32 {
    match len {
        0 => 0,
        len => addr & (u32::MAX << (32 - u32::from(len.min(32)))),
    }
}

pub(super) fn mask_v6(addr: u128, len: u8) -> u128 {
    match len {
        0 => 0,
        len => addr & (u128::MAX << (128 - u32::from(len.min(128)))),
    }
}

/// A zone and the selectors that put endpoints in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    /// VM name glob patterns (`payroll-*`), case-sensitive.
    pub vm_names: Vec<String>,
    pub tags: Vec<String>,
    pub port_groups: Vec<String>,
    pub vlans: Vec<u16>,
    pub vnis: Vec<u32>,
    pub cidrs: Vec<Cidr>,
    /// Line of the zone's `name` in the policy file.
    pub line: usize,
}

impl Zone {
    fn has_selectors(&self) -> bool {
        !(self.vm_names.is_empty()
            && self.tags.is_empty()
            && self.port_groups.is_empty()
            && self.vlans.is_empty()
            && self.vnis.is_empty()
            && self.cidrs.is_empty())
    }
}

/// Flatten prefixes `(first, last, zone)` (addresses as u128; IPv4 in the
/// low 32 bits) into sorted disjoint ranges, each with the smallest zone
/// index among the prefixes holding it (the first zone in the file wins),
/// adjacent ranges of one zone merged. A sweep over the prefix boundaries:
/// O(p log p) for p prefixes.
pub(super) fn range_table(prefixes: &[(u128, u128, usize)]) -> Vec<(u128, u128, usize)> {
    // (position, +1 a prefix opens / -1 one closed just before, zone)
    let mut events: Vec<(u128, i8, usize)> = Vec::with_capacity(prefixes.len() * 2);
    for &(first, last, zone) in prefixes {
        events.push((first, 1, zone));
        if let Some(end) = last.checked_add(1) {
            events.push((end, -1, zone));
        }
    }
    events.sort_unstable();
    let mut active: BTreeMap<usize, usize> = BTreeMap::new();
    let mut table: Vec<(u128, u128, usize)> = Vec::new();
    let mut i = 0;
    while let Some(&(at, _, _)) = events.get(i) {
        while let Some(&(pos, delta, zone)) = events.get(i) {
            if pos != at {
                break;
            }
            if delta > 0 {
                *active.entry(zone).or_default() += 1;
            } else if let Some(count) = active.get_mut(&zone) {
                *count -= 1;
                if *count == 0 {
                    active.remove(&zone);
                }
            }
            i += 1;
        }
        let last = events.get(i).map_or(u128::MAX, |&(next, _, _)| next - 1);
        if let Some((&zone, _)) = active.first_key_value() {
            match table.last_mut() {
                Some(prev) if prev.2 == zone && prev.1.checked_add(1) == Some(at) => prev.1 = last,
                _ => table.push((at, last, zone)),
            }
        }
    }
    table
}

/// The zone of the range holding `addr`, if any.
fn range_zone<T: Copy + Ord>(table: &[(T, T, usize)], addr: T) -> Option<usize> {
    let i = table.partition_point(|&(first, _, _)| first <= addr);
    let &(_, last, zone) = table.get(i.checked_sub(1)?)?;
    (addr <= last).then_some(zone)
}

impl Builder<'_> {
    pub(super) fn zones(&mut self, defs: Vec<ZoneDef>) -> Result<Vec<Zone>, ConfigError> {
        let mut zones: Vec<Zone> = Vec::with_capacity(defs.len());
        let mut lines: HashMap<String, usize> = HashMap::new();
        for def in defs {
            let name = def.name.get_ref().clone();
            let at = def.name.span().start;
            if name.is_empty() || name == ANY_ZONE || name == UNZONED {
                return Err(self.error(
                    at,
                    "zone.name",
                    format!(
                        "{name:?} cannot name a zone (empty, \"*\" and {UNZONED:?} are reserved)"
                    ),
                ));
            }
            if let Some(line) = lines.get(&name) {
                return Err(self.error(
                    at,
                    "zone.name",
                    format!("duplicate zone {name:?} (first at line {line})"),
                ));
            }
            let mut vm_names = Vec::with_capacity(def.vm_names.len());
            for pattern in &def.vm_names {
                Glob::new(pattern.get_ref()).map_err(|err| {
                    self.error(pattern.span().start, "zone.vm_names", err.to_string())
                })?;
                vm_names.push(pattern.get_ref().clone());
            }
            let mut cidrs = Vec::with_capacity(def.cidrs.len());
            for text in &def.cidrs {
                let cidr = Cidr::parse(text.get_ref())
                    .map_err(|msg| self.error(text.span().start, "zone.cidrs", msg))?;
                cidrs.push(cidr);
            }
            for vlan in &def.vlans {
                if !(1..=4094).contains(vlan.get_ref()) {
                    return Err(self.error(
                        vlan.span().start,
                        "zone.vlans",
                        format!("VLAN {} is not in 1-4094", vlan.get_ref()),
                    ));
                }
            }
            for vni in &def.vnis {
                if !(1..=0x00ff_ffff).contains(vni.get_ref()) {
                    return Err(self.error(
                        vni.span().start,
                        "zone.vnis",
                        format!("VNI {} is not in 1-16777215", vni.get_ref()),
                    ));
                }
            }
            let line = config::line_of(self.text, at);
            let zone = Zone {
                name: name.clone(),
                vm_names,
                tags: def.tags.iter().map(|t| t.get_ref().clone()).collect(),
                port_groups: def
                    .port_groups
                    .iter()
                    .map(|p| p.get_ref().clone())
                    .collect(),
                vlans: def.vlans.iter().map(|v| *v.get_ref()).collect(),
                vnis: def.vnis.iter().map(|v| *v.get_ref()).collect(),
                cidrs,
                line,
            };
            self.zone_warnings(&zones, &zone, &def);
            lines.insert(name, line);
            zones.push(zone);
        }
        Ok(zones)
    }

    /// A zone nothing can reach (every selector taken by an earlier zone of
    /// the same kind, or none at all), and CIDRs overlapping an earlier zone's.
    fn zone_warnings(&mut self, earlier: &[Zone], zone: &Zone, def: &ZoneDef) {
        let at = def.name.span().start;
        if !zone.has_selectors() {
            self.warn(
                at,
                "zone",
                format!(
                    "zone {:?} has no selectors; nothing can be in it",
                    zone.name
                ),
            );
            return;
        }
        fn taken<T: PartialEq>(mine: &[T], earlier: &[Zone], get: fn(&Zone) -> &[T]) -> bool {
            mine.iter()
                .all(|value| earlier.iter().any(|z| get(z).contains(value)))
        }
        let cidrs_taken = zone.cidrs.iter().all(|c| {
            earlier
                .iter()
                .flat_map(|z| &z.cidrs)
                .any(|e| e.len <= c.len && e.contains(c.addr))
        });
        if taken(&zone.vm_names, earlier, |z| &z.vm_names)
            && taken(&zone.tags, earlier, |z| &z.tags)
            && taken(&zone.port_groups, earlier, |z| &z.port_groups)
            && taken(&zone.vlans, earlier, |z| &z.vlans)
            && taken(&zone.vnis, earlier, |z| &z.vnis)
            && cidrs_taken
        {
            self.warn(
                at,
                "zone",
                format!(
                    "zone {:?} is unreachable: each of its selectors already belongs to an \
                     earlier zone, and the first zone in the file wins",
                    zone.name
                ),
            );
            return;
        }
        let name = zone.name.as_str();
        self.claimed(
            earlier,
            &def.vm_names,
            |z| &z.vm_names,
            "zone.vm_names",
            name,
        );
        self.claimed(earlier, &def.tags, |z| &z.tags, "zone.tags", name);
        self.claimed(
            earlier,
            &def.port_groups,
            |z| &z.port_groups,
            "zone.port_groups",
            name,
        );
        self.claimed(earlier, &def.vlans, |z| &z.vlans, "zone.vlans", name);
        self.claimed(earlier, &def.vnis, |z| &z.vnis, "zone.vnis", name);
        for (cidr, text) in zone.cidrs.iter().zip(&def.cidrs) {
            let overlap = earlier.iter().find_map(|z| {
                z.cidrs
                    .iter()
                    .find(|e| e.overlaps(cidr))
                    .map(|e| (z.name.as_str(), e))
            });
            if let Some((other, prefix)) = overlap {
                self.warn(
                    text.span().start,
                    "zone.cidrs",
                    format!(
                        "{cidr} overlaps {prefix} of zone {other:?}; addresses in both are \
                         zoned {other:?} (first zone in the file wins)"
                    ),
                );
            }
        }
    }

    /// Warn about each selector value an earlier zone of the same kind
    /// already has: it never puts anything in this zone.
    fn claimed<T: PartialEq + fmt::Debug>(
        &mut self,
        earlier: &[Zone],
        values: &[Spanned<T>],
        get: fn(&Zone) -> &[T],
        field: &str,
        zone: &str,
    ) {
        for value in values {
            if let Some(owner) = earlier.iter().find(|z| get(z).contains(value.get_ref())) {
                self.warn(
                    value.span().start,
                    field,
                    format!(
                        "{:?} already selects zone {:?} (the first zone in the file wins), \
                         so it never puts anything in zone {zone:?}",
                        value.get_ref(),
                        owner.name
                    ),
                );
            }
        }
    }

    pub(super) fn zone_set(
        &self,
        names: &Spanned<Vec<Spanned<String>>>,
        field: &str,
        zone_by_name: &HashMap<String, usize>,
        n: usize,
    ) -> Result<(Vec<String>, Vec<bool>), ConfigError> {
        if names.get_ref().is_empty() {
            return Err(self.error(
                names.span().start,
                field,
                "empty list matches nothing (use [\"*\"] for any zone)",
            ));
        }
        let mut set = vec![false; n];
        let mut written = Vec::with_capacity(names.get_ref().len());
        for name in names.get_ref() {
            let text = name.get_ref();
            if text == ANY_ZONE {
                set.iter_mut().for_each(|s| *s = true);
            } else if let Some(&i) = zone_by_name.get(text) {
                set[i] = true;
            } else {
                let why = if text == UNZONED {
                    format!("{UNZONED:?} is not a zone: unzoned endpoints are judged unknown")
                } else {
                    format!("unknown zone {text:?}")
                };
                return Err(self.error(name.span().start, field, why));
            }
            written.push(text.clone());
        }
        Ok((written, set))
    }
}

impl Policy {
    /// The zone of an endpoint: the VM's (vm_names > tags > port_groups >
    /// vlans > vnis, first zone in the file within a kind), else by `ip`
    /// against CIDRs, else [`UNZONED`].
    pub fn zone_of(&self, vm: Option<&Vm>, ip: IpAddr) -> &str {
        let zone = vm
            .and_then(|vm| self.vm_selector_zone(vm))
            .or_else(|| self.cidr_zone(ip));
        match zone {
            Some(i) => &self.zones[i].name,
            None => UNZONED,
        }
    }

    /// The zone a VM's own attributes put it in (vm_names > tags >
    /// port_groups > vlans > vnis), as an index into [`zones`](Policy::zones);
    /// None if only its address can zone it. It depends on the placement
    /// alone, so a caller judging many flows computes it once per placement
    /// and passes it to [`endpoint_zone`](Policy::endpoint_zone): name
    /// patterns are then matched once per placement, not per flow.
    pub fn vm_zone_index(&self, vm: &Vm) -> Option<usize> {
        self.vm_selector_zone(vm)
    }

    /// The zone of each placement of `inventory` (indexed like
    /// [`Inventory::vms`], so by [`Inventory::lookup_index`]) from its own
    /// attributes: [`vm_zone_index`](Policy::vm_zone_index), computed once
    /// per placement instead of once per flow.
    pub fn placement_zones(&self, inventory: &Inventory) -> Vec<Option<usize>> {
        inventory
            .vms
            .iter()
            .map(|vm| self.vm_selector_zone(vm))
            .collect()
    }

    /// The zone index of an endpoint: its VM's (from
    /// [`placement_zones`](Policy::placement_zones) or
    /// [`vm_zone_index`](Policy::vm_zone_index); None: no VM, or a VM only
    /// its address zones), else by `ip` against the CIDRs; None: unzoned.
    pub fn endpoint_zone(&self, vm_zone: Option<usize>, ip: IpAddr) -> Option<usize> {
        vm_zone
            .filter(|&i| i < self.zones.len())
            .or_else(|| self.cidr_zone(ip))
    }

    /// The name of a zone index, [`UNZONED`] for None (or an index this
    /// policy does not have).
    pub fn zone_name(&self, zone: Option<usize>) -> &str {
        zone.and_then(|i| self.zones.get(i))
            .map_or(UNZONED, |z| z.name.as_str())
    }

    /// The index of the zone of this name.
    pub fn zone_index(&self, name: &str) -> Option<usize> {
        self.zone_by_name.get(name).copied()
    }

    /// Zone index from the VM's own attributes (everything but CIDRs).
    fn vm_selector_zone(&self, vm: &Vm) -> Option<usize> {
        // Most VM names match no pattern: `is_match` spares them the
        // allocation of `matches`.
        if self.name_set.is_match(&vm.name) {
            let first = self.name_set.matches(&vm.name).first().copied();
            if let Some(&zone) = first.and_then(|p| self.name_zones.get(p)) {
                return Some(zone);
            }
        }
        if let Some(zone) = vm.tags.iter().filter_map(|t| self.by_tag.get(t)).min() {
            return Some(*zone);
        }
        if let Some(&zone) = self.by_port_group.get(&vm.port_group) {
            return Some(zone);
        }
        if vm.vlan != 0 {
            if let Some(&zone) = self.by_vlan.get(&vm.vlan) {
                return Some(zone);
            }
        }
        if vm.vni != 0 {
            if let Some(&zone) = self.by_vni.get(&vm.vni) {
                return Some(zone);
            }
        }
        None
    }

    /// Zone index by CIDR: the first zone in the file with a prefix holding `ip`.
    fn cidr_zone(&self, ip: IpAddr) -> Option<usize> {
        match ip.to_canonical() {
            IpAddr::V4(v4) => range_zone(&self.v4_ranges, u32::from(v4)),
            IpAddr::V6(v6) => range_zone(&self.v6_ranges, u128::from(v6)),
        }
    }

    /// A VM's zone independent of traffic: its selectors, else the first of
    /// its addresses a CIDR zones.
    pub(super) fn vm_zone(&self, vm: &Vm) -> Option<usize> {
        self.vm_selector_zone(vm)
            .or_else(|| vm.ips.iter().find_map(|&ip| self.cidr_zone(ip)))
    }
}

impl Policy {
    /// Findings that need the inventory: zones without CIDRs that no VM of
    /// `inventory` is in (the policy may name VMs that do not exist yet, so
    /// these are warnings, located at the zone in the policy file).
    pub fn check_inventory(&self, inventory: &Inventory) -> Vec<ConfigError> {
        let mut populated = vec![false; self.zones.len()];
        for vm in &inventory.vms {
            if let Some(zone) = self.vm_zone(vm) {
                populated[zone] = true;
            }
        }
        self.zones
            .iter()
            .zip(populated)
            .filter(|(zone, populated)| !populated && zone.cidrs.is_empty())
            .map(|(zone, _)| ConfigError {
                file: self.origin.clone(),
                line: zone.line,
                field: "zone".to_string(),
                message: format!(
                    "no VM of the inventory is in zone {:?} and it has no CIDRs",
                    zone.name
                ),
            })
            .collect()
    }
}
