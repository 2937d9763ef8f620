//! Hostile input to the API (issue 8), against the real `eastwest-dashboard`
//! binary (tokens required) over a real ClickHouse holding rows: every query
//! parameter of every endpoint with SQL-injection payloads, oversized
//! values and wrong types; names in paths; path traversal on the static
//! files; missing and invalid tokens; a viewer token on the admin endpoint;
//! hostile request bodies. Asserts that no stored row changed (row counts
//! and a checksum of every table before and after), that no answer leaks
//! internals (ClickHouse error text, SQL, file paths, panics), and that
//! every answer is a 2xx or the fitting 4xx. Prints how many inputs were
//! tried.
#![allow(clippy::unwrap_used)] // test set-up

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use eastwest_tests::{
    clickhouse, http, repo_root, tempdir, unique_database, workspace_bin, DashboardProcess,
};

const VIEWER: &str = "hostile-viewer-token";
const ADMIN: &str = "hostile-admin-token";

const GET_ENDPOINTS: [&str; 14] = [
    "/api/v1/conversations",
    "/api/v1/flows",
    "/api/v1/zones/matrix",
    "/api/v1/violations",
    "/api/v1/vms/web-01",
    "/api/v1/hosts",
    "/api/v1/hosts/esx-01",
    "/api/v1/timeseries",
    "/api/v1/exporters",
    "/api/v1/report",
    "/api/v1/policy",
    "/api/v1/coresidency",
    "/api/v1/health",
    "/api/v1/openapi.json",
];

/// Endpoints that take no query parameter (and ignore those sent).
const PARAMLESS: [&str; 4] = [
    "/api/v1/policy",
    "/api/v1/coresidency",
    "/api/v1/health",
    "/api/v1/openapi.json",
];

/// Every parameter name the API knows, and some it does not.
const PARAMS: [&str; 22] = [
    "from",
    "to",
    "range",
    "dataset",
    "vm",
    "peer",
    "host",
    "zone",
    "client_zone",
    "server_zone",
    "verdict",
    "severity",
    "rule",
    "same_host",
    "proto",
    "port",
    "limit",
    "offset",
    "sort",
    "format",
    "query",
    "database",
];

/// Text that would only appear if internals leaked (none is in a payload).
const LEAKS: [&str; 12] = [
    "DB::Exception",
    "Code: ",
    "e.what()",
    "panicked",
    "stack backtrace",
    "/work/",
    "/root/",
    ".rs:",
    "RowBinary",
    "FROM `",
    "SELECT count()",
    "clickhouse::",
];

