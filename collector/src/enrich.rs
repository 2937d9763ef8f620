//! Enrich: who the endpoints of a flow are.
//!
//! Each endpoint is looked up in the VM inventory, MAC first and then IP
//! scoped by the flow's VLAN / VNI, among the placements that held when the
//! flow started (`Inventory::lookup`: a replayed capture is named as its VMs
//! were placed then, not as they are now); the VM gives the
//! VM and host columns, and `same_host` is set when both VMs are known and
//! run on one host (the flow was switched locally, never on the wire). The
//! observer column, when no options record named it, falls back to the
//! inventory host of the flow's observation domain, else the exporter's
//! address. Without an inventory the VM and host columns stay empty.

use std::path::Path;

use eastwest_clickhouse::schema::{addr_from_bytes, FlowRow};
use eastwest_core::config::ConfigError;
use eastwest_core::inventory::{Inventory, Vm};

/// The VM placements found for a flow's two endpoints: the index in
/// `Inventory::vms` (per-placement tables such as the verdict stage's zones
/// are indexed by it) and the placement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Endpoints<'a> {
    pub src: Option<(usize, &'a Vm)>,
    pub dst: Option<(usize, &'a Vm)>,
}

/// The enrich stage.
#[derive(Debug, Default)]
pub struct Enricher {
    inventory: Option<Inventory>,
}

impl Enricher {
    pub fn new(inventory: Option<Inventory>) -> Enricher {
        Enricher { inventory }
    }

    /// Load the inventory file, if one is configured.
    pub fn load(path: Option<&Path>) -> Result<Enricher, ConfigError> {
        let inventory = path.map(Inventory::load).transpose()?;
        Ok(Enricher::new(inventory))
    }

    /// Fill the observer, VM, host and `same_host` columns of `row`.
    pub fn enrich(&self, row: &mut FlowRow) -> Endpoints<'_> {
        if row.observer.is_empty() {
            row.observer = self
                .inventory
                .as_ref()
                .and_then(|inv| inv.host_by_domain(row.source_id))
                .map(|host| host.name.clone())
                .unwrap_or_else(|| addr_from_bytes(row.exporter).to_string());
        }
        let Some(inventory) = &self.inventory else {
            return Endpoints::default();
        };
        let mac = |m: [u8; 6]| (m != [0; 6]).then_some(m);
        let placement = |i: usize| (i, &inventory.vms[i]);
        let src = inventory
            .lookup_index(
                mac(row.src_mac),
                addr_from_bytes(row.src_addr),
                row.vlan,
                row.vni,
                row.start_ms,
            )
            .map(placement);
        let dst = inventory
            .lookup_index(
                mac(row.dst_mac),
                addr_from_bytes(row.dst_addr),
                row.vlan,
                row.vni,
                row.start_ms,
            )
            .map(placement);
        if let Some((_, vm)) = src {
            row.src_vm.clone_from(&vm.name);
            row.src_host.clone_from(&vm.host);
        }
        if let Some((_, vm)) = dst {
            row.dst_vm.clone_from(&vm.name);
            row.dst_host.clone_from(&vm.host);
        }
        row.same_host = match (src, dst) {
            (Some((_, s)), Some((_, d))) => u8::from(s.host == d.host),
            _ => 0,
        };
        Endpoints { src, dst }
    }
}
