//! Dashboard faults (issue 8): the real `eastwest-dashboard` binary reaches
//! a real ClickHouse through a TCP proxy the test makes slow (every answer
//! held for longer than `clickhouse.timeout_seconds`) or cuts: every API
//! request gets a 503 `storage unavailable` within the timeout (plus a
//! margin), none hangs, the process keeps running, and it answers with the
//! data again once ClickHouse is back.
#![allow(clippy::unwrap_used)] // test set-up

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use eastwest_tests::{clickhouse, http, tempdir, unique_database, DashboardProcess};

/// Forwards to `target`; answers are held `delay_ms` per chunk; while
/// `down`, new connections are closed at once and open ones are cut.
struct Proxy {
    port: u16,
    delay_ms: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream, delay_ms: Arc<AtomicU64>, down: Arc<AtomicBool>) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if down.load(Ordering::SeqCst) {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let delay = delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    thread::sleep(Duration::from_millis(delay));
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

impl Proxy {
    fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (d, dn) = (delay_ms.clone(), down.clone());
        thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                if dn.load(Ordering::SeqCst) {
                    let _ = inbound.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(outbound) = TcpStream::connect(target) else {
                    continue;
                };
                let (i2, o2) = (inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
                let (d1, dn1, dn2) = (d.clone(), dn.clone(), dn.clone());
                // Requests go straight through; answers are delayed.
                thread::spawn(move || pipe(inbound, outbound, Arc::new(AtomicU64::new(0)), dn1));
                thread::spawn(move || pipe(o2, i2, d1, dn2));
            }
        });
        Proxy {
            port,
            delay_ms,
            down,
        }
    }
}

const ENDPOINTS: [&str; 6] = [
    "/api/v1/health",
    "/api/v1/conversations?range=all",
    "/api/v1/zones/matrix?range=24h",
    "/api/v1/timeseries?range=all",
    "/api/v1/violations?range=all",
    "/api/v1/report?range=all&format=csv",
];

/// Every endpoint at once (one thread each): status, body, seconds taken.
fn all_at_once(port: u16) -> Vec<(String, u16, String, f64)> {
    let threads: Vec<_> = ENDPOINTS
        .iter()
        .map(|uri| {
            thread::spawn(move || {
                let t = Instant::now();
                let (status, body) =
                    http(port, "GET", uri, &[], b"", Duration::from_secs(30)).unwrap();
                (uri.to_string(), status, body, t.elapsed().as_secs_f64())
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn clickhouse_slow_or_down_gives_503_within_the_timeout_then_recovers() {
    let server = clickhouse().unwrap();
    let target = server.url.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(target);
    let database = unique_database("faults_dash");
    let dir = tempdir("faults-dashboard").unwrap();
    let config = dir.join("dashboard.toml");
    let timeout_s = 2;
    std::fs::write(
        &config,
        format!(
            "[clickhouse]\nurl = \"http://127.0.0.1:{}\"\ndatabase = \"{database}\"\n\
             timeout_seconds = {timeout_s}\n",
            proxy.port
        ),
    )
    .unwrap();
    let mut dashboard = DashboardProcess::start(&config).unwrap();
    server
        .query(&format!(
            "INSERT INTO `{database}`.flows (date, start, start_ms, end, end_ms, src_vm, dst_vm, \
             src_zone, dst_zone, proto, dst_port, src_port, packets, bytes, verdict) VALUES \
             (today(), now(), toUInt64(now()) * 1000, now(), toUInt64(now()) * 1000, \
             'faults-a', 'faults-b', 'app', 'db', 6, 5432, 40000, 3, 300, 'allowed')"
        ))
        .unwrap();
    for (uri, status, body, _) in all_at_once(dashboard.port) {
        assert_eq!(status, 200, "{uri}: {body}");
    }

    // Slow: every answer held 5 s, past the 2 s timeout.
    proxy.delay_ms.store(5_000, Ordering::SeqCst);
    let slow = all_at_once(dashboard.port);
    for (uri, status, body, secs) in &slow {
        assert_eq!(*status, 503, "{uri}: {body}");
        assert_eq!(body, r#"{"error":"storage unavailable"}"#, "{uri}");
        assert!(
            *secs < f64::from(timeout_s) + 2.0,
            "{uri} took {secs:.1} s with a {timeout_s} s timeout"
        );
    }
    println!(
        "slow ClickHouse: {} requests, all 503, slowest {:.2} s (timeout {timeout_s} s)",
        slow.len(),
        slow.iter().map(|r| r.3).fold(0.0, f64::max)
    );

    // Down: connections refused and cut.
    proxy.delay_ms.store(0, Ordering::SeqCst);
    proxy.down.store(true, Ordering::SeqCst);
    thread::sleep(Duration::from_millis(300));
    let down = all_at_once(dashboard.port);
    for (uri, status, body, secs) in &down {
        assert_eq!(*status, 503, "{uri}: {body}");
        assert!(
            !body.contains("Code:") && !body.contains("127.0.0.1"),
            "{uri}: {body}"
        );
        assert!(*secs < f64::from(timeout_s) + 2.0, "{uri} took {secs:.1} s");
    }
    assert!(dashboard.alive());

    // Back: the data again.
    proxy.down.store(false, Ordering::SeqCst);
    let mut recovered = false;
    for _ in 0..50 {
        let (status, body) = http(
            dashboard.port,
            "GET",
            "/api/v1/conversations?range=all",
            &[],
            b"",
            Duration::from_secs(10),
        )
        .unwrap();
        if status == 200 {
            assert!(body.contains("faults-a"), "{body}");
            recovered = true;
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    assert!(recovered, "no 200 within 10 s of ClickHouse coming back");
    for (uri, status, body, _) in all_at_once(dashboard.port) {
        assert_eq!(status, 200, "{uri}: {body}");
    }
    assert!(dashboard.alive());

    // What /metrics counted: the 503s by route, the timeouts and errors.
    let (status, metrics) = http(
        dashboard.port,
        "GET",
        "/metrics",
        &[],
        b"",
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(status, 200);
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in:\n{metrics}"))
    };
    assert!(
        value("eastwest_dashboard_clickhouse_timeouts_total") >= 5,
        "{metrics}"
    );
    assert!(
        value("eastwest_dashboard_clickhouse_errors_total") >= 1,
        "{metrics}"
    );
    assert_eq!(
        value(r#"eastwest_dashboard_requests_total{route="/api/v1/conversations",status="503"}"#),
        2
    );
    assert!(
        value(r#"eastwest_dashboard_requests_total{route="/api/v1/conversations",status="200"}"#)
            >= 2
    );
    assert!(
        value(r#"eastwest_dashboard_request_seconds_count{route="/api/v1/zones/matrix"}"#) >= 4
    );
    let _ = std::fs::remove_dir_all(&dir);
}
