//! The policy file's TOML shapes and the [`Builder`] that checks them,
//! reporting every problem with file, line and field (zones, rules and
//! `separate` pairs are checked in their own modules; `Policy::parse`
//! puts it together).

use serde::Deserialize;
use toml::Spanned;

use super::{Action, SEVERITIES};
use crate::config::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDef {
    pub(super) default_cross_zone: Option<Action>,
    pub(super) default_severity: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) separate: Vec<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub(super) zone: Vec<ZoneDef>,
    #[serde(default)]
    pub(super) rule: Vec<RuleDef>,
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

/// Builds a [`Policy`](super::Policy) from the parsed file, checking as it goes.
pub(super) struct Builder<'a> {
    pub(super) origin: &'a str,
    pub(super) text: &'a str,
    pub(super) warnings: Vec<ConfigError>,
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
