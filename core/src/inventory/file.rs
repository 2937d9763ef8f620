//! Reading the TOML inventory file: its shapes, the hosts with their
//! checks and indexes, and the VM records it holds or imports.

use std::net::IpAddr;
use std::path::Path;

use foldhash::HashMap;
use serde::Deserialize;
use toml::Spanned;

use super::csv_file::csv_records;
use super::record::{At, RawRecord, MAX_SESSION};
use super::values::parse_addr;
use super::{Host, Inventory};
use crate::config::{self, ConfigError};

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
    pub(super) fn host(&mut self, def: HostDef) -> Result<(), ConfigError> {
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
}
