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
//! `deploy/inventory.csv`. Every problem is a [`ConfigError`] naming the
//! file, line and field.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use foldhash::{HashMap, HashMapExt};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::{self, ConfigError};

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
#[serde(deny_unknown_fields)]
pub struct InventoryEvent {
    /// When the change took effect, RFC 3339 (`2026-11-02T09:01:00Z`).
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

/// Largest VXLAN/Geneve VNI (24 bits).
const MAX_VNI: u32 = 0x00ff_ffff;
/// Largest ERSPAN session id (10 bits).
const MAX_SESSION: u16 = 1023;
/// Largest 802.1Q VLAN id.
const MAX_VLAN: u16 = 4094;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    #[serde(default)]
    csv: Vec<Spanned<String>>,
    #[serde(default)]
    host: Vec<HostDef>,
    #[serde(default)]
    vm: Vec<VmDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostDef {
    name: Spanned<String>,
    domain: Spanned<u32>,
    #[serde(default)]
    mirror_sources: Vec<Spanned<String>>,
    #[serde(default)]
    erspan_sessions: Vec<Spanned<u16>>,
    #[serde(default)]
    vteps: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VmDef {
    name: Spanned<String>,
    host: Option<Spanned<String>>,
    macs: Option<Vec<Spanned<String>>>,
    ips: Option<Vec<Spanned<String>>>,
    port_group: Option<String>,
    vlan: Option<Spanned<u16>>,
    vni: Option<Spanned<u32>>,
    tags: Option<Vec<String>>,
    since: Option<Spanned<String>>,
    #[serde(default)]
    removed: bool,
}

/// Parse `00:50:56:00:01:11` (or with `-` separators, either case).
pub fn parse_mac(text: &str) -> Option<Mac> {
    let sep = if text.contains('-') { '-' } else { ':' };
    let mut mac = [0u8; 6];
    let mut parts = text.split(sep);
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Format a MAC the way the inventory writes it (`00:50:56:00:01:11`).
pub fn format_mac(mac: Mac) -> String {
    let [a, b, c, d, e, f] = mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

/// Parse an RFC 3339 time (`2026-11-02T09:01:00Z`, `...+01:00`, fractions
/// allowed) into epoch milliseconds; times before 1970 are refused.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let format = time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(text.trim(), &format)
        .map_err(|_| format!("{text:?} is not an RFC 3339 time (want 2026-11-02T09:01:00Z)"))?;
    u64::try_from(parsed.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("{text:?} is before 1970"))
}

/// Format epoch milliseconds as RFC 3339 UTC (`2026-11-02T09:01:00Z`,
/// milliseconds only when nonzero).
pub fn format_time(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    let format = time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// A value and the line it was written on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct At<T> {
    value: T,
    line: usize,
}

/// One placement as written, checked value by value but not yet against
/// other placements. `None` fields are inherited.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    /// File (or event source) and the prefix of its field names
    /// (`vm.` in TOML, `` in CSV, `event.` for events).
    file: String,
    prefix: &'static str,
    name: At<String>,
    since_ms: u64,
    removed: bool,
    host: Option<At<String>>,
    macs: Option<Vec<At<Mac>>>,
    ips: Option<Vec<At<IpAddr>>>,
    port_group: Option<String>,
    vlan: Option<u16>,
    vni: Option<u32>,
    tags: Option<Vec<String>>,
}

impl Record {
    fn error(&self, line: usize, field: &str, message: impl Into<String>) -> ConfigError {
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
const EVENT_PREFIX: &str = "event.";

/// A record's fields as text, located; what TOML, CSV and events each turn
/// their input into before the shared checks of [`RawRecord::check`].
#[derive(Debug, Default)]
struct RawRecord {
    name: At<String>,
    since: Option<At<String>>,
    removed: bool,
    host: Option<At<String>>,
    macs: Option<Vec<At<String>>>,
    ips: Option<Vec<At<String>>>,
    port_group: Option<String>,
    vlan: Option<At<u64>>,
    vni: Option<At<u64>>,
    tags: Option<Vec<String>>,
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
    fn check(self, file: &str, prefix: &'static str) -> Result<Record, ConfigError> {
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

/// Parse an address; IPv4-mapped IPv6 is kept as IPv4.
fn parse_addr(text: &str) -> Option<IpAddr> {
    text.trim()
        .parse::<IpAddr>()
        .ok()
        .map(|addr| addr.to_canonical())
}

/// A located address of the TOML file.
fn addr(
    origin: &str,
    text: &str,
    value: &Spanned<String>,
    field: &str,
) -> Result<IpAddr, ConfigError> {
    parse_addr(value.get_ref()).ok_or_else(|| {
        let msg = format!("{:?} is not an IP address", value.get_ref());
        ConfigError::at(origin, text, value.span().start, field, msg)
    })
}

/// Index `key → host` unless another host already claimed `key`; the error
/// is the message to report.
fn claim<K: std::hash::Hash + Eq + std::fmt::Display>(
    index: &mut HashMap<K, usize>,
    hosts: &[Host],
    key: K,
    host: usize,
) -> Result<(), String> {
    if let Some(&other) = index.get(&key) {
        if other != host {
            return Err(format!(
                "{key} is already used by host {:?}; frames could not be attributed",
                hosts[other].name
            ));
        }
    }
    index.insert(key, host);
    Ok(())
}

/// The hosts of the TOML file, checked and indexed.
struct HostBuilder<'a> {
    origin: &'a str,
    text: &'a str,
    inv: Inventory,
}

impl HostBuilder<'_> {
    fn host(&mut self, def: HostDef) -> Result<(), ConfigError> {
        let (origin, text) = (self.origin, self.text);
        let index = self.inv.hosts.len();
        let name = def.name.get_ref().clone();
        let at = def.name.span().start;
        if name.is_empty() {
            return Err(ConfigError::at(
                origin,
                text,
                at,
                "host.name",
                "empty host name",
            ));
        }
        if self.inv.host_by_name.contains_key(&name) {
            let msg = format!("duplicate host {name:?}");
            return Err(ConfigError::at(origin, text, at, "host.name", msg));
        }
        let inv = &mut self.inv;
        let domain = *def.domain.get_ref();
        let at = def.domain.span().start;
        claim(&mut inv.host_by_domain, &inv.hosts, domain, index)
            .map_err(|msg| ConfigError::at(origin, text, at, "host.domain", msg))?;
        let mut host = Host {
            name: name.clone(),
            domain,
            mirror_sources: Vec::new(),
            erspan_sessions: Vec::new(),
            vteps: Vec::new(),
        };
        for source in &def.mirror_sources {
            let field = "host.mirror_sources";
            let addr = addr(origin, text, source, field)?;
            let at = source.span().start;
            claim(&mut inv.host_by_mirror_source, &inv.hosts, addr, index)
                .map_err(|msg| ConfigError::at(origin, text, at, field, msg))?;
            host.mirror_sources.push(addr);
        }
        for session in &def.erspan_sessions {
            let field = "host.erspan_sessions";
            let (id, at) = (*session.get_ref(), session.span().start);
            if id > MAX_SESSION {
                let msg = format!("ERSPAN session id {id} does not fit in 10 bits (0-1023)");
                return Err(ConfigError::at(origin, text, at, field, msg));
            }
            claim(&mut inv.host_by_session, &inv.hosts, id, index)
                .map_err(|msg| ConfigError::at(origin, text, at, field, msg))?;
            host.erspan_sessions.push(id);
        }
        for vtep in &def.vteps {
            let field = "host.vteps";
            let addr = addr(origin, text, vtep, field)?;
            let at = vtep.span().start;
            claim(&mut inv.host_by_vtep, &inv.hosts, addr, index)
                .map_err(|msg| ConfigError::at(origin, text, at, field, msg))?;
            host.vteps.push(addr);
        }
        inv.host_by_name.insert(name, index);
        inv.hosts.push(host);
        Ok(())
    }
}

/// A `[[vm]]` table as a located raw record.
fn toml_record(lines: &config::Lines, def: VmDef) -> RawRecord {
    let line = |offset: usize| lines.line(offset);
    let at = |s: &Spanned<String>| At {
        value: s.get_ref().clone(),
        line: line(s.span().start),
    };
    let list = |l: &Option<Vec<Spanned<String>>>| l.as_ref().map(|l| l.iter().map(at).collect());
    RawRecord {
        name: at(&def.name),
        since: def.since.as_ref().map(at),
        removed: def.removed,
        host: def.host.as_ref().map(at),
        macs: list(&def.macs),
        ips: list(&def.ips),
        port_group: def.port_group,
        vlan: def.vlan.map(|v| At {
            value: u64::from(*v.get_ref()),
            line: line(v.span().start),
        }),
        vni: def.vni.map(|v| At {
            value: u64::from(*v.get_ref()),
            line: line(v.span().start),
        }),
        tags: def.tags,
    }
}

/// Columns a VM CSV file may have (`name` is required).
pub const CSV_COLUMNS: [&str; 10] = [
    "name",
    "host",
    "macs",
    "ips",
    "port_group",
    "vlan",
    "vni",
    "tags",
    "since",
    "removed",
];

/// Split one CSV line (RFC 4180 quoting: `"a, b"`, `""` for a quote).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, '"') => return Err("a quote inside an unquoted field".into()),
            (false, ',') => {
                fields.push(std::mem::take(&mut field).trim().to_string());
                was_quoted = false;
            }
            (false, c) => {
                if was_quoted && !c.is_whitespace() {
                    return Err("text after a closing quote".into());
                }
                field.push(c);
            }
        }
    }
    if quoted {
        return Err("unterminated quote (a field cannot span lines)".into());
    }
    fields.push(field.trim().to_string());
    Ok(fields)
}

/// The VM placements of a CSV file: a header line naming the columns
/// ([`CSV_COLUMNS`], any order), then one placement per line. Lists
/// (`macs`, `ips`, `tags`) are separated by spaces or `;`. An empty cell is
/// not given: inherited from the VM's previous placement, else the default.
/// Blank lines and lines starting with `#` are skipped.
fn csv_records(text: &str, origin: &str) -> Result<Vec<RawRecord>, ConfigError> {
    let err = |line: usize, field: &str, message: String| ConfigError {
        file: origin.to_string(),
        line,
        field: field.to_string(),
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let header = csv_fields(header).map_err(|m| err(header_line, "", m))?;
    let mut columns = Vec::with_capacity(header.len());
    for name in &header {
        let Some(&column) = CSV_COLUMNS.iter().find(|c| **c == name.as_str()) else {
            return Err(err(
                header_line,
                name,
                format!(
                    "unknown column {name:?} (columns: {})",
                    CSV_COLUMNS.join(", ")
                ),
            ));
        };
        if columns.contains(&column) {
            return Err(err(header_line, name, format!("column {name:?} twice")));
        }
        columns.push(column);
    }
    if !columns.contains(&"name") {
        return Err(err(
            header_line,
            "name",
            "the header has no name column".into(),
        ));
    }
    let mut records = Vec::new();
    for (line, text) in lines {
        let fields = csv_fields(text).map_err(|m| err(line, "", m))?;
        if fields.len() != columns.len() {
            return Err(err(
                line,
                "",
                format!(
                    "{} fields, the header has {} columns",
                    fields.len(),
                    columns.len()
                ),
            ));
        }
        let mut record = RawRecord::default();
        for (&column, value) in columns.iter().zip(fields) {
            let at = |value: String| At { value, line };
            let list = |value: &str| -> Vec<String> {
                value
                    .split(|c: char| c == ';' || c.is_whitespace())
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            let number = |value: &str| -> Result<At<u64>, ConfigError> {
                value
                    .parse::<u64>()
                    .map(|v| At { value: v, line })
                    .map_err(|_| err(line, column, format!("{value:?} is not a number")))
            };
            if column == "name" {
                record.name = at(value);
                continue;
            }
            if value.is_empty() {
                continue;
            }
            match column {
                "host" => record.host = Some(at(value)),
                "macs" => record.macs = Some(list(&value).into_iter().map(at).collect()),
                "ips" => record.ips = Some(list(&value).into_iter().map(at).collect()),
                "port_group" => record.port_group = Some(value),
                "vlan" => record.vlan = Some(number(&value)?),
                "vni" => record.vni = Some(number(&value)?),
                "tags" => record.tags = Some(list(&value)),
                "since" => record.since = Some(at(value)),
                _ => {
                    record.removed = match value.as_str() {
                        "true" | "yes" | "1" => true,
                        "false" | "no" | "0" => false,
                        _ => {
                            let msg = format!("{value:?} is not true or false");
                            return Err(err(line, column, msg));
                        }
                    }
                }
            }
        }
        if record.name.value.is_empty() {
            return Err(err(line, "name", "empty VM name".into()));
        }
        records.push(record);
    }
    Ok(records)
}

impl InventoryEvent {
    /// The event as a raw record; `line` numbers it in errors.
    fn raw(&self, line: usize) -> RawRecord {
        let at = |value: &str| At {
            value: value.to_string(),
            line,
        };
        let list = |l: &Option<Vec<String>>| l.as_ref().map(|l| l.iter().map(|v| at(v)).collect());
        RawRecord {
            name: at(&self.vm),
            since: Some(at(&self.time)),
            removed: self.removed,
            host: self.host.as_deref().map(at),
            macs: list(&self.macs),
            ips: list(&self.ips),
            port_group: self.port_group.clone(),
            vlan: self.vlan.map(|v| At {
                value: u64::from(v),
                line,
            }),
            vni: self.vni.map(|v| At {
                value: u64::from(v),
                line,
            }),
            tags: self.tags.clone(),
        }
    }

    /// The time the event took effect, epoch milliseconds.
    pub fn time_ms(&self) -> Result<u64, String> {
        parse_time(&self.time)
    }
}

/// A placement's own list, else the one it inherits, else empty.
fn inherit<T: Clone>(mine: Option<Vec<T>>, theirs: Option<&Vec<T>>) -> Vec<T> {
    mine.or_else(|| theirs.cloned()).unwrap_or_default()
}

/// Whether `[a, b)` and `[c, d)` share an instant.
fn overlap(a: &Vm, b: &Vm) -> bool {
    a.since_ms < b.until_ms && b.since_ms < a.until_ms
}

impl Inventory {
    /// Read and parse an inventory file and the CSV files it names; an
    /// unreadable file is an error at line 0.
    pub fn load(path: &Path) -> Result<Inventory, ConfigError> {
        let text = config::read(path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        Inventory::parse_in(&text, &path.display().to_string(), Some(base))
    }

    /// Parse inventory text; `origin` names it in errors (usually the path).
    /// It reads no files: a `csv` import is an error here (use
    /// [`Inventory::load`], which reads them relative to the file).
    ///
    /// Errors: TOML syntax and types, unknown keys, duplicate host names, a
    /// VM placed twice at the same time, a VM on an unknown host or without
    /// a host in its first placement, a bad MAC, IP or time, a MAC held by
    /// two VMs at once, an IP held by two VMs in the same VLAN/VNI at once,
    /// a domain, mirror source, ERSPAN session or VTEP claimed by two hosts,
    /// an out-of-range VLAN/VNI/session, and every CSV problem.
    pub fn parse(text: &str, origin: &str) -> Result<Inventory, ConfigError> {
        Inventory::parse_in(text, origin, None)
    }

    /// [`Inventory::parse`], reading CSV imports relative to `base`.
    fn parse_in(text: &str, origin: &str, base: Option<&Path>) -> Result<Inventory, ConfigError> {
        let file: FileDef =
            toml::from_str(text).map_err(|err| ConfigError::from_toml(origin, text, &err))?;
        let mut hosts = HostBuilder {
            origin,
            text,
            inv: Inventory::empty(),
        };
        for host in file.host {
            hosts.host(host)?;
        }
        let mut inv = hosts.inv;
        let lines = config::Lines::new(text);
        for def in file.vm {
            let record = toml_record(&lines, def).check(origin, "vm.")?;
            inv.records.push(record);
        }
        for name in &file.csv {
            let Some(base) = base else {
                return Err(ConfigError::at(
                    origin,
                    text,
                    name.span().start,
                    "csv",
                    "CSV imports are read only when the inventory is loaded from a file",
                ));
            };
            let path = base.join(name.get_ref());
            let csv = config::read(&path)?;
            let file = path.display().to_string();
            for raw in csv_records(&csv, &file)? {
                inv.records.push(raw.check(&file, "")?);
            }
            inv.files.push(path);
        }
        inv.place()?;
        Ok(inv)
    }

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

    /// This inventory with `events` applied, and the events refused, each
    /// with why (`origin:N: event.field: ...`, N = 1-based position in
    /// `events`). A refused event changes nothing; the others still apply.
    pub fn with_events(
        &self,
        events: &[InventoryEvent],
        origin: &str,
    ) -> (Inventory, Vec<ConfigError>) {
        let mut refused = Vec::new();
        let mut records = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            match event.raw(i + 1).check(origin, EVENT_PREFIX) {
                Ok(record) => records.push(record),
                Err(err) => refused.push(err),
            }
        }
        let mut all = self.clone();
        all.records.extend(records.iter().cloned());
        if all.place().is_ok() {
            return (all, refused);
        }
        // Some event conflicts: apply them one by one to find which.
        let mut inv = self.clone();
        for record in records {
            let mut next = inv.clone();
            next.records.push(record);
            match next.place() {
                Ok(()) => inv = next,
                Err(err) => refused.push(err),
            }
        }
        if inv.place().is_err() {
            // Unreachable: `inv` only ever holds placements that built.
            return (self.clone(), refused);
        }
        (inv, refused)
    }

    /// Turn the records into placements (VMs by first appearance, each
    /// VM's placements by `since`), inherit what a placement left out,
    /// close each placement at the next, and index them, checking that no
    /// MAC, and no address within one segment, is held by two VMs at once.
    fn place(&mut self) -> Result<(), ConfigError> {
        let records = &self.records;
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, record) in records.iter().enumerate() {
            first.entry(record.name.value.as_str()).or_insert(i);
        }
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_by_key(|&i| {
            let r = &records[i];
            (first[r.name.value.as_str()], r.since_ms, i)
        });
        let mut vms: Vec<Vm> = Vec::with_capacity(records.len());
        let mut sources: Vec<usize> = Vec::with_capacity(records.len());
        let mut previous: Option<usize> = None;
        let mut open: Option<usize> = None;
        for i in order {
            let record = &records[i];
            let name = &record.name.value;
            let same_vm = previous.is_some_and(|p| records[p].name.value == *name);
            if let Some(p) = previous.filter(|_| same_vm) {
                if records[p].since_ms == record.since_ms {
                    return Err(record.error(
                        record.name.line,
                        "name",
                        format!(
                            "duplicate VM {name:?} (placements of one VM need different `since` \
                             times)"
                        ),
                    ));
                }
            }
            if !same_vm {
                open = None;
            }
            previous = Some(i);
            if let Some(o) = open {
                vms[o].until_ms = record.since_ms;
            }
            if record.removed {
                if open.is_none() {
                    return Err(record.error(
                        record.name.line,
                        "removed",
                        format!("removes VM {name:?}, which is not placed at that time"),
                    ));
                }
                open = None;
                continue;
            }
            let base = open.map(|o| vms[o].clone());
            let host = match (&record.host, &base) {
                (Some(host), _) => {
                    if !self.host_by_name.contains_key(&host.value) {
                        return Err(record.error(
                            host.line,
                            "host",
                            format!("VM {name:?} is placed on unknown host {:?}", host.value),
                        ));
                    }
                    host.value.clone()
                }
                (None, Some(base)) => base.host.clone(),
                (None, None) => {
                    return Err(record.error(
                        record.name.line,
                        "host",
                        format!("missing host: the first placement of VM {name:?} needs one"),
                    ))
                }
            };
            let base = base.as_ref();
            vms.push(Vm {
                name: name.clone(),
                host,
                macs: inherit(
                    record
                        .macs
                        .as_ref()
                        .map(|m| m.iter().map(|m| m.value).collect()),
                    base.map(|b| &b.macs),
                ),
                ips: inherit(
                    record
                        .ips
                        .as_ref()
                        .map(|m| m.iter().map(|m| m.value).collect()),
                    base.map(|b| &b.ips),
                ),
                port_group: record
                    .port_group
                    .clone()
                    .or_else(|| base.map(|b| b.port_group.clone()))
                    .unwrap_or_default(),
                vlan: record.vlan.or(base.map(|b| b.vlan)).unwrap_or(0),
                vni: record.vni.or(base.map(|b| b.vni)).unwrap_or(0),
                tags: inherit(record.tags.clone(), base.map(|b| &b.tags)),
                since_ms: record.since_ms,
                until_ms: CURRENT,
            });
            sources.push(i);
            open = Some(vms.len() - 1);
        }

        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_mac: HashMap<Mac, Vec<usize>> = HashMap::new();
        let mut by_ip: HashMap<IpAddr, Vec<usize>> = HashMap::new();
        for (p, vm) in vms.iter().enumerate() {
            let record = &records[sources[p]];
            by_name.entry(vm.name.clone()).or_default().push(p);
            for (k, &mac) in vm.macs.iter().enumerate() {
                let line = record
                    .macs
                    .as_ref()
                    .and_then(|m| m.get(k))
                    .map_or(record.name.line, |m| m.line);
                let holders = by_mac.entry(mac).or_default();
                if let Some(&other) = holders
                    .iter()
                    .find(|&&q| vms[q].name != vm.name && overlap(&vms[q], vm))
                {
                    return Err(record.error(
                        line,
                        "macs",
                        format!(
                            "MAC {} of VM {:?} is already VM {:?}'s",
                            format_mac(mac),
                            vm.name,
                            vms[other].name
                        ),
                    ));
                }
                holders.push(p);
            }
            for (k, &ip) in vm.ips.iter().enumerate() {
                let line = record
                    .ips
                    .as_ref()
                    .and_then(|m| m.get(k))
                    .map_or(record.name.line, |m| m.line);
                let holders = by_ip.entry(ip).or_default();
                let clash = holders.iter().find(|&&q| {
                    let other = &vms[q];
                    other.name != vm.name
                        && (other.vlan, other.vni) == (vm.vlan, vm.vni)
                        && overlap(other, vm)
                });
                if let Some(&other) = clash {
                    return Err(record.error(
                        line,
                        "ips",
                        format!(
                            "{ip} of VM {:?} is already VM {:?}'s in the same segment \
                             (vlan {}, vni {})",
                            vm.name, vms[other].name, vm.vlan, vm.vni
                        ),
                    ));
                }
                if !holders.contains(&p) {
                    holders.push(p);
                }
            }
        }
        self.vms = vms;
        self.vms_by_name = by_name;
        self.vms_by_mac = by_mac;
        self.vms_by_ip = by_ip;
        Ok(())
    }

    /// The host of this name.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.host_by_name.get(name).map(|&i| &self.hosts[i])
    }

    /// The host whose observation domain (NetFlow Source ID) this is.
    pub fn host_by_domain(&self, domain: u32) -> Option<&Host> {
        self.host_by_domain.get(&domain).map(|&i| &self.hosts[i])
    }

    /// The host whose mirrors send ERSPAN from this outer source address.
    pub fn host_by_mirror_source(&self, addr: IpAddr) -> Option<&Host> {
        let addr = addr.to_canonical();
        self.host_by_mirror_source
            .get(&addr)
            .map(|&i| &self.hosts[i])
    }

    /// The host on which this ERSPAN session id is configured.
    pub fn host_by_session(&self, session: u16) -> Option<&Host> {
        self.host_by_session.get(&session).map(|&i| &self.hosts[i])
    }

    /// The host owning this VXLAN tunnel endpoint address.
    pub fn host_by_vtep(&self, addr: IpAddr) -> Option<&Host> {
        let addr = addr.to_canonical();
        self.host_by_vtep.get(&addr).map(|&i| &self.hosts[i])
    }

    /// The current placement of the VM of this name (None once removed).
    pub fn vm(&self, name: &str) -> Option<&Vm> {
        self.vm_at(name, CURRENT - 1)
    }

    /// The placement of the VM of this name that held at `at_ms`.
    pub fn vm_at(&self, name: &str, at_ms: u64) -> Option<&Vm> {
        self.placements(name).find(|vm| vm.holds_at(at_ms))
    }

    /// Every placement of the VM of this name, oldest first.
    pub fn placements(&self, name: &str) -> impl Iterator<Item = &Vm> {
        self.vms_by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.vms[i])
    }

