//! The VM inventory: hypervisor hosts and the VMs placed on them.
//!
//! The exporter uses the host half to attribute mirrored frames to a host
//! (by ERSPAN outer source, session id or VXLAN tunnel endpoint); the
//! collector uses the VM half to name flow endpoints ([`Inventory::lookup`]).
//! Both lookups run per frame or per flow, so every index is a `HashMap`
//! built once by [`Inventory::parse`].
//!
//! The file format is documented in `core/README.md` and at the top of
//! `lab/inventory.toml`. Every problem is a [`ConfigError`] naming the file,
//! line and field.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{self, ConfigError};

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

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

/// A virtual machine and where it is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vm {
    /// VM name, unique in the inventory.
    pub name: String,
    /// Name of the [`Host`] it runs on.
    pub host: String,
    /// Its vNIC MAC addresses (unique across the inventory).
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
}

/// Hosts and VMs with the indexes the per-flow lookups use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub hosts: Vec<Host>,
    pub vms: Vec<Vm>,
    host_by_name: HashMap<String, usize>,
    host_by_domain: HashMap<u32, usize>,
    host_by_mirror_source: HashMap<IpAddr, usize>,
    host_by_session: HashMap<u16, usize>,
    host_by_vtep: HashMap<IpAddr, usize>,
    vm_by_name: HashMap<String, usize>,
    vm_by_mac: HashMap<Mac, usize>,
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
    host: Spanned<String>,
    #[serde(default)]
    macs: Vec<Spanned<String>>,
    #[serde(default)]
    ips: Vec<Spanned<String>>,
    #[serde(default)]
    port_group: String,
    vlan: Option<Spanned<u16>>,
    vni: Option<Spanned<u32>>,
    #[serde(default)]
    tags: Vec<String>,
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

