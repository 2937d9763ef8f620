use super::*;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::config::ConfigError;
use crate::flow::Encap;

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

const HOSTS: &str = "[[host]]\nname = \"h1\"\ndomain = 1\n\n[[host]]\nname = \"h2\"\ndomain = 2\n";

#[test]
fn lab_inventory_loads() {
    let inv = lab();
    assert_eq!(inv.hosts.len(), 6);
    assert_eq!(inv.vms.len(), 11);
    let web = inv.vm("web-01").expect("web-01");
    assert_eq!(web.host, "esx-01");
    assert_eq!(web.macs, vec![[0x00, 0x50, 0x56, 0x00, 0x01, 0x11]]);
    assert_eq!(web.ips, vec![ip("10.10.1.11"), ip("fd00:10:1::11")]);
    assert_eq!((web.vlan, web.vni), (101, 10101));
    assert_eq!(web.port_group, "pg-dmz");
    assert_eq!(web.tags, vec!["dmz".to_string(), "web".to_string()]);
    // A Hyper-V VM: untagged, its virtual subnet's VSID where the VNI goes.
    let erp = inv.vm("erp-app-01").expect("erp-app-01");
    assert_eq!((erp.host.as_str(), erp.vlan, erp.vni), ("hv-01", 0, 5002));
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
    // An NVGRE provider address is listed as a VTEP.
    assert_eq!(
        name(inv.host_by_vtep(ip("172.16.0.6"))),
        Some("hv-02".into())
    );
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
    // Under GRE-TEB the key is NVGRE's VSID << 8 | flow id, or an Open
    // vSwitch tenant segment whole; a VNI is never read that way.
    let nvgre = |key: u32| Segment::of(Some(Encap::Nvgre), key);
    assert_eq!(
        name(inv.lookup(None, addr, 0, nvgre(5002 << 8 | 0x2a), T)),
        Some("b".into())
    );
    assert_eq!(
        name(inv.lookup(None, addr, 0, nvgre(5001), T)),
        Some("a".into())
    );
    assert_eq!(inv.lookup(None, addr, 0, nvgre(5003 << 8), T), None);
    assert_eq!(
        inv.lookup(None, addr, 0, Segment::of(Some(Encap::Vxlan), 5002 << 8), T),
        None
    );
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
    let text = format!("{HOSTS}\n[[vm]]\nname = \"a\"\nhost = \"h1\"\nips = [\"10.0.0.256\"]\n");
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
    let event = |json: &str| -> InventoryEvent { serde_json::from_str(json).expect("event JSON") };
    let events = vec![
        // The reuser moves to h2 at 09:05.
        event(r#"{"time": "2026-11-02T09:05:00Z", "vm": "reuser", "host": "h2"}"#),
        // A new VM takes the reuser's address while the reuser holds it.
        event(r#"{"time": "2026-11-02T09:06:00Z", "vm": "x", "host": "h1", "ips": ["10.0.0.1"]}"#),
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
        serde_json::from_str::<InventoryEvent>(r#"{"time": "x", "vm": "a", "colour": 1}"#).is_err(),
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
