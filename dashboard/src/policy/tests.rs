use super::sql::RawConversation;
use super::store::orient;
use super::*;
use eastwest_core::inventory::{parse_time, Inventory};
use eastwest_core::policy::Policy;
use std::net::IpAddr;
use std::path::PathBuf;

fn lab(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lab")
        .join(file)
}

fn stored(
    client: (&str, &str),
    server: (&str, &str),
    proto: u8,
    port: u16,
    before: (&str, &str, &str),
    observer: &str,
    bytes: u64,
) -> StoredConversation {
    StoredConversation {
        client_vm: client.0.into(),
        client_addr: client.1.parse().expect("address"),
        server_vm: server.0.into(),
        server_addr: server.1.parse().expect("address"),
        proto,
        server_port: port,
        observer: observer.into(),
        first_ms: 1_793_610_000_000,
        verdict: before.0.into(),
        rule: before.1.into(),
        severity: before.2.into(),
        flows: 1,
        bytes,
    }
}

const DMZ_DB: &str = "the DMZ must never reach the database tier";
const WEB_APP: &str = "DMZ web servers call the app tier on 8443";

#[test]
fn draft_diff_per_zone_pair() {
    let inventory = Inventory::load(&lab("inventory.toml")).expect("lab inventory");
    let text = std::fs::read_to_string(lab("policy.toml")).expect("lab policy");
    // The draft lets the DMZ reach PostgreSQL (before the deny), and no
    // longer lets it call the app tier on 8443.
    let draft_text = text
        .replacen(
            "[[rule]]\ndescription = \"the DMZ must never reach",
            "[[rule]]\ndescription = \"DMZ reaches PostgreSQL\"\nfrom = [\"dmz\"]\n\
                 to = [\"db\"]\nproto = \"tcp\"\nports = [\"5432\"]\naction = \"allow\"\n\n\
                 [[rule]]\ndescription = \"the DMZ must never reach",
            1,
        )
        .replace(
            "ports = [\"8443\"]\naction = \"allow\"",
            "ports = [\"9443\"]\naction = \"allow\"",
        );
    let draft = Policy::parse(&draft_text, "draft").expect("draft parses");
    let web = ("web-01", "10.10.1.11");
    let rows = vec![
        // Seen at two observation points: one conversation.
        stored(
            web,
            ("db-02", "10.10.3.12"),
            6,
            5432,
            ("violation", DMZ_DB, "critical"),
            "esx-01",
            700,
        ),
        stored(
            web,
            ("db-02", "10.10.3.12"),
            6,
            5432,
            ("violation", DMZ_DB, "critical"),
            "esx-04",
            900,
        ),
        stored(
            web,
            ("app-01", "10.10.2.11"),
            6,
            8443,
            ("allowed", WEB_APP, ""),
            "esx-01",
            100,
        ),
        // ICMPv6 DMZ → db stays a violation of the same rule.
        stored(
            ("web-01", "fd00:10:1::11"),
            ("db-01", "fd00:10:3::11"),
            58,
            0,
            ("violation", DMZ_DB, "critical"),
            "esx-01",
            64,
        ),
        // An address outside the inventory is zoned by CIDR (internet).
        stored(
            ("", "203.0.113.9"),
            ("web-01", "10.10.1.11"),
            6,
            443,
            ("violation", "default cross-zone", "medium"),
            "esx-01",
            10,
        ),
    ];
    let (count, pairs) = whatif(&draft, Some(&inventory), &rows);
    assert_eq!(count, 4);
    let keys: Vec<&(String, String)> = pairs.keys().collect();
    assert_eq!(
        keys,
        [
            &("dmz".to_string(), "app".to_string()),
            &("dmz".to_string(), "db".to_string())
        ]
    );
    let db = &pairs[&("dmz".to_string(), "db".to_string())];
    assert_eq!(db.resolved_violations.len(), 1);
    let resolved = &db.resolved_violations[0];
    assert_eq!(
        (resolved.server_vm.as_str(), resolved.bytes),
        ("db-02", 900)
    );
    assert_eq!(resolved.after.rule, "DMZ reaches PostgreSQL");
    assert!(db.new_violations.is_empty() && db.other_changes.is_empty());
    let app = &pairs[&("dmz".to_string(), "app".to_string())];
    assert_eq!(app.new_violations.len(), 1);
    assert_eq!(
        app.new_violations[0].after,
        Judgement {
            verdict: "violation".into(),
            rule: "default cross-zone".into(),
            severity: "medium".into()
        }
    );
    // The lab policy itself changes nothing.
    let same = Policy::parse(&text, "same").expect("lab policy");
    assert!(whatif(&same, Some(&inventory), &rows).1.is_empty());
}

#[test]
fn zones_come_from_the_placement_then() {
    // web-01 was a db VM (tags) until 09:00; a conversation from then is
    // re-zoned as db → app, not dmz → app.
    let text = std::fs::read_to_string(lab("inventory.toml")).expect("lab inventory");
    let history = text.replacen(
        "name = \"web-01\"\nhost = \"esx-01\"",
        "name = \"web-01\"\nhost = \"esx-01\"\ntags = [\"db\"]\n\n[[vm]]\nname = \"web-01\"\n\
             since = \"2026-11-02T09:00:00Z\"\nhost = \"esx-01\"",
        1,
    );
    let inventory = Inventory::parse(&history, "history.toml").expect("valid");
    let draft = Policy::load(&lab("policy.toml")).expect("lab policy");
    let mut row = stored(
        ("web-01", "10.10.1.11"),
        ("app-01", "10.10.2.11"),
        6,
        8443,
        ("allowed", "x", ""),
        "esx-01",
        1,
    );
    row.first_ms = parse_time("2026-11-02T08:59:59Z").expect("time");
    let (_, pairs) = whatif(&draft, Some(&inventory), &[row.clone()]);
    assert!(
        pairs.contains_key(&("db".to_string(), "app".to_string())),
        "{pairs:?}"
    );
    row.first_ms = parse_time("2026-11-02T09:00:00Z").expect("time");
    let (_, pairs) = whatif(&draft, Some(&inventory), &[row]);
    assert!(
        pairs.contains_key(&("dmz".to_string(), "app".to_string())),
        "{pairs:?}"
    );
}

#[test]
fn raw_rows_are_oriented() {
    let addr = |t: &str| {
        let ip: IpAddr = t.parse().expect("address");
        eastwest_clickhouse::schema::addr_to_bytes(ip)
    };
    let raw = |src: &str, dst: &str, sp: u16, dp: u16, bytes: u64| RawConversation {
        src_vm: src.into(),
        src_addr: addr(if src == "web-01" {
            "10.10.1.11"
        } else {
            "10.10.2.11"
        }),
        dst_vm: dst.into(),
        dst_addr: addr(if dst == "web-01" {
            "10.10.1.11"
        } else {
            "10.10.2.11"
        }),
        proto: 6,
        src_port: sp,
        dst_port: dp,
        icmp: 0,
        observer: "esx-01".into(),
        first_ms: 5,
        verdict: "allowed".into(),
        rule: WEB_APP.into(),
        severity: String::new(),
        flows: 1,
        bytes,
    };
    let out = orient(vec![
        raw("web-01", "app-01", 41001, 8443, 100),
        raw("app-01", "web-01", 8443, 41001, 2000),
        raw("web-01", "app-01", 41002, 8443, 50),
    ]);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (
            out[0].client_vm.as_str(),
            out[0].server_port,
            out[0].flows,
            out[0].bytes
        ),
        ("web-01", 8443, 3, 2150)
    );
}