/// Parse an address; IPv4-mapped IPv6 is kept as IPv4.
fn addr(
    origin: &str,
    text: &str,
    value: &Spanned<String>,
    field: &str,
) -> Result<IpAddr, ConfigError> {
    value
        .get_ref()
        .parse::<IpAddr>()
        .map(|addr| addr.to_canonical())
        .map_err(|_| {
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

/// Builds an [`Inventory`] from the parsed file, checking as it goes.
struct Builder<'a> {
    origin: &'a str,
    text: &'a str,
    inv: Inventory,
    /// Where each VM IP was first declared, by (address, vlan, vni).
    ip_seen: HashMap<(IpAddr, u16, u32), String>,
}

impl Builder<'_> {
    fn err<T>(&self, offset: usize, field: &str, message: String) -> Result<T, ConfigError> {
        Err(ConfigError::at(
            self.origin,
            self.text,
            offset,
            field,
            message,
        ))
    }

    fn host(&mut self, def: HostDef) -> Result<(), ConfigError> {
        let (origin, text) = (self.origin, self.text);
        let index = self.inv.hosts.len();
        let name = def.name.get_ref().clone();
        if name.is_empty() {
            return self.err(def.name.span().start, "host.name", "empty host name".into());
        }
        if self.inv.host_by_name.contains_key(&name) {
            return self.err(
                def.name.span().start,
                "host.name",
                format!("duplicate host {name:?}"),
            );
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

    fn vm(&mut self, def: VmDef) -> Result<(), ConfigError> {
        let index = self.inv.vms.len();
        let name = def.name.get_ref().clone();
        if name.is_empty() {
            return self.err(def.name.span().start, "vm.name", "empty VM name".into());
        }
        if self.inv.vm_by_name.contains_key(&name) {
            return self.err(
                def.name.span().start,
                "vm.name",
                format!("duplicate VM {name:?}"),
            );
        }
        let host = def.host.get_ref().clone();
        if !self.inv.host_by_name.contains_key(&host) {
            return self.err(
                def.host.span().start,
                "vm.host",
                format!("VM {name:?} is placed on unknown host {host:?}"),
            );
        }
        let vlan = match &def.vlan {
            Some(vlan) if *vlan.get_ref() > MAX_VLAN => {
                return self.err(
                    vlan.span().start,
                    "vm.vlan",
                    format!("VLAN {} is not in 0-{MAX_VLAN}", vlan.get_ref()),
                )
            }
            Some(vlan) => *vlan.get_ref(),
            None => 0,
        };
        let vni = match &def.vni {
            Some(vni) if *vni.get_ref() > MAX_VNI => {
                return self.err(
                    vni.span().start,
                    "vm.vni",
                    format!("VNI {} does not fit in 24 bits", vni.get_ref()),
                )
            }
            Some(vni) => *vni.get_ref(),
            None => 0,
        };
        let mut macs = Vec::with_capacity(def.macs.len());
        for text in &def.macs {
            let offset = text.span().start;
            let Some(mac) = parse_mac(text.get_ref()) else {
                return self.err(
                    offset,
                    "vm.macs",
                    format!(
                        "{:?} is not a MAC address (want 00:50:56:00:01:11)",
                        text.get_ref()
                    ),
                );
            };
            if let Some(&other) = self.inv.vm_by_mac.get(&mac) {
                return self.err(
                    offset,
                    "vm.macs",
                    format!(
                        "MAC {} of VM {name:?} is already VM {:?}'s",
                        format_mac(mac),
                        self.inv.vms[other].name
                    ),
                );
            }
            self.inv.vm_by_mac.insert(mac, index);
            macs.push(mac);
        }
        let mut ips = Vec::with_capacity(def.ips.len());
        for text in &def.ips {
            let addr = addr(self.origin, self.text, text, "vm.ips")?;
            if let Some(other) = self.ip_seen.get(&(addr, vlan, vni)) {
                return self.err(
                    text.span().start,
                    "vm.ips",
                    format!(
                        "{addr} of VM {name:?} is already VM {other:?}'s in the same segment \
                         (vlan {vlan}, vni {vni})"
                    ),
                );
            }
            self.ip_seen.insert((addr, vlan, vni), name.clone());
            let owners = self.inv.vms_by_ip.entry(addr).or_default();
            if !owners.contains(&index) {
                owners.push(index);
            }
            ips.push(addr);
        }
        self.inv.vm_by_name.insert(name.clone(), index);
        self.inv.vms.push(Vm {
            name,
            host,
            macs,
            ips,
            port_group: def.port_group,
            vlan,
            vni,
            tags: def.tags,
        });
        Ok(())
    }
}

impl Inventory {
    /// Read and parse an inventory file; an unreadable file is an error at
    /// line 0.
    pub fn load(path: &Path) -> Result<Inventory, ConfigError> {
        let text = config::read(path)?;
        Inventory::parse(&text, &path.display().to_string())
    }

    /// Parse inventory text; `origin` names it in errors (usually the path).
    ///
    /// Errors: TOML syntax and types, unknown keys, duplicate host or VM
    /// names, a VM on an unknown host, a bad MAC or IP, a MAC on two VMs, an
    /// IP on two VMs in the same VLAN/VNI, a domain, mirror source, ERSPAN
    /// session or VTEP claimed by two hosts, an out-of-range VLAN/VNI/session.
    pub fn parse(text: &str, origin: &str) -> Result<Inventory, ConfigError> {
        let file: FileDef =
            toml::from_str(text).map_err(|err| ConfigError::from_toml(origin, text, &err))?;
        let mut builder = Builder {
            origin,
            text,
            inv: Inventory::empty(),
            ip_seen: HashMap::new(),
        };
        for host in file.host {
            builder.host(host)?;
        }
        for vm in file.vm {
            builder.vm(vm)?;
        }
        Ok(builder.inv)
    }

    /// An inventory with no hosts and no VMs.
    pub fn empty() -> Inventory {
        Inventory {
            hosts: Vec::new(),
            vms: Vec::new(),
            host_by_name: HashMap::new(),
            host_by_domain: HashMap::new(),
            host_by_mirror_source: HashMap::new(),
            host_by_session: HashMap::new(),
            host_by_vtep: HashMap::new(),
            vm_by_name: HashMap::new(),
            vm_by_mac: HashMap::new(),
            vms_by_ip: HashMap::new(),
        }
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

    /// The VM of this name.
    pub fn vm(&self, name: &str) -> Option<&Vm> {
        self.vm_by_name.get(name).map(|&i| &self.vms[i])
    }

    /// The VM behind a flow endpoint: MAC first, then IP; the IP lookup is
    /// scoped by VLAN/VNI when nonzero (overlapping tenant address space must
    /// not be confused); unknown stays None, never guessed.
    ///
    /// Scoping: with a nonzero `vni` a VM qualifies when its VNI is `vni` (or
    /// not recorded, 0); the VLAN is then ignored, since next to a VNI it is
    /// the underlay's. With `vni == 0` and a nonzero `vlan`, likewise by
    /// VLAN. The IP answers only if exactly one VM qualifies. IPv4-mapped
    /// IPv6 addresses are looked up as IPv4.
    pub fn lookup(&self, mac: Option<Mac>, ip: IpAddr, vlan: u16, vni: u32) -> Option<&Vm> {
        if let Some(&i) = mac.and_then(|mac| self.vm_by_mac.get(&mac)) {
            return Some(&self.vms[i]);
        }
        let owners = self.vms_by_ip.get(&ip.to_canonical())?;
        let mut found = owners.iter().map(|&i| &self.vms[i]).filter(|vm| {
            if vni != 0 {
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
            name(inv.lookup(db01_mac, ip("10.10.1.11"), 0, 0)),
            Some("db-01".into())
        );
        let unknown_mac = parse_mac("02:00:00:00:00:01");
        assert_eq!(
            name(inv.lookup(unknown_mac, ip("10.10.1.11"), 0, 0)),
            Some("web-01".into())
        );
        assert_eq!(
            name(inv.lookup(None, ip("fd00:10:3::11"), 103, 0)),
            Some("db-01".into())
        );
        // Right address, wrong segment: not web-01.
        assert_eq!(inv.lookup(None, ip("10.10.1.11"), 102, 0), None);
        assert_eq!(inv.lookup(None, ip("10.10.1.11"), 0, 10102), None);
        assert_eq!(
            name(inv.lookup(None, ip("10.10.1.11"), 999, 10101)),
            Some("web-01".into()),
            "with a VNI the VLAN is the underlay's"
        );
        assert_eq!(inv.lookup(None, ip("10.99.0.1"), 0, 0), None);
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 10, 2, 12).to_ipv6_mapped());
        assert_eq!(name(inv.lookup(None, mapped, 0, 0)), Some("app-02".into()));
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
        assert_eq!(name(inv.lookup(None, addr, 0, 5001)), Some("a".into()));
        assert_eq!(name(inv.lookup(None, addr, 0, 5002)), Some("b".into()));
        assert_eq!(inv.lookup(None, addr, 0, 0), None, "ambiguous, not guessed");
        assert_eq!(inv.lookup(None, addr, 0, 5003), None);
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
}
