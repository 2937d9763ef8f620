//! The segmentation policy: zones, ordered rules, separation constraints.
//!
//! A policy answers three questions:
//!
//! * which zone an endpoint is in ([`Policy::zone_of`]): zones follow the VM
//!   (name pattern, tag, port group, VLAN, VNI), addresses outside the
//!   inventory fall back to CIDRs;
//! * whether traffic between two zones is allowed ([`Policy::judge`]): the
//!   first rule matching from/to/proto/port decides, else intra-zone traffic
//!   is allowed and cross-zone traffic gets the default;
//! * which VMs of zones that must stay apart share a host
//!   ([`Policy::separation_violations`]), independent of traffic.
//!
//! [`Policy::parse`] checks the file and reports every problem as a
//! [`ConfigError`] naming file, line and field; findings that do not stop
//! the policy from working (a rule that can never decide, a zone nothing
//! reaches, overlapping CIDRs) are kept as [`Policy::warnings`]. The file
//! format is documented in `docs/inventory-and-policy.md` and in `lab/policy.toml`.
//!
//! The collector evaluates every flow, so the policy is compiled at parse
//! time into lookup tables and evaluation allocates nothing:
//!
//! * a VM's zone depends on its placement alone: [`Policy::placement_zones`]
//!   computes it once per placement of an inventory (name patterns, tags,
//!   port groups, VLANs, VNIs), and the flow path indexes that array with
//!   the placement [`Inventory::lookup_index`](crate::inventory::Inventory::lookup_index) found;
//! * CIDRs become one sorted table of disjoint address ranges per family,
//!   each range holding the zone that wins there (first zone in the file),
//!   searched by binary search ([`Policy::endpoint_zone`]): a flattened
//!   prefix trie, whose depth does not grow with the number of prefix
//!   lengths;
//! * rules are indexed by zone pair: [`Policy::decide`] walks only the rules
//!   whose from/to admit the pair, cut after the first one without a
//!   protocol or port condition (nothing after it can decide);
//! * a [`Verdict`] borrows the rule's description and severity from the
//!   policy.
//!
//! `cargo bench -p eastwest-core --bench policy` measures it on a generated
//! estate of thousands of VMs, dozens of zones and hundreds of rules.

use foldhash::HashMap;
use globset::GlobSet;

use crate::config::ConfigError;

mod coresidency;
mod file;
mod judge;
mod rules;
mod zones;

pub use coresidency::{CoResidency, CoResidencyPeriod};
pub use judge::{Verdict, VerdictKind};
pub use rules::{Action, PortRange, Rule};
pub use zones::{Cidr, Zone};

/// Zone of an endpoint that no zone matches.
pub const UNZONED: &str = "unzoned";
/// In a rule's `from`/`to`: every zone (never [`UNZONED`]).
pub const ANY_ZONE: &str = "*";
/// [`Verdict::rule`] of traffic inside one zone that no rule matched.
pub const INTRA_ZONE_RULE: &str = "intra-zone";
/// [`Verdict::rule`] of cross-zone traffic that no rule matched.
pub const DEFAULT_RULE: &str = "default cross-zone";
/// [`Verdict::rule`] when an endpoint is [`UNZONED`] (or in no zone of
/// this policy): no rule decided.
pub const UNZONED_RULE: &str = "unzoned endpoint";
/// Severities a rule or `default_severity` may carry, lowest first
/// ([`crate::severity`]).
pub const SEVERITIES: [&str; 5] = crate::severity::NAMES;

/// A parsed, checked policy with its lookup indexes.
#[derive(Debug, Clone)]
pub struct Policy {
    origin: String,
    revision: String,
    warnings: Vec<ConfigError>,
    zones: Vec<Zone>,
    rules: Vec<Rule>,
    separate: Vec<(String, String)>,
    default_cross_zone: Action,
    default_severity: String,
    zone_by_name: HashMap<String, usize>,
    /// Every zone's VM name patterns, in file order: the lowest match is
    /// the first pattern of the file that matches.
    name_set: GlobSet,
    /// The zone of each pattern of `name_set`, by its index there.
    name_zones: Vec<usize>,
    by_tag: HashMap<String, usize>,
    by_port_group: HashMap<String, usize>,
    by_vlan: HashMap<u16, usize>,
    by_vni: HashMap<u32, usize>,
    /// Disjoint address ranges (first, last, zone), sorted: the CIDR zone
    /// of every address some zone's prefix holds.
    v4_ranges: Vec<(u32, u32, usize)>,
    v6_ranges: Vec<(u128, u128, usize)>,
    /// Zone pair (src * n + dst) → its rules in `pair_rules`:
    /// `pair_rules[pair_start[p]..pair_start[p + 1]]`.
    pair_start: Vec<usize>,
    /// Indexes of the rules whose from/to admit each pair, in order, cut
    /// after the first rule that matches any protocol and port.
    pair_rules: Vec<usize>,
}

impl Policy {
    /// First 12 hex characters of the SHA-256 of the policy file's text.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// Non-fatal findings: a rule an earlier one shadows, a zone nothing can
    /// reach, CIDRs overlapping between zones, severity on an allow rule.
    pub fn warnings(&self) -> &[ConfigError] {
        &self.warnings
    }

    /// Zones in file order.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Rules in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The `separate` pairs.
    pub fn separate(&self) -> &[(String, String)] {
        &self.separate
    }

    /// What cross-zone traffic no rule matched gets, and its severity.
    pub fn default_cross_zone(&self) -> (Action, &str) {
        (self.default_cross_zone, &self.default_severity)
    }

    /// Zone names in file order (without [`UNZONED`]).
    pub fn zone_names(&self) -> impl Iterator<Item = &str> {
        self.zones.iter().map(|z| z.name.as_str())
    }
}

#[cfg(test)]
mod tests;
