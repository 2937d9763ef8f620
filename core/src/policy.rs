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

use std::net::IpAddr;
use std::path::Path;

use foldhash::{HashMap, HashMapExt};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::{self, ConfigError};
use file::{Builder, FileDef};
use zones::{mask_v4, mask_v6, range_table};

mod coresidency;
mod file;
mod judge;
mod rules;
mod zones;

pub use coresidency::{CoResidency, CoResidencyPeriod};
pub use judge::{Verdict, VerdictKind};
pub use rules::{PortRange, Rule};
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

/// What a rule or the cross-zone default does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

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

impl Policy {
    /// Read and parse a policy file; an unreadable file is an error at line 0.
    pub fn load(path: &Path) -> Result<Policy, ConfigError> {
        let text = config::read(path)?;
        Policy::parse(&text, &path.display().to_string())
    }

    /// Parse policy text; `origin` names it in errors (usually the path).
    ///
    /// Errors: TOML syntax and types, unknown keys, duplicate or reserved
    /// zone names, bad VM name pattern, VLAN, VNI or CIDR, a rule or
    /// `separate` naming an unknown zone, a bad proto, port or port range,
    /// ports on a protocol without ports, an unknown severity, duplicate
    /// rule descriptions. Warnings: see [`Policy::warnings`].
    pub fn parse(text: &str, origin: &str) -> Result<Policy, ConfigError> {
        let file: FileDef =
            toml::from_str(text).map_err(|err| ConfigError::from_toml(origin, text, &err))?;
        let mut builder = Builder {
            origin,
            text,
            warnings: Vec::new(),
        };
        let default_severity = match &file.default_severity {
            Some(severity) => builder.severity(severity, "default_severity")?,
            None => "medium".to_string(),
        };
        let zones = builder.zones(file.zone)?;
        let zone_by_name: HashMap<String, usize> = zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.name.clone(), i))
            .collect();
        let n = zones.len();
        let separate = builder.separate(&file.separate, &zone_by_name)?;
        let rules = builder.rules(file.rule, &zone_by_name, n, &default_severity)?;

        let mut set = GlobSetBuilder::new();
        let mut name_zones = Vec::new();
        let (mut by_tag, mut by_port_group) = (HashMap::new(), HashMap::new());
        let (mut by_vlan, mut by_vni) = (HashMap::new(), HashMap::new());
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (i, zone) in zones.iter().enumerate() {
            for pattern in &zone.vm_names {
                // Checked in `zones`; a failure here would be a bug, so the
                // pattern is skipped rather than trusted.
                if let Ok(glob) = Glob::new(pattern) {
                    name_zones.push(i);
                    set.add(glob);
                }
            }
            for tag in &zone.tags {
                by_tag.entry(tag.clone()).or_insert(i);
            }
            for pg in &zone.port_groups {
                by_port_group.entry(pg.clone()).or_insert(i);
            }
            for &vlan in &zone.vlans {
                by_vlan.entry(vlan).or_insert(i);
            }
            for &vni in &zone.vnis {
                by_vni.entry(vni).or_insert(i);
            }
            for cidr in &zone.cidrs {
                match cidr.addr {
                    IpAddr::V4(net) => {
                        let first = u32::from(net);
                        let last = first | !mask_v4(u32::MAX, cidr.len);
                        v4.push((u128::from(first), u128::from(last), i));
                    }
                    IpAddr::V6(net) => {
                        let first = u128::from(net);
                        v6.push((first, first | !mask_v6(u128::MAX, cidr.len), i));
                    }
                }
            }
        }
        let name_set = set
            .build()
            .map_err(|err| ConfigError::at(origin, text, 0, "zone.vm_names", err.to_string()))?;
        // IPv4 ranges stay within 32 bits: they come from IPv4 prefixes.
        let v4_ranges = range_table(&v4)
            .into_iter()
            .filter_map(|(first, last, zone)| {
                Some((u32::try_from(first).ok()?, u32::try_from(last).ok()?, zone))
            })
            .collect();
        let v6_ranges = range_table(&v6);

        let mut candidates = vec![Vec::new(); n * n];
        for (r, rule) in rules.iter().enumerate() {
            for (s, _) in rule.from_set.iter().enumerate().filter(|(_, &on)| on) {
                for (d, _) in rule.to_set.iter().enumerate().filter(|(_, &on)| on) {
                    let pair: &mut Vec<usize> = &mut candidates[s * n + d];
                    // After a rule matching any protocol and port, nothing
                    // of this pair reaches a later rule.
                    let closed = pair.last().is_some_and(|&last| {
                        rules[last].protos.is_none() && rules[last].ports.is_none()
                    });
                    if !closed {
                        pair.push(r);
                    }
                }
            }
        }
        let mut pair_start = Vec::with_capacity(n * n + 1);
        let mut pair_rules = Vec::new();
        for pair in candidates {
            pair_start.push(pair_rules.len());
            pair_rules.extend(pair);
        }
        pair_start.push(pair_rules.len());

        let digest = Sha256::digest(text.as_bytes());
        let revision: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();

        Ok(Policy {
            origin: origin.to_string(),
            revision,
            warnings: builder.warnings,
            zones,
            rules,
            separate,
            default_cross_zone: file.default_cross_zone.unwrap_or(Action::Deny),
            default_severity,
            zone_by_name,
            name_set,
            name_zones,
            by_tag,
            by_port_group,
            by_vlan,
            by_vni,
            v4_ranges,
            v6_ranges,
            pair_start,
            pair_rules,
        })
    }
}

#[cfg(test)]
mod tests;
