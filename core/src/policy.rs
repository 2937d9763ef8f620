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
//!   the placement [`Inventory::lookup_index`] found;
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

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use foldhash::{HashMap, HashMapExt};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::config::{self, ConfigError};
use crate::inventory::{Inventory, Vm, CURRENT};

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
/// Severities a rule or `default_severity` may carry, lowest first.
pub const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

/// What a policy concluded about a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerdictKind {
    Allowed,
    Violation,
    /// An endpoint is in no zone, so the policy cannot say.
    Unknown,
}

impl VerdictKind {
    /// Stable lower-case name used in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Allowed => "allowed",
            VerdictKind::Violation => "violation",
            VerdictKind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict with the rule that decided it, borrowed from the [`Policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'a> {
    pub kind: VerdictKind,
    /// The deciding rule's description, or [`INTRA_ZONE_RULE`],
    /// [`DEFAULT_RULE`], [`UNZONED_RULE`].
    pub rule: &'a str,
    /// Severity of a violation; `""` when allowed or unknown.
    pub severity: &'a str,
}

/// What a rule or the cross-zone default does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

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

fn mask_v4(addr: u32, len: u8) -> u32 {
    match len {
        0 => 0,
        len => addr & (u32::MAX << (32 - u32::from(len.min(32)))),
    }
}

fn mask_v6(addr: u128, len: u8) -> u128 {
    match len {
        0 => 0,
        len => addr & (u128::MAX << (128 - u32::from(len.min(128)))),
    }
}

/// An inclusive destination port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// Parse `"22"` or `"8000-8999"`.
    pub fn parse(text: &str) -> Result<PortRange, String> {
        let port = |t: &str| {
            t.trim()
                .parse::<u16>()
                .map_err(|_| format!("{text:?} is not a port or port range (want 22 or 8000-8999)"))
        };
        let range = match text.split_once('-') {
            Some((first, last)) => PortRange {
                first: port(first)?,
                last: port(last)?,
            },
            None => {
                let p = port(text)?;
                PortRange { first: p, last: p }
            }
        };
        if range.first > range.last {
            return Err(format!("{text:?}: range runs backwards"));
        }
        Ok(range)
    }

    fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
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

/// One ordered rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub description: String,
    /// Zone names as written (may contain [`ANY_ZONE`]).
    pub from: Vec<String>,
    pub to: Vec<String>,
    /// IP protocol numbers the rule matches; `None` = any. `"icmp"` is
    /// both ICMP (1) and ICMPv6 (58).
    pub protos: Option<Vec<u8>>,
    /// Destination port ranges; `None` = any port.
    pub ports: Option<Vec<PortRange>>,
    pub action: Action,
    /// Severity of a deny (the rule's own or `default_severity`); `""` for
    /// allow.
    pub severity: String,
    /// Line of the rule's `description` in the policy file.
    pub line: usize,
    /// Zone indexes `from`/`to` admit.
    from_set: Vec<bool>,
    to_set: Vec<bool>,
}

impl Rule {
    fn matches_l4(&self, proto: u8, dst_port: u16) -> bool {
        self.protos.as_ref().is_none_or(|p| p.contains(&proto))
            && self
                .ports
                .as_ref()
                .is_none_or(|ranges| ranges.iter().any(|r| r.contains(dst_port)))
    }

    /// Whether every flow `later` matches is matched by `self` first.
    fn covers(&self, later: &Rule) -> bool {
        let subset =
            |mine: &[bool], theirs: &[bool]| mine.iter().zip(theirs).all(|(&m, &t)| m || !t);
        let protos = match (&self.protos, &later.protos) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => theirs.iter().all(|p| mine.contains(p)),
        };
        let ports = match (&self.ports, &later.ports) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => {
                let merged = merge_ranges(mine);
                theirs.iter().all(|t| {
                    merged
                        .iter()
                        .any(|m| m.first <= t.first && t.last <= m.last)
                })
            }
        };
        subset(&self.from_set, &later.from_set)
            && subset(&self.to_set, &later.to_set)
            && protos
            && ports
    }
}

/// Sort and join overlapping or adjacent ranges.
fn merge_ranges(ranges: &[PortRange]) -> Vec<PortRange> {
    let mut sorted = ranges.to_vec();
    sorted.sort_by_key(|r| (r.first, r.last));
    let mut merged: Vec<PortRange> = Vec::with_capacity(sorted.len());
    for range in sorted {
        match merged.last_mut() {
            Some(last) if u32::from(range.first) <= u32::from(last.last) + 1 => {
                last.last = last.last.max(range.last);
            }
            _ => merged.push(range),
        }
    }
    merged
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

/// Flatten prefixes `(first, last, zone)` (addresses as u128; IPv4 in the
/// low 32 bits) into sorted disjoint ranges, each with the smallest zone
/// index among the prefixes holding it (the first zone in the file wins),
/// adjacent ranges of one zone merged. A sweep over the prefix boundaries:
/// O(p log p) for p prefixes.
fn range_table(prefixes: &[(u128, u128, usize)]) -> Vec<(u128, u128, usize)> {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    default_cross_zone: Option<Action>,
    default_severity: Option<Spanned<String>>,
    #[serde(default)]
    separate: Vec<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    zone: Vec<ZoneDef>,
    #[serde(default)]
    rule: Vec<RuleDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneDef {
    name: Spanned<String>,
    #[serde(default)]
    vm_names: Vec<Spanned<String>>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    #[serde(default)]
    port_groups: Vec<Spanned<String>>,
    #[serde(default)]
    vlans: Vec<Spanned<u16>>,
    #[serde(default)]
    vnis: Vec<Spanned<u32>>,
    #[serde(default)]
    cidrs: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    description: Spanned<String>,
    from: Spanned<Vec<Spanned<String>>>,
    to: Spanned<Vec<Spanned<String>>>,
    proto: Option<Spanned<NumberOrName>>,
    ports: Option<Spanned<Vec<Spanned<NumberOrName>>>>,
    action: Action,
    severity: Option<Spanned<String>>,
}

/// `proto = "tcp"` or `proto = 6`; `ports = ["22"]` or `ports = [22]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NumberOrName {
    Number(i64),
    Name(String),
}

impl NumberOrName {
    fn text(&self) -> String {
        match self {
            NumberOrName::Number(n) => n.to_string(),
            NumberOrName::Name(s) => s.clone(),
        }
    }
}

/// Protocols whose flows carry destination ports: TCP, UDP, SCTP.
const PORT_PROTOS: [u8; 3] = [6, 17, 132];

fn parse_proto(value: &NumberOrName) -> Result<Vec<u8>, String> {
    let text = value.text().to_ascii_lowercase();
    let named = match text.as_str() {
        "tcp" => Some(vec![6]),
        "udp" => Some(vec![17]),
        "icmp" => Some(vec![1, 58]),
        "icmpv6" | "ipv6-icmp" => Some(vec![58]),
        "sctp" => Some(vec![132]),
        "gre" => Some(vec![47]),
        "esp" => Some(vec![50]),
        _ => None,
    };
    match named {
        Some(protos) => Ok(protos),
        None => text.parse::<u8>().map(|p| vec![p]).map_err(|_| {
            format!(
                "{:?} is not a protocol (tcp, udp, icmp, icmpv6, sctp, gre, esp or 0-255)",
                value.text()
            )
        }),
    }
}

/// Builds a [`Policy`] from the parsed file, checking as it goes.
struct Builder<'a> {
    origin: &'a str,
    text: &'a str,
    warnings: Vec<ConfigError>,
}

impl Builder<'_> {
    fn error(&self, offset: usize, field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.origin, self.text, offset, field, message)
    }

    fn warn(&mut self, offset: usize, field: &str, message: impl Into<String>) {
        let warning = self.error(offset, field, message);
        self.warnings.push(warning);
    }

    fn severity(&self, value: &Spanned<String>, field: &str) -> Result<String, ConfigError> {
        let severity = value.get_ref();
        if SEVERITIES.contains(&severity.as_str()) {
            Ok(severity.clone())
        } else {
            Err(self.error(
                value.span().start,
                field,
                format!(
                    "unknown severity {severity:?} (want one of {})",
                    SEVERITIES.join(", ")
                ),
            ))
        }
    }

    fn zones(&mut self, defs: Vec<ZoneDef>) -> Result<Vec<Zone>, ConfigError> {
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

    fn zone_set(
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

    fn rules(
        &mut self,
        defs: Vec<RuleDef>,
        zone_by_name: &HashMap<String, usize>,
        n: usize,
        default_severity: &str,
    ) -> Result<Vec<Rule>, ConfigError> {
        let mut rules: Vec<Rule> = Vec::with_capacity(defs.len());
        let mut lines: HashMap<String, usize> = HashMap::new();
        for def in defs {
            let description = def.description.get_ref().trim().to_string();
            let at = def.description.span().start;
            if description.is_empty() {
                return Err(self.error(at, "rule.description", "empty description"));
            }
            if let Some(line) = lines.get(&description) {
                return Err(self.error(
                    at,
                    "rule.description",
                    format!(
                        "duplicate description (first at line {line}); verdicts name the rule \
                         by it"
                    ),
                ));
            }
            let (from, from_set) = self.zone_set(&def.from, "rule.from", zone_by_name, n)?;
            let (to, to_set) = self.zone_set(&def.to, "rule.to", zone_by_name, n)?;
            let protos = match &def.proto {
                None => None,
                Some(proto) => Some(
                    parse_proto(proto.get_ref())
                        .map_err(|msg| self.error(proto.span().start, "rule.proto", msg))?,
                ),
            };
            let ports = match &def.ports {
                None => None,
                Some(list) => {
                    let port_protos = protos
                        .as_ref()
                        .is_some_and(|p| p.iter().all(|p| PORT_PROTOS.contains(p)));
                    if !port_protos {
                        return Err(self.error(
                            list.span().start,
                            "rule.ports",
                            "ports need proto \"tcp\", \"udp\" or \"sctp\"",
                        ));
                    }
                    if list.get_ref().is_empty() {
                        return Err(self.error(
                            list.span().start,
                            "rule.ports",
                            "empty list matches nothing (leave ports out for any port)",
                        ));
                    }
                    let mut ranges = Vec::with_capacity(list.get_ref().len());
                    for port in list.get_ref() {
                        let range = PortRange::parse(&port.get_ref().text())
                            .map_err(|msg| self.error(port.span().start, "rule.ports", msg))?;
                        ranges.push(range);
                    }
                    Some(ranges)
                }
            };
            let severity = match (def.action, &def.severity) {
                (Action::Allow, Some(severity)) => {
                    self.severity(severity, "rule.severity")?;
                    self.warn(
                        severity.span().start,
                        "rule.severity",
                        "severity of an allow rule is ignored (allowed flows carry none)",
                    );
                    String::new()
                }
                (Action::Allow, None) => String::new(),
                (Action::Deny, Some(severity)) => self.severity(severity, "rule.severity")?,
                (Action::Deny, None) => default_severity.to_string(),
            };
            let line = config::line_of(self.text, at);
            let rule = Rule {
                description: description.clone(),
                from,
                to,
                protos,
                ports,
                action: def.action,
                severity,
                line,
                from_set,
                to_set,
            };
            if let Some(earlier) = rules.iter().find(|r| r.covers(&rule)) {
                self.warn(
                    at,
                    "rule",
                    format!(
                        "rule {description:?} never decides: rule {:?} (line {}) matches all \
                         its traffic first",
                        earlier.description, earlier.line
                    ),
                );
            }
            lines.insert(description, line);
            rules.push(rule);
        }
        Ok(rules)
    }

    fn separate(
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
    fn vm_zone(&self, vm: &Vm) -> Option<usize> {
        self.vm_selector_zone(vm)
            .or_else(|| vm.ips.iter().find_map(|&ip| self.cidr_zone(ip)))
    }

    /// Judge traffic from `src_zone` to `dst_zone` (names as [`zone_of`]
    /// returns them). [`VerdictKind::Unknown`] if either is [`UNZONED`] or
    /// not a zone of this policy.
    ///
    /// [`zone_of`]: Policy::zone_of
    pub fn judge(&self, src_zone: &str, dst_zone: &str, proto: u8, dst_port: u16) -> Verdict<'_> {
        self.decide(
            self.zone_index(src_zone),
            self.zone_index(dst_zone),
            proto,
            dst_port,
        )
    }

    /// [`judge`](Policy::judge) by zone index (as
    /// [`endpoint_zone`](Policy::endpoint_zone) returns them), the form the
    /// collector calls per flow: [`VerdictKind::Unknown`] if either is None
    /// or not a zone of this policy; else the first rule of the pair's index
    /// matching `proto`/`dst_port`, else intra-zone or the default.
    pub fn decide(
        &self,
        src: Option<usize>,
        dst: Option<usize>,
        proto: u8,
        dst_port: u16,
    ) -> Verdict<'_> {
        let n = self.zones.len();
        let (Some(s), Some(d)) = (src.filter(|&s| s < n), dst.filter(|&d| d < n)) else {
            return Verdict {
                kind: VerdictKind::Unknown,
                rule: UNZONED_RULE,
                severity: "",
            };
        };
        let pair = s * n + d;
        let decided = self.pair_rules[self.pair_start[pair]..self.pair_start[pair + 1]]
            .iter()
            .map(|&r| &self.rules[r])
            .find(|rule| rule.matches_l4(proto, dst_port));
        let (action, rule, severity) = match decided {
            Some(rule) => (
                rule.action,
                rule.description.as_str(),
                rule.severity.as_str(),
            ),
            None if s == d => (Action::Allow, INTRA_ZONE_RULE, ""),
            None => (
                self.default_cross_zone,
                DEFAULT_RULE,
                self.default_severity.as_str(),
            ),
        };
        match action {
            Action::Allow => Verdict {
                kind: VerdictKind::Allowed,
                rule,
                severity: "",
            },
            Action::Deny => Verdict {
                kind: VerdictKind::Violation,
                rule,
                severity,
            },
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn lab_path(file: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../lab")
            .join(file)
    }

    fn lab() -> (Inventory, Policy) {
        let inventory = match Inventory::load(&lab_path("inventory.toml")) {
            Ok(inv) => inv,
            Err(err) => panic!("lab inventory: {err}"),
        };
        let policy = match Policy::load(&lab_path("policy.toml")) {
            Ok(policy) => policy,
            Err(err) => panic!("lab policy: {err}"),
        };
        (inventory, policy)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    /// Zone of a lab VM found the way the collector finds it (by address).
    fn zone<'p>(inv: &Inventory, policy: &'p Policy, addr: &str) -> &'p str {
        let addr = ip(addr);
        policy.zone_of(inv.lookup(None, addr, 0, 0, 0), addr)
    }

    fn verdict<'p>(
        inv: &Inventory,
        policy: &'p Policy,
        src: &str,
        dst: &str,
        proto: u8,
        port: u16,
    ) -> Verdict<'p> {
        policy.judge(zone(inv, policy, src), zone(inv, policy, dst), proto, port)
    }

    const TCP: u8 = 6;
    const UDP: u8 = 17;

    #[test]
    fn lab_policy_loads_clean() {
        let (inv, policy) = lab();
        assert_eq!(policy.warnings(), &[] as &[ConfigError]);
        assert_eq!(policy.check_inventory(&inv), vec![]);
        let zones: Vec<&str> = policy.zone_names().collect();
        assert_eq!(
            zones,
            [
                "dmz",
                "app",
                "db",
                "payroll",
                "finance-frontend",
                "mgmt",
                "internet"
            ]
        );
        assert_eq!(policy.rules().len(), 6);
        assert_eq!(policy.default_cross_zone(), (Action::Deny, "medium"));
        assert_eq!(policy.revision().len(), 12);
        assert!(policy.revision().bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn lab_zones_follow_the_vm() {
        let (inv, policy) = lab();
        let by_name = |name: &str| {
            let vm = inv.vm(name).expect("lab VM");
            policy.zone_of(Some(vm), vm.ips[0]).to_string()
        };
        assert_eq!(by_name("web-01"), "dmz");
        assert_eq!(by_name("app-02"), "app");
        assert_eq!(by_name("db-02"), "db");
        assert_eq!(by_name("payroll-01"), "payroll", "by name pattern");
        assert_eq!(by_name("fin-fe-01"), "finance-frontend", "by port group");
        assert_eq!(by_name("jump-01"), "mgmt", "by VLAN");
        // The lab's internet zone (0.0.0.0/0, ::/0) catches every other address.
        assert_eq!(zone(&inv, &policy, "203.0.113.7"), "internet");
        assert_eq!(zone(&inv, &policy, "2001:db8::7"), "internet");
    }

    #[test]
    fn lab_verdicts() {
        let (inv, policy) = lab();
        let payroll_to_fe = verdict(&inv, &policy, "10.10.4.11", "10.10.5.11", TCP, 443);
        assert_eq!(
            payroll_to_fe,
            Verdict {
                kind: VerdictKind::Violation,
                rule: "payroll must never talk to the finance front end",
                severity: "critical",
            }
        );
        let web_to_app = verdict(&inv, &policy, "10.10.1.11", "10.10.2.11", TCP, 8443);
        assert_eq!(
            web_to_app,
            Verdict {
                kind: VerdictKind::Allowed,
                rule: "DMZ web servers call the app tier on 8443",
                severity: "",
            }
        );
        let web_to_db = verdict(&inv, &policy, "10.10.1.11", "10.10.3.12", TCP, 5432);
        assert_eq!(web_to_db.kind, VerdictKind::Violation);
        assert_eq!(web_to_db.rule, "the DMZ must never reach the database tier");
        assert_eq!(web_to_db.severity, "critical");
        let jump_to_db = verdict(&inv, &policy, "10.10.6.11", "10.10.3.11", TCP, 22);
        assert_eq!(jump_to_db.kind, VerdictKind::Allowed);
        assert_eq!(
            jump_to_db.rule,
            "management jump host administers everything over SSH"
        );
        let app_to_db = verdict(&inv, &policy, "10.10.2.12", "fd00:10:3::11", TCP, 5432);
        assert_eq!(app_to_db.kind, VerdictKind::Allowed);
        // Same pair, wrong port: no rule, cross-zone default.
        let app_to_db_ssh = verdict(&inv, &policy, "10.10.2.12", "10.10.3.11", TCP, 22);
        assert_eq!(
            app_to_db_ssh,
            Verdict {
                kind: VerdictKind::Violation,
                rule: DEFAULT_RULE,
                severity: "medium",
            }
        );
        let web_to_web = verdict(&inv, &policy, "10.10.1.11", "10.10.1.12", TCP, 80);
        assert_eq!(
            web_to_web,
            Verdict {
                kind: VerdictKind::Allowed,
                rule: INTRA_ZONE_RULE,
                severity: "",
            }
        );
        let web_to_app_udp = verdict(&inv, &policy, "10.10.1.11", "10.10.2.11", UDP, 8443);
        assert_eq!(web_to_app_udp.rule, DEFAULT_RULE);
        let web_out = verdict(&inv, &policy, "10.10.1.11", "203.0.113.7", TCP, 443);
        assert_eq!(web_out.kind, VerdictKind::Violation);
        assert_eq!(web_out.rule, DEFAULT_RULE);
    }

    #[test]
    fn unzoned_endpoints_are_unknown() {
        let (inv, policy) = lab();
        let unknown = Verdict {
            kind: VerdictKind::Unknown,
            rule: UNZONED_RULE,
            severity: "",
        };
        assert_eq!(policy.judge(UNZONED, "db", TCP, 5432), unknown);
        assert_eq!(
            policy.judge("mgmt", UNZONED, TCP, 22),
            unknown,
            "'*' is not unzoned"
        );
        assert_eq!(policy.judge("dmz", "no-such-zone", TCP, 22), unknown);
        assert_eq!(VerdictKind::Unknown.as_str(), "unknown");

        // Without a catch-all CIDR zone an address outside the inventory is unzoned.
        let text = "[[zone]]\nname = \"db\"\ntags = [\"db\"]\n\
                    [[zone]]\nname = \"lab\"\ncidrs = [\"10.10.0.0/16\"]\n";
        let policy = Policy::parse(text, "p.toml").expect("valid");
        assert_eq!(zone(&inv, &policy, "10.10.3.11"), "db");
        assert_eq!(zone(&inv, &policy, "10.10.99.1"), "lab");
        assert_eq!(zone(&inv, &policy, "192.0.2.1"), UNZONED);
        assert_eq!(zone(&inv, &policy, "fd00:10:1::11"), UNZONED);
        let v = verdict(&inv, &policy, "192.0.2.1", "10.10.3.11", TCP, 5432);
        assert_eq!(v.kind, VerdictKind::Unknown);
    }

    #[test]
    fn lab_separation() {
        let (inv, policy) = lab();
        assert_eq!(
            policy.separation_violations(&inv),
            vec![CoResidency {
                host: "esx-03".into(),
                zones: ("payroll".into(), "finance-frontend".into()),
                vms: ("payroll-01".into(), "fin-fe-01".into()),
            }]
        );
    }

    #[test]
    fn separation_follows_migrations_and_same_zone_pairs() {
        let (inv, _) = lab();
        // web-02 moved next to the databases: dmz and db now share esx-04.
        let text = std::fs::read_to_string(lab_path("inventory.toml")).expect("lab inventory");
        let moved = text.replacen(
            "name = \"web-02\"\nhost = \"esx-02\"",
            "name = \"web-02\"\nhost = \"esx-04\"",
            1,
        );
        assert_ne!(moved, text);
        let moved = Inventory::parse(&moved, "moved.toml").expect("valid");
        let policy_text = "separate = [[\"dmz\", \"db\"], [\"db\", \"db\"]]\n\
                           [[zone]]\nname = \"dmz\"\ntags = [\"dmz\"]\n\
                           [[zone]]\nname = \"db\"\ntags = [\"db\"]\n";
        let policy = Policy::parse(policy_text, "p.toml").expect("valid");
        let pairs: Vec<(String, String)> = policy
            .separation_violations(&moved)
            .into_iter()
            .map(|c| c.vms)
            .collect();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            pairs,
            [
                pair("web-02", "db-01"),
                pair("web-02", "db-02"),
                pair("db-01", "db-02")
            ]
        );
        // Before the move only the two databases share a host.
        assert_eq!(policy.separation_violations(&inv).len(), 1);
    }

    #[test]
    fn separation_periods_follow_placement_history() {
        // fin-fe-01 leaves esx-03 at 09:01 and comes back at 09:02; at 09:03
        // payroll-01 itself moves to esx-04, next to nobody it is kept from.
        let text = std::fs::read_to_string(lab_path("inventory.toml")).expect("lab inventory");
        let history = format!(
            "{text}\n[[vm]]\nname = \"fin-fe-01\"\nsince = \"2026-11-02T09:01:00Z\"\nhost = \"esx-01\"\n\
             \n[[vm]]\nname = \"fin-fe-01\"\nsince = \"2026-11-02T09:02:00Z\"\nhost = \"esx-03\"\n\
             \n[[vm]]\nname = \"payroll-01\"\nsince = \"2026-11-02T09:03:00Z\"\nhost = \"esx-04\"\n"
        );
        let inv = Inventory::parse(&history, "history.toml").expect("valid");
        let (_, policy) = lab();
        let ms = |t: &str| crate::inventory::parse_time(t).expect("time");
        let periods: Vec<(String, String, u64, u64)> = policy
            .separation_periods(&inv)
            .into_iter()
            .map(|p| (p.pair.host, p.pair.vms.1, p.since_ms, p.until_ms))
            .collect();
        let fin = |host: &str, since: u64, until: u64| {
            (host.to_string(), "fin-fe-01".to_string(), since, until)
        };
        assert_eq!(
            periods,
            vec![
                fin("esx-03", 0, ms("2026-11-02T09:01:00Z")),
                fin(
                    "esx-03",
                    ms("2026-11-02T09:02:00Z"),
                    ms("2026-11-02T09:03:00Z")
                ),
            ]
        );
        assert!(policy.separation_violations(&inv).is_empty(), "apart now");
        // The lab as it is: one period, still open.
        let (lab_inv, _) = lab();
        let open = policy.separation_periods(&lab_inv);
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].since_ms, open[0].until_ms), (0, CURRENT));
    }

    /// vMotions that create a co-residency (still current, and one ended by
    /// a removal), next to the lab's own: history and the current list.
    #[test]
    fn separation_periods_created_by_vmotion_and_ended_by_removal() {
        let text = std::fs::read_to_string(lab_path("inventory.toml")).expect("lab inventory");
        let history = format!(
            "{text}\n[[vm]]\nname = \"db-02\"\nsince = \"2026-11-02T09:04:00Z\"\nhost = \"esx-02\"\n\
             \n[[vm]]\nname = \"db-01\"\nsince = \"2026-11-02T09:05:00Z\"\nhost = \"esx-01\"\n\
             \n[[vm]]\nname = \"db-02\"\nsince = \"2026-11-02T09:06:00Z\"\nremoved = true\n"
        );
        let inv = Inventory::parse(&history, "history.toml").expect("valid");
        let (_, policy) = lab();
        let ms = |t: &str| crate::inventory::parse_time(t).expect("time");
        let periods = policy.separation_periods(&inv);
        let seen: Vec<(&str, &str, &str, u64, u64)> = periods
            .iter()
            .map(|p| {
                (
                    p.pair.host.as_str(),
                    p.pair.vms.0.as_str(),
                    p.pair.vms.1.as_str(),
                    p.since_ms,
                    p.until_ms,
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (
                    "esx-01",
                    "web-01",
                    "db-01",
                    ms("2026-11-02T09:05:00Z"),
                    CURRENT
                ),
                (
                    "esx-02",
                    "web-02",
                    "db-02",
                    ms("2026-11-02T09:04:00Z"),
                    ms("2026-11-02T09:06:00Z")
                ),
                ("esx-03", "payroll-01", "fin-fe-01", 0, CURRENT),
            ]
        );
        assert_eq!(periods[0].pair.zones, ("dmz".to_string(), "db".to_string()));
        let now: Vec<(String, String)> = policy
            .separation_violations(&inv)
            .into_iter()
            .map(|c| (c.host, c.vms.1))
            .collect();
        assert_eq!(
            now,
            vec![
                ("esx-01".to_string(), "db-01".to_string()),
                ("esx-03".to_string(), "fin-fe-01".to_string())
            ]
        );
        // A report window sees the periods that share time with it.
        let window = |from: &str, to: &str| -> Vec<&str> {
            periods
                .iter()
                .filter(|p| p.overlaps(Some(ms(from)), Some(ms(to))))
                .map(|p| p.pair.host.as_str())
                .collect()
        };
        assert_eq!(
            window("2026-11-02T09:00:00Z", "2026-11-02T09:04:00Z"),
            ["esx-03"]
        );
        assert_eq!(
            window("2026-11-02T09:04:00Z", "2026-11-02T09:05:00Z"),
            ["esx-02", "esx-03"]
        );
        assert_eq!(
            window("2026-11-02T09:06:00Z", "2026-11-02T10:00:00Z"),
            ["esx-01", "esx-03"]
        );
        assert!(periods.iter().all(|p| p.overlaps(None, None)));
    }

    #[test]
    fn indexed_zones_equal_direct_zones() {
        let (inv, policy) = lab();
        let placements = policy.placement_zones(&inv);
        assert_eq!(placements.len(), inv.vms.len());
        for (vm, &zone) in inv.vms.iter().zip(&placements) {
            assert_eq!(zone, policy.vm_zone_index(vm));
            for &ip in &vm.ips {
                let index = policy.endpoint_zone(zone, ip);
                assert_eq!(policy.zone_name(index), policy.zone_of(Some(vm), ip));
                let found = inv.lookup_index(None, ip, 0, 0, 0);
                assert_eq!(found.map(|i| &inv.vms[i]), Some(vm));
            }
        }
        let outside = ip("203.0.113.9");
        let internet = policy.endpoint_zone(None, outside);
        assert_eq!(policy.zone_name(internet), "internet");
        assert_eq!(policy.endpoint_zone(Some(999), outside), internet);
        assert_eq!(policy.zone_name(None), UNZONED);
        assert_eq!(policy.zone_name(Some(999)), UNZONED);
        // By index and by name, the same verdicts.
        let (dmz, app) = (policy.zone_index("dmz"), policy.zone_index("app"));
        assert_eq!(
            policy.decide(dmz, app, TCP, 8443),
            policy.judge("dmz", "app", TCP, 8443)
        );
        assert_eq!(policy.decide(dmz, None, TCP, 1).kind, VerdictKind::Unknown);
        assert_eq!(
            policy.decide(Some(999), app, TCP, 1).kind,
            VerdictKind::Unknown
        );
    }

    /// The CIDR range tables against the definition: the first zone in the
    /// file with a prefix holding the address, over generated nested and
    /// overlapping prefixes of both families and every boundary address.
    #[test]
    fn cidr_tables_equal_first_matching_prefix() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..40 {
            let mut text = String::new();
            let mut prefixes: Vec<(usize, Cidr)> = Vec::new();
            for zone in 0..6 {
                let mut cidrs = Vec::new();
                for _ in 0..(next() % 5) {
                    // Few distinct high bits, so prefixes nest and overlap.
                    let cidr = if next() % 3 == 0 {
                        let len = (next() % 129) as u8;
                        let addr = u128::from(next() % 4) << 120 | u128::from(next() % 4) << 64;
                        Cidr {
                            addr: IpAddr::V6(mask_v6(addr, len).into()),
                            len,
                        }
                    } else {
                        let len = (next() % 33) as u8;
                        let addr = ((next() % 4) as u32) << 30 | ((next() % 8) as u32) << 20;
                        Cidr {
                            addr: IpAddr::V4(mask_v4(addr, len).into()),
                            len,
                        }
                    };
                    cidrs.push(format!("\"{cidr}\""));
                    prefixes.push((zone, cidr));
                }
                text.push_str(&format!(
                    "[[zone]]\nname = \"z{zone}\"\ncidrs = [{}]\n",
                    cidrs.join(", ")
                ));
            }
            let policy = match Policy::parse(&text, "generated.toml") {
                Ok(policy) => policy,
                Err(err) => panic!("round {round}: {err}\n{text}"),
            };
            let expect = |addr: IpAddr| {
                prefixes
                    .iter()
                    .filter(|(_, c)| c.contains(addr))
                    .map(|&(zone, _)| zone)
                    .min()
            };
            let mut probes: Vec<IpAddr> = vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V4(Ipv4Addr::BROADCAST),
                IpAddr::V6(u128::MAX.into()),
                IpAddr::V6(0u128.into()),
            ];
            for (_, c) in &prefixes {
                match c.addr {
                    IpAddr::V4(net) => {
                        let first = u32::from(net);
                        let last = first | !mask_v4(u32::MAX, c.len);
                        for a in [first.wrapping_sub(1), first, last, last.wrapping_add(1)] {
                            probes.push(IpAddr::V4(a.into()));
                        }
                    }
                    IpAddr::V6(net) => {
                        let first = u128::from(net);
                        let last = first | !mask_v6(u128::MAX, c.len);
                        for a in [first.wrapping_sub(1), first, last, last.wrapping_add(1)] {
                            probes.push(IpAddr::V6(a.into()));
                        }
                    }
                }
            }
            for _ in 0..200 {
                probes.push(IpAddr::V4(
                    (((next() % 4) as u32) << 30 | (next() as u32 & 0x3fff_ffff)).into(),
                ));
            }
            for addr in probes {
                assert_eq!(
                    policy.endpoint_zone(None, addr),
                    expect(addr),
                    "round {round}, {addr}\n{text}"
                );
            }
        }
    }

    #[test]
    fn precedence_between_and_within_kinds() {
        let text = "\
[[zone]]
name = \"by-cidr\"
cidrs = [\"10.0.0.0/8\"]

[[zone]]
name = \"by-vni\"
vnis = [5000]

[[zone]]
name = \"by-vlan\"
vlans = [7]

[[zone]]
name = \"by-pg\"
port_groups = [\"pg\"]

[[zone]]
name = \"by-tag\"
tags = [\"t2\"]

[[zone]]
name = \"by-tag-first\"
tags = [\"t1\"]

[[zone]]
name = \"by-name\"
vm_names = [\"vm-*\"]
";
        let policy = Policy::parse(text, "p.toml").expect("valid");
        let addr = ip("10.1.2.3");
        let mut vm = Vm {
            name: "vm-1".into(),
            host: "h".into(),
            macs: vec![],
            ips: vec![addr],
            port_group: "pg".into(),
            vlan: 7,
            vni: 5000,
            tags: vec!["t1".into(), "t2".into()],
            since_ms: 0,
            until_ms: CURRENT,
        };
        assert_eq!(policy.zone_of(Some(&vm), addr), "by-name");
        vm.name = "other".into();
        assert_eq!(
            policy.zone_of(Some(&vm), addr),
            "by-tag",
            "first zone in the file"
        );
        vm.tags.clear();
        assert_eq!(policy.zone_of(Some(&vm), addr), "by-pg");
        vm.port_group.clear();
        assert_eq!(policy.zone_of(Some(&vm), addr), "by-vlan");
        vm.vlan = 0;
        assert_eq!(policy.zone_of(Some(&vm), addr), "by-vni");
        vm.vni = 0;
        assert_eq!(policy.zone_of(Some(&vm), addr), "by-cidr");
        assert_eq!(policy.zone_of(Some(&vm), ip("192.0.2.1")), UNZONED);
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 9, 9, 9).to_ipv6_mapped());
        assert_eq!(policy.zone_of(None, mapped), "by-cidr");
    }

    #[test]
    fn the_first_name_pattern_in_the_file_wins() {
        // globset matches literals, prefixes and globs with different
        // strategies: file order must hold across them.
        let zone = |name: &str, patterns: &str| {
            format!("[[zone]]\nname = \"{name}\"\nvm_names = [{patterns}]\n")
        };
        let vm = |name: &str| Vm {
            name: name.into(),
            host: "h".into(),
            macs: vec![],
            ips: vec![],
            port_group: String::new(),
            vlan: 0,
            vni: 0,
            tags: vec![],
            since_ms: 0,
            until_ms: CURRENT,
        };
        let addr = ip("192.0.2.1");
        let text = zone("wide", "\"pay*\"") + &zone("exact", "\"payroll-01\", \"db-?\"");
        let policy = Policy::parse(&text, "p.toml").expect("valid");
        assert_eq!(policy.zone_of(Some(&vm("payroll-01")), addr), "wide");
        assert_eq!(policy.zone_of(Some(&vm("db-1")), addr), "exact");
        let text = zone("exact", "\"payroll-01\"") + &zone("wide", "\"x\", \"pay*\"");
        let policy = Policy::parse(&text, "p.toml").expect("valid");
        assert_eq!(policy.zone_of(Some(&vm("payroll-01")), addr), "exact");
        assert_eq!(policy.zone_of(Some(&vm("payroll-02")), addr), "wide");
        assert_eq!(policy.zone_of(Some(&vm("other")), addr), UNZONED);
    }

    #[test]
    fn cidrs_first_zone_wins_and_overlap_warns() {
        let text = "[[zone]]\nname = \"wide\"\ncidrs = [\"10.0.0.0/8\"]\n\
                    [[zone]]\nname = \"narrow\"\ncidrs = [\"10.1.0.0/16\", \"192.168.1.0/24\"]\n";
        let policy = Policy::parse(text, "p.toml").expect("valid");
        assert_eq!(policy.zone_of(None, ip("10.1.2.3")), "wide");
        assert_eq!(policy.zone_of(None, ip("192.168.1.9")), "narrow");
        let warnings = policy.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(
            (warnings[0].line, warnings[0].field.as_str()),
            (6, "zone.cidrs")
        );
        assert!(warnings[0]
            .message
            .contains("overlaps 10.0.0.0/8 of zone \"wide\""));
    }

    #[test]
    fn l4_matching() {
        let text = "\
[[zone]]
name = \"a\"
tags = [\"a\"]
[[zone]]
name = \"b\"
tags = [\"b\"]
[[rule]]
description = \"ping\"
from = [\"*\"]
to = [\"*\"]
proto = \"icmp\"
action = \"allow\"
[[rule]]
description = \"web\"
from = [\"a\"]
to = [\"b\"]
proto = 6
ports = [\"80\", 443, \"8000-8999\"]
action = \"allow\"
[[rule]]
description = \"no dns inside b\"
from = [\"b\"]
to = [\"b\"]
proto = \"udp\"
ports = [\"53\"]
action = \"deny\"
severity = \"low\"
";
        let policy = Policy::parse(text, "p.toml").expect("valid");
        let rule = |s: &str, d: &str, proto: u8, port: u16| policy.judge(s, d, proto, port).rule;
        assert_eq!(rule("a", "b", 1, 0), "ping");
        assert_eq!(rule("b", "a", 58, 0), "ping");
        assert_eq!(rule("a", "b", TCP, 443), "web");
        assert_eq!(rule("a", "b", TCP, 8000), "web");
        assert_eq!(rule("a", "b", TCP, 8999), "web");
        assert_eq!(rule("a", "b", TCP, 9000), DEFAULT_RULE);
        assert_eq!(rule("a", "b", UDP, 443), DEFAULT_RULE);
        assert_eq!(rule("b", "a", TCP, 443), DEFAULT_RULE);
        let dns = policy.judge("b", "b", UDP, 53);
        assert_eq!((dns.kind, dns.severity), (VerdictKind::Violation, "low"));
        assert_eq!(rule("b", "b", UDP, 54), INTRA_ZONE_RULE);
        assert_eq!(rule("a", "a", UDP, 53), INTRA_ZONE_RULE);
    }

    #[test]
    fn default_cross_zone_allow() {
        let text = "default_cross_zone = \"allow\"\n\
                    [[zone]]\nname = \"a\"\ntags = [\"a\"]\n[[zone]]\nname = \"b\"\ntags = [\"b\"]\n";
        let policy = Policy::parse(text, "p.toml").expect("valid");
        let v = policy.judge("a", "b", TCP, 1);
        assert_eq!(
            (v.kind, v.rule, v.severity),
            (VerdictKind::Allowed, DEFAULT_RULE, "")
        );
    }

    #[test]
    fn revision_follows_content() {
        let text = std::fs::read_to_string(lab_path("policy.toml")).expect("lab policy");
        let a = Policy::parse(&text, "a").expect("valid");
        let b = Policy::parse(&text, "b").expect("valid");
        let c = Policy::parse(&format!("{text}\n# edited\n"), "c").expect("valid");
        assert_eq!(a.revision(), b.revision());
        assert_ne!(a.revision(), c.revision());
        // SHA-256 of the empty string starts e3b0c44298fc.
        assert_eq!(
            Policy::parse("", "empty").expect("valid").revision(),
            "e3b0c44298fc"
        );
    }

    #[test]
    fn cidr_and_port_parsing() {
        assert_eq!(
            Cidr::parse("10.0.0.0/8").map(|c| c.to_string()),
            Ok("10.0.0.0/8".into())
        );
        assert_eq!(Cidr::parse("10.0.0.1").map(|c| c.len), Ok(32));
        assert_eq!(Cidr::parse("fd00::/8").map(|c| c.len), Ok(8));
        assert!(Cidr::parse("10.0.0.1/8").is_err_and(|e| e.contains("10.0.0.0/8")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0/8").is_err());
        assert!(Cidr::parse("::/129").is_err());
        assert_eq!(
            PortRange::parse("22"),
            Ok(PortRange {
                first: 22,
                last: 22
            })
        );
        assert_eq!(
            PortRange::parse("8000-8999"),
            Ok(PortRange {
                first: 8000,
                last: 8999
            })
        );
        assert!(PortRange::parse("9000-8000").is_err());
        assert!(PortRange::parse("65536").is_err());
        assert!(PortRange::parse("ssh").is_err());
        assert!(PortRange::parse("1-2-3").is_err());
    }

    fn parse_err(text: &str) -> ConfigError {
        match Policy::parse(text, "p.toml") {
            Ok(policy) => panic!("parsed: {policy:?}"),
            Err(err) => err,
        }
    }

    fn assert_at(err: &ConfigError, line: usize, field: &str, needle: &str) {
        assert_eq!(
            (err.file.as_str(), err.line, err.field.as_str()),
            ("p.toml", line, field),
            "{err}"
        );
        assert!(err.message.contains(needle), "{err}");
    }

    /// Lines 1-6: zones "a" and "b".
    const ZONES: &str =
        "[[zone]]\nname = \"a\"\ntags = [\"a\"]\n[[zone]]\nname = \"b\"\ntags = [\"b\"]\n";

    fn with_rule(body: &str) -> String {
        // The rule's header is line 7, its first key line 8.
        format!("{ZONES}[[rule]]\n{body}")
    }

    #[test]
    fn rule_naming_unknown_zone() {
        let text = with_rule(
            "description = \"x\"\nfrom = [\"a\"]\nto = [\"a\", \"c\"]\naction = \"deny\"\n",
        );
        assert_at(&parse_err(&text), 10, "rule.to", "unknown zone \"c\"");
        let text = with_rule(
            "description = \"x\"\nfrom = [\"unzoned\"]\nto = [\"a\"]\naction = \"deny\"\n",
        );
        assert_at(&parse_err(&text), 9, "rule.from", "judged unknown");
        let text = with_rule("description = \"x\"\nfrom = []\nto = [\"a\"]\naction = \"deny\"\n");
        assert_at(&parse_err(&text), 9, "rule.from", "empty list");
    }

    #[test]
    fn separate_naming_unknown_zone() {
        let text = format!("separate = [[\"a\", \"b\"],\n  [\"a\", \"nope\"]]\n{ZONES}");
        assert_at(&parse_err(&text), 2, "separate", "unknown zone \"nope\"");
        let text = format!("separate = [[\"a\", \"b\", \"a\"]]\n{ZONES}");
        assert_at(&parse_err(&text), 1, "separate", "pair of zones");
    }

    #[test]
    fn bad_ports_and_protos() {
        let rule = |proto: &str, ports: &str| {
            with_rule(&format!(
                "description = \"x\"\nfrom = [\"a\"]\nto = [\"b\"]\n{proto}\n{ports}\naction = \"allow\"\n"
            ))
        };
        let err = parse_err(&rule("proto = \"tcp\"", "ports = [\"22\", \"9000-8000\"]"));
        assert_at(&err, 12, "rule.ports", "backwards");
        let err = parse_err(&rule("proto = \"tcp\"", "ports = [\"70000\"]"));
        assert_at(&err, 12, "rule.ports", "not a port");
        let err = parse_err(&rule("proto = \"tcp\"", "ports = []"));
        assert_at(&err, 12, "rule.ports", "empty list");
        let err = parse_err(&rule("proto = \"icmp\"", "ports = [\"22\"]"));
        assert_at(&err, 12, "rule.ports", "ports need proto");
        let err = parse_err(&rule("", "ports = [\"22\"]"));
        assert_at(&err, 12, "rule.ports", "ports need proto");
        let err = parse_err(&rule("proto = \"tpc\"", ""));
        assert_at(&err, 11, "rule.proto", "not a protocol");
        let err = parse_err(&rule("proto = 256", ""));
        assert_at(&err, 11, "rule.proto", "not a protocol");
    }

    #[test]
    fn bad_zone_selectors() {
        let err = parse_err("[[zone]]\nname = \"a\"\ncidrs = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n");
        assert_at(&err, 3, "zone.cidrs", "prefix length");
        let err = parse_err("[[zone]]\nname = \"a\"\ncidrs = [\"10.1.0.0/8\"]\n");
        assert_at(&err, 3, "zone.cidrs", "host bits");
        let err = parse_err("[[zone]]\nname = \"a\"\nvm_names = [\"web-[\"]\n");
        assert_at(&err, 3, "zone.vm_names", "");
        let err = parse_err("[[zone]]\nname = \"a\"\nvlans = [4095]\n");
        assert_at(&err, 3, "zone.vlans", "4095");
        let err = parse_err("[[zone]]\nname = \"a\"\nvnis = [0]\n");
        assert_at(&err, 3, "zone.vnis", "VNI 0");
        let err = parse_err(&format!("{ZONES}[[zone]]\nname = \"a\"\ntags = [\"x\"]\n"));
        assert_at(
            &err,
            8,
            "zone.name",
            "duplicate zone \"a\" (first at line 2)",
        );
        let err = parse_err("[[zone]]\nname = \"*\"\n");
        assert_at(&err, 2, "zone.name", "reserved");
        let err = parse_err("[[zone]]\nname = \"a\"\ntag = [\"x\"]\n");
        assert_at(&err, 3, "zone.tag", "unknown field");
        let err = parse_err("[[zone]]\nname = \"a\"\ncidrs = [\"10.0.0.0/8\", \"ten/8\"]\n");
        assert_at(&err, 3, "zone.cidrs", "is not a CIDR");
    }

    #[test]
    fn empty_description_and_allow_severity() {
        let err = parse_err(&with_rule(
            "description = \" \"\nfrom = [\"a\"]\nto = [\"b\"]\naction = \"deny\"\n",
        ));
        assert_at(&err, 8, "rule.description", "empty description");
        let text = with_rule(
            "description = \"x\"\nfrom = [\"a\"]\nto = [\"b\"]\naction = \"allow\"\n\
             severity = \"high\"\n",
        );
        let policy = Policy::parse(&text, "p.toml").expect("valid");
        let warnings = policy.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_at(
            &warnings[0],
            12,
            "rule.severity",
            "severity of an allow rule",
        );
        assert_eq!(policy.rules()[0].severity, "");
    }

    #[test]
    fn bad_rule_fields() {
        let text =
            with_rule("description = \"x\"\nfrom = [\"a\"]\nto = [\"b\"]\naction = \"permit\"\n");
        assert_at(&parse_err(&text), 11, "rule.action", "unknown variant");
        let text = with_rule("description = \"x\"\nfrom = [\"a\"]\nto = [\"b\"]\naction = \"deny\"\nseverity = \"urgent\"\n");
        assert_at(&parse_err(&text), 12, "rule.severity", "unknown severity");
        let text = with_rule("description = \"x\"\nfrom = [\"a\"]\nto = [\"b\"]\n");
        assert_eq!(parse_err(&text).field, "rule.action");
        let text = format!(
            "{}[[rule]]\ndescription = \"x\"\nfrom = [\"b\"]\nto = [\"a\"]\naction = \"deny\"\n",
            with_rule("description = \"x\"\nfrom = [\"a\"]\nto = [\"b\"]\naction = \"deny\"\n")
        );
        assert_at(&parse_err(&text), 13, "rule.description", "first at line 8");
        let err = parse_err("default_severity = \"severe\"\n");
        assert_at(&err, 1, "default_severity", "unknown severity");
        let err = parse_err("default_cross_zone = \"maybe\"\n");
        assert_at(&err, 1, "default_cross_zone", "unknown variant");
    }

    #[test]
    fn shadowed_rules_warn() {
        let text = with_rule(
            "description = \"all tcp a to b\"\nfrom = [\"a\"]\nto = [\"*\"]\nproto = \"tcp\"\naction = \"deny\"\n\
             [[rule]]\ndescription = \"web a to b\"\nfrom = [\"a\"]\nto = [\"b\"]\nproto = \"tcp\"\nports = [\"443\"]\naction = \"allow\"\n\
             [[rule]]\ndescription = \"udp a to b\"\nfrom = [\"a\", \"b\"]\nto = [\"b\"]\nproto = \"udp\"\nports = [\"1-100\", \"101-200\"]\naction = \"allow\"\n\
             [[rule]]\ndescription = \"dns\"\nfrom = [\"b\"]\nto = [\"b\"]\nproto = \"udp\"\nports = [\"53\", \"150-160\"]\naction = \"allow\"\n\
             [[rule]]\ndescription = \"icmp\"\nfrom = [\"a\"]\nto = [\"b\"]\nproto = \"icmp\"\naction = \"allow\"\n",
        );
        let policy = Policy::parse(&text, "p.toml").expect("valid");
        let warnings = policy.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_at(
            &warnings[0],
            14,
            "rule",
            "\"web a to b\" never decides: rule \"all tcp a to b\" (line 8)",
        );
        assert_at(
            &warnings[1],
            28,
            "rule",
            "\"dns\" never decides: rule \"udp a to b\"",
        );
    }

    #[test]
    fn unreachable_zones_warn() {
        let text = "[[zone]]\nname = \"a\"\ntags = [\"x\"]\nvlans = [7]\n\
                    [[zone]]\nname = \"b\"\ntags = [\"x\"]\n\
                    [[zone]]\nname = \"c\"\n\
                    [[zone]]\nname = \"d\"\ntags = [\"x\", \"y\"]\n";
        let policy = Policy::parse(text, "p.toml").expect("valid");
        let found: Vec<(usize, bool)> = policy
            .warnings()
            .iter()
            .map(|w| {
                (
                    w.line,
                    w.message.contains("unreachable") || w.message.contains("no selectors"),
                )
            })
            .collect();
        assert_eq!(
            found,
            [(6, true), (9, true), (12, false)],
            "{:?}",
            policy.warnings()
        );
        assert_at(
            &policy.warnings()[2],
            12,
            "zone.tags",
            "\"x\" already selects zone \"a\"",
        );

        let (inv, _) = lab();
        let text = "[[zone]]\nname = \"dmz\"\ntags = [\"dmz\"]\n[[zone]]\nname = \"ghost\"\nvm_names = [\"ghost-*\"]\n\
                    [[zone]]\nname = \"outside\"\ncidrs = [\"0.0.0.0/0\"]\n";
        let policy = Policy::parse(text, "p.toml").expect("valid");
        let empty = policy.check_inventory(&inv);
        assert_eq!(empty.len(), 1, "{empty:?}");
        assert_at(&empty[0], 5, "zone", "zone \"ghost\"");
    }

    #[test]
    fn unreadable_file() {
        let err =
            Policy::load(Path::new("/nonexistent/eastwest/policy.toml")).expect_err("missing");
        assert_eq!((err.line, err.field.as_str()), (0, ""));
    }
}
