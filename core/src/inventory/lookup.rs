//! Lookups of hosts and VMs, the per-frame and per-flow path.

use std::net::IpAddr;

use super::{Host, Inventory, Mac, Vm, CURRENT};

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
    /// Scoping: with a nonzero `vni` a VM qualifies when its VNI is `vni` (or
    /// not recorded, 0); the VLAN is then ignored, since next to a VNI it is
    /// the underlay's. With `vni == 0` and a nonzero `vlan`, likewise by
    /// VLAN. The IP answers only if exactly one VM qualifies. IPv4-mapped
    /// IPv6 addresses are looked up as IPv4.
    pub fn lookup(
        &self,
        mac: Option<Mac>,
        ip: IpAddr,
        vlan: u16,
        vni: u32,
        at_ms: u64,
    ) -> Option<&Vm> {
        self.lookup_index(mac, ip, vlan, vni, at_ms)
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
        vni: u32,
        at_ms: u64,
    ) -> Option<usize> {
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
                && if vni != 0 {
                    vm.vni == 0 || vm.vni == vni
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