    /// The placements that hold now, one per VM not removed.
    pub fn current(&self) -> impl Iterator<Item = &Vm> {
        self.vms.iter().filter(|vm| vm.is_current())
    }

    /// The VM behind a flow endpoint at `at_ms` (the flow's start): MAC
    /// first, then IP; the IP lookup is scoped by VLAN/VNI when nonzero
    /// (overlapping tenant address space must not be confused); unknown
    /// stays None, never guessed. Only placements that held at `at_ms`
    /// answer, so a VM that moved since, or an address reused since, is
    /// named as it was then.
    ///
    /// Scoping: with a nonzero `vni` a VM qualifies when its VNI is `vni` (or
    /// not recorded, 0); the VLAN is then ignored, since next to a VNI it is
    /// the underlay's. With `vni == 0` and a nonzero `vlan`, likewise by
    /// VLAN. The IP answers only if exactly one VM qualifies. IPv4-mapped
    /// IPv6 addresses are looked up as IPv4.
    pub fn lookup(
        &self,
        mac: Option<Mac>,
        ip: IpAddr,
        vlan: u16,
        vni: u32,
        at_ms: u64,
    ) -> Option<&Vm> {
        self.lookup_index(mac, ip, vlan, vni, at_ms)
            .map(|i| &self.vms[i])
    }

