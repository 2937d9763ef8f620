//! Lookups of hosts and VMs, the per-frame and per-flow path.

use std::net::IpAddr;

use super::{Host, Inventory, Mac, Vm, CURRENT};
use crate::flow::Encap;

impl Inventory {
    /// The host of this name.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.host_by_name.get(name).map(|&i| &self.hosts[i])
    }

    /// The host whose observation domain (NetFlow Source ID) this is.
    pub fn host_by_domain(&self, domain: u32) -> Option<&Host> {
        self.host_by_domain.get(&domain).map(|&i| &self.hosts[i])
    }

    /// The host whose mirrors send ERSPAN from this outer source address.
    pub fn host_by_mirror_source(&self, addr: IpAddr) -> Option<&Host> {
        let addr = addr.to_canonical();
        self.host_by_mirror_source
            .get(&addr)
            .map(|&i| &self.hosts[i])
    }

    /// The host on which this ERSPAN session id is configured.
    pub fn host_by_session(&self, session: u16) -> Option<&Host> {
        self.host_by_session.get(&session).map(|&i| &self.hosts[i])
    }

    /// The host owning this VXLAN tunnel endpoint address.
    pub fn host_by_vtep(&self, addr: IpAddr) -> Option<&Host> {
        let addr = addr.to_canonical();
        self.host_by_vtep.get(&addr).map(|&i| &self.hosts[i])
    }

    /// The current placement of the VM of this name (None once removed).
    pub fn vm(&self, name: &str) -> Option<&Vm> {
        self.vm_at(name, CURRENT - 1)
    }

    /// The placement of the VM of this name that held at `at_ms`.
    pub fn vm_at(&self, name: &str, at_ms: u64) -> Option<&Vm> {
        self.placements(name).find(|vm| vm.holds_at(at_ms))
    }

    /// Every placement of the VM of this name, oldest first.
    pub fn placements(&self, name: &str) -> impl Iterator<Item = &Vm> {
        self.vms_by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.vms[i])
    }

    /// The placements that hold now, one per VM not removed.
    pub fn current(&self) -> impl Iterator<Item = &Vm> {
        self.vms.iter().filter(|vm| vm.is_current())
    }

    /// The VM behind a flow endpoint at `at_ms` (the flow's start): MAC
    /// first, then IP; the IP lookup is scoped by VLAN/VNI when nonzero
    /// (overlapping tenant address space must not be confused); unknown
    /// stays None, never guessed. Only placements that held at `at_ms`
    /// answer, so a VM that moved since, or an address reused since, is
    /// named as it was then.
    ///
    /// Scoping: with a nonzero overlay `segment` (a VNI, or a GRE key: see
    /// [`Segment`]) a VM qualifies when its VNI is the segment's (or not
    /// recorded, 0); the VLAN is then ignored, since next to an overlay it
    /// is the underlay's. Without one and with a nonzero `vlan`, likewise by
    /// VLAN. The IP answers only if exactly one VM qualifies. IPv4-mapped
    /// IPv6 addresses are looked up as IPv4.
    pub fn lookup(
        &self,
        mac: Option<Mac>,
        ip: IpAddr,
        vlan: u16,
        segment: impl Into<Segment>,
        at_ms: u64,
    ) -> Option<&Vm> {
        self.lookup_index(mac, ip, vlan, segment, at_ms)
            .map(|i| &self.vms[i])
    }

    /// [`lookup`](Inventory::lookup), answering with the placement's index
    /// in [`vms`](Inventory::vms): per-placement tables (such as
    /// `Policy::placement_zones`) are indexed by it.
    pub fn lookup_index(
        &self,
        mac: Option<Mac>,
        ip: IpAddr,
        vlan: u16,
        segment: impl Into<Segment>,
        at_ms: u64,
    ) -> Option<usize> {
        let segment = segment.into();
        let by_mac = mac
            .and_then(|mac| self.vms_by_mac.get(&mac))
            .and_then(|ps| ps.iter().copied().find(|&i| self.vms[i].holds_at(at_ms)));
        if by_mac.is_some() {
            return by_mac;
        }
        let owners = self.vms_by_ip.get(&ip.to_canonical())?;
        let mut found = owners.iter().copied().filter(|&i| {
            let vm = &self.vms[i];
            vm.holds_at(at_ms)
                && if !segment.is_none() {
                    segment.admits(vm.vni)
                } else if vlan != 0 {
                    vm.vlan == 0 || vm.vlan == vlan
                } else {
                    true
                }
        });
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }
}

/// The overlay segment a flow endpoint was seen in, which scopes the IP
/// lookup: a plain `u32` is a VXLAN / Geneve VNI (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// A VXLAN or Geneve VNI.
    Vni(u32),
    /// A GRE-TEB key (the flow's `vni` under [`Encap::Nvgre`]): NVGRE puts
    /// the VSID in its upper 24 bits and a flow id in the lower 8, an Open
    /// vSwitch / OpenStack GRE tenant network uses all 32 bits as its
    /// segment; a VM's `vni` matches either.
    GreKey(u32),
}

impl From<u32> for Segment {
    fn from(vni: u32) -> Segment {
        Segment::Vni(vni)
    }
}

impl Segment {
    /// The segment of a flow: its `vni` read as its encapsulation means it.
    pub fn of(encap: Option<Encap>, vni: u32) -> Segment {
        match encap {
            Some(Encap::Nvgre) => Segment::GreKey(vni),
            _ => Segment::Vni(vni),
        }
    }

    fn is_none(self) -> bool {
        matches!(self, Segment::Vni(0) | Segment::GreKey(0))
    }

    /// Whether a VM placed in segment `vni` (0: not recorded) qualifies.
    fn admits(self, vni: u32) -> bool {
        vni == 0
            || match self {
                Segment::Vni(v) => vni == v,
                Segment::GreKey(key) => vni == key || vni == key >> 8,
            }
    }
}
