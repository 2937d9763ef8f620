//! Rules: protocols, port ranges, their checks and shadowing warnings,
//! and the per-zone-pair index.

use foldhash::{HashMap, HashMapExt};

use super::file::{parse_proto, Builder, RuleDef, PORT_PROTOS};
use super::Action;
use crate::config::{self, ConfigError};

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

/// One ordered rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub description: String,
    /// Zone names as written (may contain [`ANY_ZONE`](super::ANY_ZONE)).
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
    pub(super) from_set: Vec<bool>,
    pub(super) to_set: Vec<bool>,
}

impl Rule {
    pub(super) fn matches_l4(&self, proto: u8, dst_port: u16) -> bool {
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

impl Builder<'_> {
    pub(super) fn rules(
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
}