fn payloads() -> Vec<String> {
    let mut p: Vec<String> = [
        "' OR '1'='1",
        "' OR 1=1 --",
        "1; DROP TABLE flows",
        "'); DROP TABLE flows; --",
        "x' UNION ALL SELECT version() --",
        "1 OR sleep(3)",
        "\\' OR 1=1 #",
        "\"; TRUNCATE TABLE flows; --",
        "-1",
        "0",
        "18446744073709551616",
        "1e99",
        "NaN",
        "abc",
        "[]",
        "{}",
        "%00",
        "\u{0}",
        "ü'; ☃",
        "../../../../etc/passwd",
        "${jndi:ldap://x}",
        "2026-13-45T99:99:99Z",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    p.push("a".repeat(100_000));
    p.push("'".repeat(5_000));
    p
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hash_token(token: &str) -> String {
    let mut child = Command::new(workspace_bin("eastwest-dashboard"))
        .arg("--hash-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{token}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Row count and checksum of every table of the database.
fn fingerprint(server: &eastwest_tests::ClickHouse, database: &str) -> Vec<String> {
    let tables = server
        .query(&format!(
            "SELECT name FROM system.tables WHERE database = '{database}' \
             AND engine NOT LIKE '%View' ORDER BY name"
        ))
        .unwrap();
    let mut out = vec![tables.clone()];
    for table in tables.lines() {
        // Every column, aggregate states by their value (18.16 hashes no
        // AggregateFunction column).
        let columns: Vec<String> = server
            .query(&format!(
                "SELECT name, type FROM system.columns WHERE database = '{database}' \
                 AND table = '{table}' ORDER BY name"
            ))
            .unwrap()
            .lines()
            .map(|line| {
                let (name, ch_type) = line.split_once('\t').unwrap();
                if ch_type.starts_with("AggregateFunction") {
                    format!("finalizeAggregation(`{name}`)")
                } else {
                    format!("`{name}`")
                }
            })
            .collect();
        out.push(
            server
                .query(&format!(
                    "SELECT '{table}', count(), sum(cityHash64({})) FROM `{database}`.`{table}`",
                    columns.join(", ")
                ))
                .unwrap(),
        );
    }
    out
}

struct Tally {
    tried: AtomicUsize,
    failures: Mutex<Vec<String>>,
    /// Text the API may show (the configured policy file's path, a
    /// documented field of `GET /api/v1/policy`).
    allowed: Vec<String>,
}

impl Tally {
    /// One request; `ok` says which statuses fit.
    /// Returns the status and the body (empty if no answer).
    fn check(
        &self,
        port: u16,
        method: &str,
        target: &str,
        token: Option<&str>,
        body: &[u8],
        ok: &dyn Fn(u16) -> bool,
    ) -> (u16, String) {
        self.tried.fetch_add(1, Ordering::Relaxed);
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth.as_str()));
        }
        let shown: String = target.chars().take(120).collect();
        match http(
            port,
            method,
            target,
            &headers,
            body,
            Duration::from_secs(60),
        ) {
            Err(err) => {
                self.failures
                    .lock()
                    .unwrap()
                    .push(format!("{method} {shown}: no answer: {err:#}"));
                (0, String::new())
            }
            Ok((status, text)) => {
                let mut scanned = text.clone();
                for allowed in &self.allowed {
                    scanned = scanned.replace(allowed.as_str(), "");
                }
                if !ok(status) {
                    self.failures.lock().unwrap().push(format!(
                        "{method} {shown}: status {status}: {}",
                        text.chars().take(200).collect::<String>()
                    ));
                }
                if let Some(leak) = LEAKS.iter().find(|l| scanned.contains(*l)) {
                    self.failures.lock().unwrap().push(format!(
                        "{method} {shown}: leaks {leak:?}: {}",
                        text.chars().take(300).collect::<String>()
                    ));
                }
                if text.contains("root:x:0:0") || text.contains("[workspace]") {
                    self.failures
                        .lock()
                        .unwrap()
                        .push(format!("{method} {shown}: served a file from outside"));
                }
                (status, text)
            }
        }
    }
}

fn two_or_four(status: u16) -> bool {
    (200..300).contains(&status) || (400..500).contains(&status)
}

#[test]
fn hostile_input_changes_nothing_and_leaks_nothing() {
    let server = clickhouse().unwrap();
    let database = unique_database("hostile");
    let dir = tempdir("api-hostile").unwrap();
    let config = dir.join("dashboard.toml");
    let root = repo_root();
    std::fs::write(
        &config,
        format!(
            "[clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\n\
             [auth]\nmode = \"on\"\n\
             [[auth.tokens]]\nname = \"v\"\nsha256 = \"{}\"\nrole = \"viewer\"\n\
             [[auth.tokens]]\nname = \"a\"\nsha256 = \"{}\"\nrole = \"admin\"\n\
             [policy]\ninventory = \"{}\"\npolicy = \"{}\"\n",
            server.url,
            hash_token(VIEWER),
            hash_token(ADMIN),
            root.join("lab/inventory.toml").display(),
            root.join("lab/policy.toml").display(),
        ),
    )
    .unwrap();
    let mut dashboard = DashboardProcess::start(&config).unwrap();
    let port = dashboard.port;
    server
        .query(&format!(
            "INSERT INTO `{database}`.flows (date, start, start_ms, end, end_ms, src_vm, dst_vm, \
             src_host, dst_host, src_zone, dst_zone, proto, dst_port, src_port, packets, bytes, \
             verdict, rule, severity, observer) VALUES \
             (today(), now(), toUInt64(now()) * 1000, now(), toUInt64(now()) * 1000, 'web-01', \
             'db-01', 'esx-01', 'esx-02', 'dmz', 'db', 6, 5432, 40000, 3, 300, 'violation', \
             'the DMZ must never reach the database tier', 'critical', 'esx-01'), \
             (today(), now(), toUInt64(now()) * 1000, now(), toUInt64(now()) * 1000, 'web-01', \
             'app-01', 'esx-01', 'esx-01', 'dmz', 'app', 6, 8443, 40001, 5, 900, 'allowed', \
             'DMZ calls app on 8443', '', 'esx-01')"
        ))
        .unwrap();
    let before = fingerprint(&server, &database);
    let tally = Arc::new(Tally {
        tried: AtomicUsize::new(0),
        failures: Mutex::new(Vec::new()),
        allowed: vec![
            root.join("lab/policy.toml").display().to_string(),
            root.join("lab/inventory.toml").display().to_string(),
        ],
    });

    // Every parameter of every endpoint, every payload (a thread each).
    let payloads = Arc::new(payloads());
    let threads: Vec<_> = GET_ENDPOINTS
        .iter()
        .map(|endpoint| {
            let (tally, payloads) = (tally.clone(), payloads.clone());
            let endpoint: &'static str = endpoint;
            thread::spawn(move || {
                let started = std::time::Instant::now();
                {
                    // Endpoints without parameters accept and ignore them:
                    // a few payloads each (short and oversized) suffice.
                    let few = PARAMLESS.contains(&endpoint);
                    for param in PARAMS {
                        let n = payloads.len();
                        let picked = payloads
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| !few || *i < 3 || *i + 2 >= n)
                            .map(|(_, p)| p);
                        for payload in picked {
                            let target = format!("{endpoint}?{param}={}", encode(payload));
                            let (status, text) =
                                tally.check(port, "GET", &target, Some(VIEWER), b"", &two_or_four);
                            // A parameter the endpoint does not take is refused
                            // before any value is read: one payload shows it.
                            if status == 400 && text.contains("not a parameter of this endpoint") {
                                break;
                            }
                        }
                    }
                }
                println!("{endpoint}: {:.1} s", started.elapsed().as_secs_f64());
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    // Names in paths.
    for payload in payloads.iter() {
        for prefix in ["/api/v1/vms/", "/api/v1/hosts/"] {
            let target = format!("{prefix}{}", encode(payload));
            tally.check(port, "GET", &target, Some(VIEWER), b"", &two_or_four);
        }
    }

    // Path traversal on the static files: never a file from outside.
    for target in [
        "/../../../../etc/passwd",
        "/assets/../../../../etc/passwd",
        "/assets/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/assets/%2e%2e/%2e%2e/%2e%2e/Cargo.toml",
        "/%2e%2e/%2e%2e/Cargo.toml",
        "//etc/passwd",
        "/assets/app.js/../../Cargo.toml",
        "/assets/....//....//etc/passwd",
        "/assets/%00",
        "/web/src/main.ts",
        "/dashboard/Cargo.toml",
    ] {
        tally.check(port, "GET", target, None, b"", &two_or_four);
    }

    // Tokens: none, invalid, empty, wrong scheme → 401 on every endpoint
    // with data; a viewer on the admin endpoint → 403.
    for endpoint in &GET_ENDPOINTS[..12] {
        for token in [None, Some("wrong"), Some(""), Some(&"x".repeat(10_000)[..])] {
            tally.check(port, "GET", endpoint, token, b"", &|s| s == 401);
        }
    }
    let event = br#"{"time": "2026-11-02T09:01:00Z", "vm": "payroll-01", "host": "esx-04"}"#;
    tally.check(
        port,
        "POST",
        "/api/v1/inventory/events",
        Some(VIEWER),
        event,
        &|s| s == 403,
    );
    tally.check(
        port,
        "POST",
        "/api/v1/inventory/events",
        None,
        event,
        &|s| s == 401,
    );

    // Hostile bodies: the admin's events refused (nothing stored), drafts.
    let mut bodies: Vec<Vec<u8>> = payloads.iter().map(|p| p.as_bytes().to_vec()).collect();
    for p in payloads.iter() {
        let p = serde_json::to_string(p).unwrap();
        bodies.push(format!(r#"{{"time": {p}, "vm": {p}, "host": {p}}}"#).into_bytes());
        bodies.push(
            format!(
                r#"{{"time": "2026-11-02T09:01:00Z", "vm": {p}, "host": "esx-04", "macs": [{p}]}}"#
            )
            .into_bytes(),
        );
        bodies.push(format!(r#"{{"policy": {p}, "from": {p}, "to": {p}}}"#).into_bytes());
    }
    bodies.push(vec![b'['; 100_000]);
    for body in &bodies {
        tally.check(
            port,
            "POST",
            "/api/v1/inventory/events",
            Some(ADMIN),
            body,
            &|s| (400..500).contains(&s),
        );
        tally.check(
            port,
            "POST",
            "/api/v1/policy/whatif",
            Some(VIEWER),
            body,
            &|s| (400..500).contains(&s),
        );
    }

    let after = fingerprint(&server, &database);
    let tried = tally.tried.load(Ordering::Relaxed);
    let failures = tally.failures.lock().unwrap().clone();
    println!(
        "api_hostile: {tried} inputs tried, {} failures, tables unchanged: {}",
        failures.len(),
        before == after
    );
    assert!(
        failures.is_empty(),
        "{} of {tried} inputs failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(before, after, "stored data changed");
    assert!(tried > 2_000, "{tried}");
    assert!(dashboard.alive());
    let _ = std::fs::remove_dir_all(&dir);
}