    /// [`lookup`](Inventory::lookup), answering with the placement's index
    /// in [`vms`](Inventory::vms): per-placement tables (such as
    /// `Policy::placement_zones`) are indexed by it.
    pub fn lookup_index(
        &self,
        mac: Option<Mac>,
        ip: IpAddr,
        vlan: u16,
        vni: u32,
        at_ms: u64,
    ) -> Option<usize> {
        let by_mac = mac
            .and_then(|mac| self.vms_by_mac.get(&mac))
            .and_then(|ps| ps.iter().copied().find(|&i| self.vms[i].holds_at(at_ms)));
        if by_mac.is_some() {
            return by_mac;
        }
        let owners = self.vms_by_ip.get(&ip.to_canonical())?;
        let mut found = owners.iter().copied().filter(|&i| {
            let vm = &self.vms[i];
            vm.holds_at(at_ms)
                && if vni != 0 {
                    vm.vni == 0 || vm.vni == vni
                } else if vlan != 0 {
                    vm.vlan == 0 || vm.vlan == vlan
                } else {
                    true
                }
        });
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// A time during the lab capture (2026-11-02T09:00:00Z).
    const T: u64 = 1_793_610_000_000;

    fn lab() -> Inventory {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/inventory.toml");
        match Inventory::load(&path) {
            Ok(inv) => inv,
            Err(err) => panic!("lab inventory: {err}"),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn parse_err(text: &str) -> ConfigError {
        match Inventory::parse(text, "inv.toml") {
            Ok(inv) => panic!("parsed: {inv:?}"),
            Err(err) => err,
        }
    }

    const HOSTS: &str =
        "[[host]]\nname = \"h1\"\ndomain = 1\n\n[[host]]\nname = \"h2\"\ndomain = 2\n";

    #[test]
    fn lab_inventory_loads() {
        let inv = lab();
        assert_eq!(inv.hosts.len(), 4);
        assert_eq!(inv.vms.len(), 9);
        let web = inv.vm("web-01").expect("web-01");
        assert_eq!(web.host, "esx-01");
        assert_eq!(web.macs, vec![[0x00, 0x50, 0x56, 0x00, 0x01, 0x11]]);
        assert_eq!(web.ips, vec![ip("10.10.1.11"), ip("fd00:10:1::11")]);
        assert_eq!((web.vlan, web.vni), (101, 10101));
        assert_eq!(web.port_group, "pg-dmz");
        assert_eq!(web.tags, vec!["dmz".to_string(), "web".to_string()]);
    }

    #[test]
    fn lab_host_lookups() {
        let inv = lab();
        let name = |host: Option<&Host>| host.map(|h| h.name.clone());
        assert_eq!(name(inv.host("esx-02")), Some("esx-02".into()));
        assert_eq!(name(inv.host_by_domain(3)), Some("esx-03".into()));
        assert_eq!(
            name(inv.host_by_mirror_source(ip("198.18.0.4"))),
            Some("esx-04".into())
        );
        assert_eq!(name(inv.host_by_session(3)), Some("esx-03".into()));
        assert_eq!(
            name(inv.host_by_vtep(ip("172.16.0.1"))),
            Some("esx-01".into())
        );
        let mapped = IpAddr::V6(Ipv4Addr::new(172, 16, 0, 2).to_ipv6_mapped());
        assert_eq!(name(inv.host_by_vtep(mapped)), Some("esx-02".into()));
        assert_eq!(inv.host("esx-09"), None);
        assert_eq!(inv.host_by_domain(9), None);
        assert_eq!(inv.host_by_mirror_source(ip("198.18.0.1")), None);
        assert_eq!(inv.host_by_session(1), None);
        assert_eq!(inv.host_by_vtep(ip("172.16.0.9")), None);
    }

    #[test]
    fn lab_vm_lookup_mac_then_ip() {
        let inv = lab();
        let name = |vm: Option<&Vm>| vm.map(|v| v.name.clone());
        let db01_mac = parse_mac("00:50:56:00:03:11");
        // The MAC decides even when the address is someone else's.
        assert_eq!(
            name(inv.lookup(db01_mac, ip("10.10.1.11"), 0, 0, T)),
            Some("db-01".into())
        );
        let unknown_mac = parse_mac("02:00:00:00:00:01");
        assert_eq!(
            name(inv.lookup(unknown_mac, ip("10.10.1.11"), 0, 0, T)),
            Some("web-01".into())
        );
        assert_eq!(
            name(inv.lookup(None, ip("fd00:10:3::11"), 103, 0, T)),
            Some("db-01".into())
        );
        // Right address, wrong segment: not web-01.
        assert_eq!(inv.lookup(None, ip("10.10.1.11"), 102, 0, T), None);
        assert_eq!(inv.lookup(None, ip("10.10.1.11"), 0, 10102, T), None);
        assert_eq!(
            name(inv.lookup(None, ip("10.10.1.11"), 999, 10101, T)),
            Some("web-01".into()),
            "with a VNI the VLAN is the underlay's"
        );
        assert_eq!(inv.lookup(None, ip("10.99.0.1"), 0, 0, T), None);
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 10, 2, 12).to_ipv6_mapped());
        assert_eq!(
            name(inv.lookup(None, mapped, 0, 0, T)),
            Some("app-02".into())
        );
    }

    #[test]
    fn overlapping_tenants_are_told_apart_by_segment() {
        let text = format!(
            "{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\nips = [\"10.0.0.5\"]\nvni = 5001\n\
             \n[[vm]]\nname = \"b\"\nhost = \"h2\"\nips = [\"10.0.0.5\"]\nvni = 5002\n"
        );
        let inv = Inventory::parse(&text, "inv.toml").expect("valid");
        let name = |vm: Option<&Vm>| vm.map(|v| v.name.clone());
        let addr = ip("10.0.0.5");
        assert_eq!(name(inv.lookup(None, addr, 0, 5001, T)), Some("a".into()));
        assert_eq!(name(inv.lookup(None, addr, 0, 5002, T)), Some("b".into()));
        assert_eq!(
            inv.lookup(None, addr, 0, 0, T),
            None,
            "ambiguous, not guessed"
        );
        assert_eq!(inv.lookup(None, addr, 0, 5003, T), None);
    }

    #[test]
    fn mac_formats() {
        let want = Some([0x00, 0x50, 0x56, 0x0a, 0xBC, 0xff]);
        assert_eq!(parse_mac("00:50:56:0a:bc:FF"), want);
        assert_eq!(parse_mac("00-50-56-0A-BC-FF"), want);
        assert_eq!(parse_mac("00:50:56:0a:bc"), None);
        assert_eq!(parse_mac("00:50:56:0a:bc:ff:01"), None);
        assert_eq!(parse_mac("00:50-56:0a:bc:ff"), None);
        assert_eq!(parse_mac("0:50:56:0a:bc:fff"), None);
        assert_eq!(parse_mac("00:50:56:0a:bc:gg"), None);
        assert_eq!(parse_mac("+0:50:56:0a:bc:ff"), None);
        assert_eq!(format_mac([0, 0x50, 0x56, 0, 1, 0x11]), "00:50:56:00:01:11");
    }

    fn assert_at(err: &ConfigError, line: usize, field: &str, needle: &str) {
        assert_eq!(
            (err.file.as_str(), err.line, err.field.as_str()),
            ("inv.toml", line, field),
            "{err}"
        );
        assert!(err.message.contains(needle), "{err}");
    }

    #[test]
    fn duplicate_host_name() {
        let text = format!("{HOSTS}\n[[host]]\nname = \"h1\"\ndomain = 3\n");
        assert_at(&parse_err(&text), 10, "host.name", "duplicate host");
    }

    #[test]
    fn duplicate_vm_name() {
        let text = format!(
            "{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\n\n[[vm]]\nname = \"a\"\nhost = \"h2\"\n"
        );
        assert_at(&parse_err(&text), 14, "vm.name", "duplicate VM");
    }

    #[test]
    fn vm_on_unknown_host() {
        let text = format!("{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h9\"\n");
        assert_at(&parse_err(&text), 11, "vm.host", "unknown host \"h9\"");
    }

    #[test]
    fn bad_mac() {
        let text = format!(
            "{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\nmacs = [\n  \"00:50:56:00:01:11\",\n  \"00:50:56:00:01\",\n]\n"
        );
        assert_at(&parse_err(&text), 14, "vm.macs", "not a MAC");
    }

    #[test]
    fn duplicate_mac() {
        let text = format!(
            "{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\nmacs = [\"00:50:56:00:01:11\"]\n\
             \n[[vm]]\nname = \"b\"\nhost = \"h1\"\nmacs = [\"00-50-56-00-01-11\"]\n"
        );
        assert_at(&parse_err(&text), 17, "vm.macs", "already VM \"a\"'s");
    }

    #[test]
    fn bad_ip() {
        let text =
            format!("{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\nips = [\"10.0.0.256\"]\n");
        assert_at(&parse_err(&text), 12, "vm.ips", "not an IP");
        let text = "[[host]]\nname = \"h1\"\ndomain = 1\nvteps = [\"vtep-1\"]\n";
        assert_at(&parse_err(text), 4, "host.vteps", "not an IP");
        let text = "[[host]]\nname = \"h1\"\ndomain = 1\nmirror_sources = [\"1.2.3\"]\n";
        assert_at(&parse_err(text), 4, "host.mirror_sources", "not an IP");
    }

    #[test]
    fn same_ip_same_segment() {
        let text = format!(
            "{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\nips = [\"10.0.0.5\"]\nvlan = 7\n\
             \n[[vm]]\nname = \"b\"\nhost = \"h2\"\nips = [\"10.0.0.5\"]\nvlan = 7\n"
        );
        assert_at(&parse_err(&text), 18, "vm.ips", "same segment");
    }

    #[test]
    fn host_claims_must_be_unique() {
        let text = "[[host]]\nname = \"h1\"\ndomain = 1\nerspan_sessions = [3]\n\
                    [[host]]\nname = \"h2\"\ndomain = 2\nerspan_sessions = [4, 3]\n";
        assert_at(&parse_err(text), 8, "host.erspan_sessions", "host \"h1\"");
        let text = "[[host]]\nname = \"h1\"\ndomain = 1\n[[host]]\nname = \"h2\"\ndomain = 1\n";
        assert_at(&parse_err(text), 6, "host.domain", "host \"h1\"");
        let text = "[[host]]\nname = \"h1\"\ndomain = 1\nvteps = [\"1.1.1.1\"]\n\
                    [[host]]\nname = \"h2\"\ndomain = 2\nvteps = [\"1.1.1.1\"]\n";
        assert_at(&parse_err(text), 8, "host.vteps", "host \"h1\"");
        let text = "[[host]]\nname = \"h1\"\ndomain = 1\nmirror_sources = [\"1.1.1.1\"]\n\
                    [[host]]\nname = \"h2\"\ndomain = 2\nmirror_sources = [\"1.1.1.1\"]\n";
        assert_at(&parse_err(text), 8, "host.mirror_sources", "host \"h1\"");
        let text = "[[host]]\nname = \"h1\"\ndomain = 1\nerspan_sessions = [1024]\n";
        assert_at(&parse_err(text), 4, "host.erspan_sessions", "10 bits");
    }

    #[test]
    fn empty_host_name() {
        let text = format!("{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"\"\n");
        assert_at(&parse_err(&text), 11, "vm.host", "empty host name");
    }

    #[test]
    fn segment_ranges() {
        let text = format!("{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\nvlan = 4095\n");
        assert_at(&parse_err(&text), 12, "vm.vlan", "VLAN 4095");
        let text = format!("{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\nvni = 16777216\n");
        assert_at(&parse_err(&text), 12, "vm.vni", "24 bits");
    }

    #[test]
    fn toml_errors_are_located() {
        let text = format!("{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\ncolor = \"red\"\n");
        assert_at(&parse_err(&text), 12, "vm.color", "unknown field");
        let text = format!("{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\nvlan = \"101\"\n");
        assert_at(&parse_err(&text), 12, "vm.vlan", "invalid type");
        let text = format!("{HOSTS}\n[[vm]]\nname = \"a\"\n");
        let err = parse_err(&text);
        assert_eq!(err.field, "vm.host", "{err}");
        let err = parse_err("[[host]\nname = 1\n");
        assert_eq!(err.line, 1, "{err}");
    }

    const T0: &str = "2026-11-02T09:00:00Z";

    /// h1/h2 and a VM that moves from h1 to h2 at 09:01 and is removed at
    /// 09:03; its address is reused by another VM from 09:02.
    const HISTORY: &str = "\
[[host]]
name = \"h1\"
domain = 1

[[host]]
name = \"h2\"
domain = 2

[[vm]]
name = \"mover\"
host = \"h1\"
macs = [\"00:50:56:00:00:01\"]
ips = [\"10.0.0.1\"]
tags = [\"app\"]

[[vm]]
name = \"mover\"
since = \"2026-11-02T09:01:00Z\"
host = \"h2\"

[[vm]]
name = \"mover\"
since = \"2026-11-02T09:03:00Z\"
removed = true

[[vm]]
name = \"mover\"
since = \"2026-11-02T09:02:00Z\"
ips = [\"10.0.0.2\"]

[[vm]]
name = \"reuser\"
since = \"2026-11-02T09:02:00Z\"
host = \"h1\"
ips = [\"10.0.0.1\"]
";

    fn at(text: &str) -> u64 {
        match parse_time(text) {
            Ok(ms) => ms,
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn placements_have_history() {
        let inv = Inventory::parse(HISTORY, "inv.toml").expect("valid");
        let mac = parse_mac("00:50:56:00:00:01");
        let where_ = |ip_text: &str, time: &str| {
            inv.lookup(mac, ip(ip_text), 0, 0, at(time))
                .map(|vm| (vm.name.clone(), vm.host.clone()))
        };
        let mover = |host: &str| Some(("mover".to_string(), host.to_string()));
        // Table: (time, host the mover is on then).
        for (time, host) in [
            ("2026-11-02T08:00:00Z", "h1"),
            ("2026-11-02T09:00:59.999Z", "h1"),
            ("2026-11-02T09:01:00Z", "h2"),
            ("2026-11-02T09:02:30Z", "h2"),
        ] {
            assert_eq!(where_("10.0.0.1", time), mover(host), "at {time}");
        }
        // Removed at 09:03: its MAC is nobody's, the address the reuser's.
        assert_eq!(
            where_("10.0.0.1", "2026-11-02T09:03:00Z"),
            Some(("reuser".to_string(), "h1".to_string()))
        );
        assert_eq!(where_("10.0.0.2", "2026-11-02T09:03:00Z"), None);
        // By address alone: 10.0.0.1 is the mover's until 09:02, then reused.
        let by_ip = |ip_text: &str, time: &str| {
            inv.lookup(None, ip(ip_text), 0, 0, at(time))
                .map(|vm| vm.name.clone())
        };
        assert_eq!(
            by_ip("10.0.0.1", "2026-11-02T09:01:30Z").as_deref(),
            Some("mover")
        );
        assert_eq!(
            by_ip("10.0.0.1", "2026-11-02T09:02:00Z").as_deref(),
            Some("reuser")
        );
        assert_eq!(
            by_ip("10.0.0.2", "2026-11-02T09:02:00Z").as_deref(),
            Some("mover")
        );
        assert_eq!(by_ip("10.0.0.2", "2026-11-02T09:01:00Z"), None);
        // Placements inherit what they leave out, and end at the next one.
        let placements: Vec<&Vm> = inv.placements("mover").collect();
        assert_eq!(placements.len(), 3);
        assert_eq!(placements[1].macs, placements[0].macs);
        assert_eq!(placements[1].tags, vec!["app".to_string()]);
        assert_eq!(placements[2].host, "h2");
        assert_eq!(
            placements
                .iter()
                .map(|vm| (vm.since_ms, vm.until_ms))
                .collect::<Vec<_>>(),
            vec![
                (0, at("2026-11-02T09:01:00Z")),
                (at("2026-11-02T09:01:00Z"), at("2026-11-02T09:02:00Z")),
                (at("2026-11-02T09:02:00Z"), at("2026-11-02T09:03:00Z")),
            ]
        );
        assert_eq!(inv.vm("mover"), None, "removed now");
        assert_eq!(inv.vm("reuser").map(|vm| vm.host.as_str()), Some("h1"));
        assert_eq!(
            inv.vm_at("mover", at(T0)).map(|vm| vm.host.as_str()),
            Some("h1")
        );
        assert_eq!(inv.current().count(), 1);
    }

    #[test]
    fn history_conflicts_are_located() {
        // The reuser takes 10.0.0.1 while the mover still holds it.
        let text = HISTORY.replace(
            "since = \"2026-11-02T09:02:00Z\"\nhost = \"h1\"",
            "since = \"2026-11-02T09:01:30Z\"\nhost = \"h1\"",
        );
        assert_at(&parse_err(&text), 35, "vm.ips", "already VM \"mover\"'s");
        // Two placements at one time.
        let text = HISTORY.replace("09:03:00Z", "09:01:00Z");
        assert_at(&parse_err(&text), 22, "vm.name", "different `since`");
        // A first placement without a host, a removal of nothing, a bad time.
        let text = format!("{HOSTS}\n[[vm]]\nname = \"a\"\nsince = \"{T0}\"\n");
        assert_at(&parse_err(&text), 10, "vm.host", "missing host");
        let text = format!("{HOSTS}\n[[vm]]\nname = \"a\"\nremoved = true\n");
        assert_at(&parse_err(&text), 10, "vm.removed", "not placed");
        let text = format!("{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\nsince = \"yesterday\"\n");
        assert_at(&parse_err(&text), 12, "vm.since", "RFC 3339");
        // The same MAC on two VMs at once, one of them through inheritance.
        let text = format!(
            "{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\nmacs = [\"00:50:56:00:01:11\"]\n\
             \n[[vm]]\nname = \"b\"\nhost = \"h1\"\nsince = \"{T0}\"\nmacs = [\"00:50:56:00:01:11\"]\n"
        );
        assert_at(&parse_err(&text), 18, "vm.macs", "already VM \"a\"'s");
    }

    #[test]
    fn times() {
        assert_eq!(at("1970-01-01T00:00:01Z"), 1000);
        assert_eq!(at("2026-11-02T10:00:00+01:00"), at(T0));
        assert_eq!(at("2026-11-02T09:00:00.250Z"), at(T0) + 250);
        assert!(parse_time("2026-11-02 09:00").is_err());
        assert!(parse_time("1969-12-31T23:59:59Z").is_err());
        assert_eq!(format_time(at(T0)), T0);
    }

    /// A scratch directory for files a test writes.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("eastwest-inv-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn csv_inventory(csv: &str, name: &str) -> Result<Inventory, ConfigError> {
        let dir = scratch(name);
        std::fs::write(dir.join("vms.csv"), csv).expect("write csv");
        let toml = dir.join("inv.toml");
        std::fs::write(&toml, format!("csv = [\"vms.csv\"]\n{HOSTS}")).expect("write toml");
        let result = Inventory::load(&toml);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    #[test]
    fn csv_import() {
        let csv = "\
# bulk export of the VM list
name,host,macs,ips,port_group,vlan,vni,tags,since
web-01,h1,00:50:56:00:01:11,10.10.1.11 fd00:10:1::11,pg-dmz,101,10101,dmz;web,
\"db, primary\",h2,00-50-56-00-03-11,10.10.3.11,\"pg-db\",103,,db,

web-01,h2,,,,,,,2026-11-02T09:01:00Z
";
        let inv = match csv_inventory(csv, "ok") {
            Ok(inv) => inv,
            Err(err) => panic!("{err}"),
        };
        assert_eq!(inv.files().len(), 1);
        let web = inv.vm_at("web-01", 0).expect("web-01 before the move");
        assert_eq!(web.host, "h1");
        assert_eq!(web.ips, vec![ip("10.10.1.11"), ip("fd00:10:1::11")]);
        assert_eq!(web.tags, vec!["dmz".to_string(), "web".to_string()]);
        assert_eq!((web.vlan, web.vni), (101, 10101));
        let moved = inv.vm("web-01").expect("web-01 now");
        assert_eq!((moved.host.as_str(), moved.ips.len()), ("h2", 2));
        let db = inv.vm("db, primary").expect("quoted name");
        assert_eq!((db.port_group.as_str(), db.vni), ("pg-db", 0));
    }

    #[test]
    fn csv_errors_name_file_line_and_column() {
        let cases: &[(&str, usize, &str, &str)] = &[
            (
                "name,host,colour\na,h1,red\n",
                1,
                "colour",
                "unknown column",
            ),
            ("host\nh1\n", 1, "name", "no name column"),
            ("name,host\na,h1,extra\n", 2, "", "3 fields"),
            ("name,host,vlan\na,h1,ten\n", 2, "vlan", "not a number"),
            ("name,host,vlan\na,h1,4095\n", 2, "vlan", "VLAN 4095"),
            ("name,host,macs\na,h1,00:50:56\n", 2, "macs", "not a MAC"),
            (
                "name,host,ips\n\na,h1,10.0.0.1\nb,h1,10.0.0.300\n",
                4,
                "ips",
                "not an IP",
            ),
            ("name,host\n\"a,h1\n", 2, "", "unterminated quote"),
            ("name,host\na,h9\n", 2, "host", "unknown host"),
            ("name,host\n,h1\n", 2, "name", "empty VM name"),
            (
                "name,host,removed\na,h1,maybe\n",
                2,
                "removed",
                "true or false",
            ),
            (
                "name,host,ips\na,h1,10.0.0.1\nb,h2,10.0.0.1\n",
                3,
                "ips",
                "same segment",
            ),
            ("name,host,name\na,h1,b\n", 1, "name", "twice"),
            (
                "name,host\na\"b,h1\n",
                2,
                "",
                "a quote inside an unquoted field",
            ),
            (
                "name,host\n\"a\"b,h1\n",
                2,
                "",
                "text after a closing quote",
            ),
        ];
        for (i, &(csv, line, field, needle)) in cases.iter().enumerate() {
            let err = match csv_inventory(csv, &format!("err{i}")) {
                Ok(inv) => panic!("{csv:?} parsed: {inv:?}"),
                Err(err) => err,
            };
            assert!(err.file.ends_with("vms.csv"), "{err}");
            assert_eq!(
                (err.line, err.field.as_str()),
                (line, field),
                "{csv:?}: {err}"
            );
            assert!(err.message.contains(needle), "{csv:?}: {err}");
        }
        let err = parse_err("csv = [\"vms.csv\"]\n");
        assert_eq!((err.line, err.field.as_str()), (1, "csv"), "{err}");
        let dir = scratch("unreadable");
        let toml = dir.join("inv.toml");
        std::fs::write(&toml, "csv = [\"missing.csv\"]\n").expect("write toml");
        let err = Inventory::load(&toml).expect_err("missing CSV");
        assert!(err.file.ends_with("missing.csv") && err.line == 0, "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn events_apply_in_time_and_bad_ones_are_refused() {
        let inv = Inventory::parse(HISTORY, "inv.toml").expect("valid");
        let event =
            |json: &str| -> InventoryEvent { serde_json::from_str(json).expect("event JSON") };
        let events = vec![
            // The reuser moves to h2 at 09:05.
            event(r#"{"time": "2026-11-02T09:05:00Z", "vm": "reuser", "host": "h2"}"#),
            // A new VM takes the reuser's address while the reuser holds it.
            event(
                r#"{"time": "2026-11-02T09:06:00Z", "vm": "x", "host": "h1", "ips": ["10.0.0.1"]}"#,
            ),
            // Unknown host.
            event(r#"{"time": "2026-11-02T09:06:00Z", "vm": "y", "host": "h7"}"#),
            // Bad time.
            event(r#"{"time": "now", "vm": "y", "host": "h1"}"#),
        ];
        let (after, refused) = inv.with_events(&events, "events");
        let reuser = |t: &str| after.vm_at("reuser", at(t)).map(|vm| vm.host.clone());
        assert_eq!(reuser("2026-11-02T09:04:00Z").as_deref(), Some("h1"));
        assert_eq!(reuser("2026-11-02T09:05:00Z").as_deref(), Some("h2"));
        assert_eq!(after.vm("x"), None);
        let why: Vec<(usize, &str)> = refused.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(
            why,
            vec![(4, "event.time"), (2, "event.ips"), (3, "event.host")]
        );
        assert!(refused.iter().all(|e| e.file == "events"));
        assert!(
            serde_json::from_str::<InventoryEvent>(r#"{"time": "x", "vm": "a", "colour": 1}"#)
                .is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn deploy_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/inventory.toml");
        let inv = match Inventory::load(&path) {
            Ok(inv) => inv,
            Err(err) => panic!("{err}"),
        };
        assert_eq!(inv.files().len(), 1);
        let host_at = |vm: &str, time: &str| inv.vm_at(vm, at(time)).map(|v| v.host.clone());
        assert_eq!(
            host_at("build-01", "2026-11-03T02:14:59Z").as_deref(),
            Some("esx-01")
        );
        assert_eq!(
            host_at("build-01", "2026-11-03T02:15:00Z").as_deref(),
            Some("esx-02")
        );
        assert_eq!(
            host_at("app-01", "2026-11-04T09:59:59Z").as_deref(),
            Some("esx-02")
        );
        assert_eq!(
            host_at("app-01", "2026-11-04T10:00:00Z").as_deref(),
            Some("esx-01")
        );
        assert_eq!(inv.vm("app-01"), None, "retired");
        assert_eq!(inv.current().count(), 3);
    }
}
