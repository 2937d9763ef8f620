//! Placements: records turned into each VM's history, inherited,
//! closed at the next placement, checked for conflicts and indexed.

use std::net::IpAddr;

use foldhash::{HashMap, HashMapExt};

use super::values::format_mac;
use super::{Inventory, Mac, Vm, CURRENT};
use crate::config::ConfigError;

/// A placement's own list, else the one it inherits, else empty.
fn inherit<T: Clone>(mine: Option<Vec<T>>, theirs: Option<&Vec<T>>) -> Vec<T> {
    mine.or_else(|| theirs.cloned()).unwrap_or_default()
}

/// Whether `[a, b)` and `[c, d)` share an instant.
fn overlap(a: &Vm, b: &Vm) -> bool {
    a.since_ms < b.until_ms && b.since_ms < a.until_ms
}

impl Inventory {
    /// Turn the records into placements (VMs by first appearance, each
    /// VM's placements by `since`), inherit what a placement left out,
    /// close each placement at the next, and index them, checking that no
    /// MAC, and no address within one segment, is held by two VMs at once.
    pub(super) fn place(&mut self) -> Result<(), ConfigError> {
        let records = &self.records;
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, record) in records.iter().enumerate() {
            first.entry(record.name.value.as_str()).or_insert(i);
        }
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_by_key(|&i| {
            let r = &records[i];
            (first[r.name.value.as_str()], r.since_ms, i)
        });
        let mut vms: Vec<Vm> = Vec::with_capacity(records.len());
        let mut sources: Vec<usize> = Vec::with_capacity(records.len());
        let mut previous: Option<usize> = None;
        let mut open: Option<usize> = None;
        for i in order {
            let record = &records[i];
            let name = &record.name.value;
            let same_vm = previous.is_some_and(|p| records[p].name.value == *name);
            if let Some(p) = previous.filter(|_| same_vm) {
                if records[p].since_ms == record.since_ms {
                    return Err(record.error(
                        record.name.line,
                        "name",
                        format!(
                            "duplicate VM {name:?} (placements of one VM need different `since` \
                             times)"
                        ),
                    ));
                }
            }
            if !same_vm {
                open = None;
            }
            previous = Some(i);
            if let Some(o) = open {
                vms[o].until_ms = record.since_ms;
            }
            if record.removed {
                if open.is_none() {
                    return Err(record.error(
                        record.name.line,
                        "removed",
                        format!("removes VM {name:?}, which is not placed at that time"),
                    ));
                }
                open = None;
                continue;
            }
            let base = open.map(|o| vms[o].clone());
            let host = match (&record.host, &base) {
                (Some(host), _) => {
                    if !self.host_by_name.contains_key(&host.value) {
                        return Err(record.error(
                            host.line,
                            "host",
                            format!("VM {name:?} is placed on unknown host {:?}", host.value),
                        ));
                    }
                    host.value.clone()
                }
                (None, Some(base)) => base.host.clone(),
                (None, None) => {
                    return Err(record.error(
                        record.name.line,
                        "host",
                        format!("missing host: the first placement of VM {name:?} needs one"),
                    ))
                }
            };
            let base = base.as_ref();
            vms.push(Vm {
                name: name.clone(),
                host,
                macs: inherit(
                    record
                        .macs
                        .as_ref()
                        .map(|m| m.iter().map(|m| m.value).collect()),
                    base.map(|b| &b.macs),
                ),
                ips: inherit(
                    record
                        .ips
                        .as_ref()
                        .map(|m| m.iter().map(|m| m.value).collect()),
                    base.map(|b| &b.ips),
                ),
                port_group: record
                    .port_group
                    .clone()
                    .or_else(|| base.map(|b| b.port_group.clone()))
                    .unwrap_or_default(),
                vlan: record.vlan.or(base.map(|b| b.vlan)).unwrap_or(0),
                vni: record.vni.or(base.map(|b| b.vni)).unwrap_or(0),
                tags: inherit(record.tags.clone(), base.map(|b| &b.tags)),
                since_ms: record.since_ms,
                until_ms: CURRENT,
            });
            sources.push(i);
            open = Some(vms.len() - 1);
        }

        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_mac: HashMap<Mac, Vec<usize>> = HashMap::new();
        let mut by_ip: HashMap<IpAddr, Vec<usize>> = HashMap::new();
        for (p, vm) in vms.iter().enumerate() {
            let record = &records[sources[p]];
            by_name.entry(vm.name.clone()).or_default().push(p);
            for (k, &mac) in vm.macs.iter().enumerate() {
                let line = record
                    .macs
                    .as_ref()
                    .and_then(|m| m.get(k))
                    .map_or(record.name.line, |m| m.line);
                let holders = by_mac.entry(mac).or_default();
                if let Some(&other) = holders
                    .iter()
                    .find(|&&q| vms[q].name != vm.name && overlap(&vms[q], vm))
                {
                    return Err(record.error(
                        line,
                        "macs",
                        format!(
                            "MAC {} of VM {:?} is already VM {:?}'s",
                            format_mac(mac),
                            vm.name,
                            vms[other].name
                        ),
                    ));
                }
                holders.push(p);
            }
            for (k, &ip) in vm.ips.iter().enumerate() {
                let line = record
                    .ips
                    .as_ref()
                    .and_then(|m| m.get(k))
                    .map_or(record.name.line, |m| m.line);
                let holders = by_ip.entry(ip).or_default();
                let clash = holders.iter().find(|&&q| {
                    let other = &vms[q];
                    other.name != vm.name
                        && (other.vlan, other.vni) == (vm.vlan, vm.vni)
                        && overlap(other, vm)
                });
                if let Some(&other) = clash {
                    return Err(record.error(
                        line,
                        "ips",
                        format!(
                            "{ip} of VM {:?} is already VM {:?}'s in the same segment \
                             (vlan {}, vni {})",
                            vm.name, vms[other].name, vm.vlan, vm.vni
                        ),
                    ));
                }
                if !holders.contains(&p) {
                    holders.push(p);
                }
            }
        }
        self.vms = vms;
        self.vms_by_name = by_name;
        self.vms_by_mac = by_mac;
        self.vms_by_ip = by_ip;
        Ok(())
    }
}
