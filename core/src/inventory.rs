//! The VM inventory: hypervisor hosts and the VMs placed on them, with
//! history.
//!
//! The exporter uses the host half to attribute mirrored frames to a host
//! (by ERSPAN outer source, session id or VXLAN tunnel endpoint); the
//! collector uses the VM half to name flow endpoints ([`Inventory::lookup`]).
//!
//! A VM is a series of *placements*: each [`Vm`] record holds from its
//! `since_ms` until the next placement of the same VM (or its removal), so a
//! flow is enriched with the host, addresses and segment that held when it
//! happened, whether it is live or a replayed capture from last month.
//! Placements come from the TOML file (`[[vm]]`, several per VM with
//! `since`), from CSV files it names (bulk lists), and from inventory events
//! posted to the dashboard ([`InventoryEvent`]); all three go through the
//! same checks. A later placement may give only what changed (a vMotion is
//! `host` alone); the rest is inherited from the placement before it.
//!
//! Lookups run per frame or per flow, so every index is a hash map (foldhash,
//! seeded per process) built once; a MAC or address maps to the few
//! placements that ever held it. [`Inventory::lookup_index`] answers with the
//! placement's index, so per-placement tables (the policy's zone of each
//! placement) are a plain array access per flow.
//!
//! The formats are documented in `docs/inventory-and-policy.md`, `lab/inventory.toml` and
//! `deploy/inventory.csv`. Every problem is a [`ConfigError`](crate::config::ConfigError) naming the
//! file, line and field.

use std::net::IpAddr;
use std::path::PathBuf;

use foldhash::{HashMap, HashMapExt};
use serde::{Deserialize, Serialize};

use record::Record;

mod csv_file;
mod events;
mod file;
mod lookup;
mod placement;
mod record;
mod values;

pub use csv_file::CSV_COLUMNS;
pub use lookup::Segment;
pub use values::{format_mac, format_time, parse_mac, parse_time};

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

/// [`Vm::until_ms`] of a placement that still holds.
pub const CURRENT: u64 = u64::MAX;

/// A hypervisor host and the addresses its mirrors and tunnels use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Host name, unique in the inventory.
    pub name: String,
    /// NetFlow observation domain (Source ID) for frames attributed to it.
    pub domain: u32,
    /// Outer source addresses of the ERSPAN frames its mirrors send.
    pub mirror_sources: Vec<IpAddr>,
    /// ERSPAN session ids configured on it.
    pub erspan_sessions: Vec<u16>,
    /// Its VXLAN tunnel endpoint addresses.
    pub vteps: Vec<IpAddr>,
}

/// One placement of a virtual machine: where it ran and how it was
/// attached from `since_ms` until `until_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vm {
    /// VM name; placements of one VM share it.
    pub name: String,
    /// Name of the [`Host`] it runs on.
    pub host: String,
    /// Its vNIC MAC addresses (no other VM holds them at the same time).
    pub macs: Vec<Mac>,
    /// Its addresses, IPv4 and IPv6.
    pub ips: Vec<IpAddr>,
    /// vSwitch port group, `""` if not recorded.
    pub port_group: String,
    /// 802.1Q VLAN of its port group, 0 if untagged or not recorded.
    pub vlan: u16,
    /// VXLAN/Geneve VNI of its segment, 0 if none.
    pub vni: u32,
    /// Free-form tags (policy zones can select on them).
    pub tags: Vec<String>,
    /// Start of this placement, epoch milliseconds (0: since always).
    pub since_ms: u64,
    /// End of this placement (exclusive), epoch milliseconds: the next
    /// placement's or the removal's `since`; [`CURRENT`] while it holds.
    pub until_ms: u64,
}

impl Vm {
    /// Whether this placement held at `at_ms`.
    pub fn holds_at(&self, at_ms: u64) -> bool {
        self.since_ms <= at_ms && at_ms < self.until_ms
    }

    /// Whether this is the VM's placement now.
    pub fn is_current(&self) -> bool {
        self.until_ms == CURRENT
    }
}

/// A change to the inventory posted to the dashboard
/// (`POST /api/v1/inventory/events`), stored in ClickHouse and applied by
/// the collector. It is a placement like a `[[vm]]` entry: `time` is its
/// `since`; fields left out keep the values of the placement before it; with
/// `removed` the VM is gone from `time` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InventoryEvent {
    /// When the change took effect, RFC 3339 (`2026-11-02T09:01:00Z`).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub time: String,
    /// The VM's name.
    pub vm: String,
    /// The VM was deleted (or left the monitored estate) at `time`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macs: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ips: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// Hosts and VM placements with the indexes the per-flow lookups use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub hosts: Vec<Host>,
    /// Every placement of every VM, VMs in order of first appearance, each
    /// VM's placements oldest first.
    pub vms: Vec<Vm>,
    /// The placement records as written, kept to re-apply with events.
    records: Vec<Record>,
    /// CSV files the TOML file imported.
    files: Vec<PathBuf>,
    host_by_name: HashMap<String, usize>,
    host_by_domain: HashMap<u32, usize>,
    host_by_mirror_source: HashMap<IpAddr, usize>,
    host_by_session: HashMap<u16, usize>,
    host_by_vtep: HashMap<IpAddr, usize>,
    vms_by_name: HashMap<String, Vec<usize>>,
    vms_by_mac: HashMap<Mac, Vec<usize>>,
    vms_by_ip: HashMap<IpAddr, Vec<usize>>,
}

impl Inventory {
    /// An inventory with no hosts and no VMs.
    pub fn empty() -> Inventory {
        Inventory {
            hosts: Vec::new(),
            vms: Vec::new(),
            records: Vec::new(),
            files: Vec::new(),
            host_by_name: HashMap::new(),
            host_by_domain: HashMap::new(),
            host_by_mirror_source: HashMap::new(),
            host_by_session: HashMap::new(),
            host_by_vtep: HashMap::new(),
            vms_by_name: HashMap::new(),
            vms_by_mac: HashMap::new(),
            vms_by_ip: HashMap::new(),
        }
    }

    /// The CSV files the inventory file imported (a reload watches them too).
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

#[cfg(test)]
mod tests;
