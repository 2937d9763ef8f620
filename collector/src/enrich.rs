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
//!
//! Names are made once ([`Name`]): those of every placement when the
//! inventory is loaded, an observer's the first time its (exporter,
//! observation domain) is seen; a row only clones them.

use std::path::Path;

use eastwest_clickhouse::schema::row::Name;
use eastwest_clickhouse::schema::{addr_from_bytes, FlowRow};
use eastwest_core::config::ConfigError;
use eastwest_core::inventory::{Inventory, Segment, Vm};

use crate::metrics::{labelled, Counter, Registry};

/// Enrich's counters (`eastwest_collector_enrich_*`): flows whose source
/// or destination VM the inventory knew.
#[derive(Debug)]
pub struct EnrichMetrics {
    pub src_known: Counter,
    pub dst_known: Counter,
}

impl EnrichMetrics {
    /// The counters, registered in `registry`.
    pub fn new(registry: &mut Registry) -> EnrichMetrics {
        let [src_known, dst_known] = labelled(
            registry,
            "enrich_known_vms",
            "Flow endpoints the inventory resolved to a VM",
            "side",
            ["src", "dst"],
        );
        EnrichMetrics {
            src_known,
            dst_known,
        }
    }

    /// Count the endpoints of one flow the inventory knew.
    pub fn count(&self, endpoints: &Endpoints) {
        if endpoints.src.is_some() {
            self.src_known.inc();
        }
        if endpoints.dst.is_some() {
            self.dst_known.inc();
        }
    }
}

/// The VM placements found for a flow's two endpoints: the index in
/// `Inventory::vms` (per-placement tables such as the verdict stage's zones
/// are indexed by it) and the placement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Endpoints<'a> {
    pub src: Option<(usize, &'a Vm)>,
    pub dst: Option<(usize, &'a Vm)>,
}

/// Observers kept at most (exporter, observation domain) pairs; beyond,
/// the cache starts again.
const MAX_OBSERVERS: usize = 4096;

/// The enrich stage.
#[derive(Debug, Default)]
pub struct Enricher {
    inventory: Option<Inventory>,
    /// VM and host name of each placement, by its index in
    /// `Inventory::vms`.
    names: Vec<(Name, Name)>,
    /// The observer of each (exporter, observation domain) seen.
    observers: foldhash::HashMap<([u8; 16], u32), Name>,
}

impl Enricher {
    pub fn new(inventory: Option<Inventory>) -> Enricher {
        let mut hosts: foldhash::HashMap<&str, Name> = foldhash::HashMap::default();
        let names = inventory
            .iter()
            .flat_map(|inventory| &inventory.vms)
            .map(|vm| {
                let host = hosts
                    .entry(&vm.host)
                    .or_insert_with(|| vm.host.as_str().into());
                (Name::from(vm.name.as_str()), host.clone())
            })
            .collect();
        Enricher {
            inventory,
            names,
            observers: foldhash::HashMap::default(),
        }
    }

    /// The observer of rows of (`exporter`, `source_id`) no options record
    /// named.
    fn observer(&mut self, exporter: [u8; 16], source_id: u32) -> Name {
        if let Some(name) = self.observers.get(&(exporter, source_id)) {
            return name.clone();
        }
        let name: Name = self
            .inventory
            .as_ref()
            .and_then(|inv| inv.host_by_domain(source_id))
            .map(|host| host.name.as_str().into())
            .unwrap_or_else(|| addr_from_bytes(exporter).to_string().into());
        if self.observers.len() >= MAX_OBSERVERS {
            self.observers.clear();
        }
        self.observers.insert((exporter, source_id), name.clone());
        name
    }

    /// Load the inventory file, if one is configured.
    pub fn load(path: Option<&Path>) -> Result<Enricher, ConfigError> {
        let inventory = path.map(Inventory::load).transpose()?;
        Ok(Enricher::new(inventory))
    }

    /// Fill the observer, VM, host and `same_host` columns of `row`.
    pub fn enrich(&mut self, row: &mut FlowRow) -> Endpoints<'_> {
        if row.observer.is_empty() {
            row.observer = self.observer(row.exporter, row.source_id);
        }
        let Some(inventory) = &self.inventory else {
            return Endpoints::default();
        };
        let mac = |m: [u8; 6]| (m != [0; 6]).then_some(m);
        let placement = |i: usize| (i, &inventory.vms[i]);
        let segment = Segment::of(row.encap, row.vni);
        let src = inventory
            .lookup_index(
                mac(row.src_mac),
                addr_from_bytes(row.src_addr),
                row.vlan,
                segment,
                row.start_ms,
            )
            .map(placement);
        let dst = inventory
            .lookup_index(
                mac(row.dst_mac),
                addr_from_bytes(row.dst_addr),
                row.vlan,
                segment,
                row.start_ms,
            )
            .map(placement);
        if let Some((i, _)) = src {
            (row.src_vm, row.src_host) = self.names[i].clone();
        }
        if let Some((i, _)) = dst {
            (row.dst_vm, row.dst_host) = self.names[i].clone();
        }
        row.same_host = match (src, dst) {
            (Some((_, s)), Some((_, d))) => u8::from(s.host == d.host),
            _ => 0,
        };
        Endpoints { src, dst }
    }
}
