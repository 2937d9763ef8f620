//! Reading a policy file: the TOML shapes, the checks that report every
//! problem with file, line and field, and the build of the lookup tables.

use std::net::IpAddr;
use std::path::Path;

use foldhash::{HashMap, HashMapExt};
use globset::{Glob, GlobSetBuilder};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::rules::Action;
use super::zones::{mask_v4, mask_v6, range_table};
use super::{Policy, SEVERITIES};
use crate::config::{self, ConfigError};

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
pub(super) struct ZoneDef {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) vm_names: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) tags: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) port_groups: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) vlans: Vec<Spanned<u16>>,
    #[serde(default)]
    pub(super) vnis: Vec<Spanned<u32>>,
    #[serde(default)]
    pub(super) cidrs: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleDef {
    pub(super) description: Spanned<String>,
    pub(super) from: Spanned<Vec<Spanned<String>>>,
    pub(super) to: Spanned<Vec<Spanned<String>>>,
    pub(super) proto: Option<Spanned<NumberOrName>>,
    pub(super) ports: Option<Spanned<Vec<Spanned<NumberOrName>>>>,
    pub(super) action: Action,
    pub(super) severity: Option<Spanned<String>>,
}

/// `proto = "tcp"` or `proto = 6`; `ports = ["22"]` or `ports = [22]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum NumberOrName {
    Number(i64),
    Name(String),
}

impl NumberOrName {
    pub(super) fn text(&self) -> String {
        match self {
            NumberOrName::Number(n) => n.to_string(),
            NumberOrName::Name(s) => s.clone(),
        }
    }
}

/// Protocols whose flows carry destination ports: TCP, UDP, SCTP.
pub(super) const PORT_PROTOS: [u8; 3] = [6, 17, 132];

pub(super) fn parse_proto(value: &NumberOrName) -> Result<Vec<u8>, String> {
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
pub(super) struct Builder<'a> {
    origin: &'a str,
    pub(super) text: &'a str,
    warnings: Vec<ConfigError>,
}

impl Builder<'_> {
    pub(super) fn error(
        &self,
        offset: usize,
        field: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::at(self.origin, self.text, offset, field, message)
    }

    pub(super) fn warn(&mut self, offset: usize, field: &str, message: impl Into<String>) {
        let warning = self.error(offset, field, message);
        self.warnings.push(warning);
    }

    pub(super) fn severity(
        &self,
        value: &Spanned<String>,
        field: &str,
    ) -> Result<String, ConfigError> {
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
