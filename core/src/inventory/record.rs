//! A placement as written (TOML, CSV or event), checked value by value.

use std::net::IpAddr;

use super::values::{parse_addr, parse_mac, parse_time};
use super::Mac;
use crate::config::ConfigError;

/// Largest VXLAN/Geneve VNI (24 bits).
const MAX_VNI: u32 = 0x00ff_ffff;
/// Largest ERSPAN session id (10 bits).
pub(super) const MAX_SESSION: u16 = 1023;
/// Largest 802.1Q VLAN id.
const MAX_VLAN: u16 = 4094;

/// A value and the line it was written on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct At<T> {
    pub(super) value: T,
    pub(super) line: usize,
}

/// One placement as written, checked value by value but not yet against
/// other placements. `None` fields are inherited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    /// File (or event source) and the prefix of its field names
    /// (`vm.` in TOML, `` in CSV, `event.` for events).
    file: String,
    prefix: &'static str,
    pub(super) name: At<String>,
    pub(super) since_ms: u64,
    pub(super) removed: bool,
    pub(super) host: Option<At<String>>,
    pub(super) macs: Option<Vec<At<Mac>>>,
    pub(super) ips: Option<Vec<At<IpAddr>>>,
    pub(super) port_group: Option<String>,
    pub(super) vlan: Option<u16>,
    pub(super) vni: Option<u32>,
    pub(super) tags: Option<Vec<String>>,
}

impl Record {
    pub(super) fn error(
        &self,
        line: usize,
        field: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line,
            field: field_name(self.prefix, field),
            message: message.into(),
        }
    }
}

/// A record field as its source names it: events call `name` and `since`
/// `vm` and `time`.
fn field_name(prefix: &str, field: &str) -> String {
    let field = match (prefix, field) {
        (EVENT_PREFIX, "name") => "vm",
        (EVENT_PREFIX, "since") => "time",
        _ => field,
    };
    format!("{prefix}{field}")
}

/// Field prefix of errors in inventory events.
pub(super) const EVENT_PREFIX: &str = "event.";

/// A record's fields as text, located; what TOML, CSV and events each turn
/// their input into before the shared checks of [`RawRecord::check`].
#[derive(Debug, Default)]
pub(super) struct RawRecord {
    pub(super) name: At<String>,
    pub(super) since: Option<At<String>>,
    pub(super) removed: bool,
    pub(super) host: Option<At<String>>,
    pub(super) macs: Option<Vec<At<String>>>,
    pub(super) ips: Option<Vec<At<String>>>,
    pub(super) port_group: Option<String>,
    pub(super) vlan: Option<At<u64>>,
    pub(super) vni: Option<At<u64>>,
    pub(super) tags: Option<Vec<String>>,
}

impl Default for At<String> {
    fn default() -> Self {
        At {
            value: String::new(),
            line: 0,
        }
    }
}

impl RawRecord {
    /// Parse and range-check each value.
    pub(super) fn check(self, file: &str, prefix: &'static str) -> Result<Record, ConfigError> {
        let err = |line: usize, field: &str, message: String| ConfigError {
            file: file.to_string(),
            line,
            field: field_name(prefix, field),
            message,
        };
        let name = self.name;
        if name.value.is_empty() {
            return Err(err(name.line, "name", "empty VM name".into()));
        }
        let since_ms = match &self.since {
            None => 0,
            Some(since) => parse_time(&since.value).map_err(|m| err(since.line, "since", m))?,
        };
        if let Some(host) = &self.host {
            if host.value.is_empty() {
                return Err(err(host.line, "host", "empty host name".into()));
            }
        }
        let vlan = match self.vlan {
            Some(vlan) if vlan.value > u64::from(MAX_VLAN) => {
                let msg = format!("VLAN {} is not in 0-{MAX_VLAN}", vlan.value);
                return Err(err(vlan.line, "vlan", msg));
            }
            Some(vlan) => u16::try_from(vlan.value).ok(),
            None => None,
        };
        let vni = match self.vni {
            Some(vni) if vni.value > u64::from(MAX_VNI) => {
                let msg = format!("VNI {} does not fit in 24 bits", vni.value);
                return Err(err(vni.line, "vni", msg));
            }
            Some(vni) => u32::try_from(vni.value).ok(),
            None => None,
        };
        let macs = match self.macs {
            None => None,
            Some(list) => Some(
                list.into_iter()
                    .map(|text| match parse_mac(&text.value) {
                        Some(mac) => Ok(At {
                            value: mac,
                            line: text.line,
                        }),
                        None => Err(err(
                            text.line,
                            "macs",
                            format!(
                                "{:?} is not a MAC address (want 00:50:56:00:01:11)",
                                text.value
                            ),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let ips = match self.ips {
            None => None,
            Some(list) => Some(
                list.into_iter()
                    .map(|text| match parse_addr(&text.value) {
                        Some(addr) => Ok(At {
                            value: addr,
                            line: text.line,
                        }),
                        None => Err(err(
                            text.line,
                            "ips",
                            format!("{:?} is not an IP address", text.value),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(Record {
            file: file.to_string(),
            prefix,
            name,
            since_ms,
            removed: self.removed,
            host: self.host,
            macs,
            ips,
            port_group: self.port_group,
            vlan,
            vni,
            tags: self.tags,
        })
    }
}
