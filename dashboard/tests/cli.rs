//! The `eastwest-dashboard` binary: start-up failures are one clear line and
//! a non-zero exit, `--check-config` checks without starting, and a started
//! server answers on its port, survives SIGHUP and stops on SIGTERM.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn dashboard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eastwest-dashboard"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

fn stderr_line(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {text:?}");
    assert!(!text.contains("panicked"), "{text}");
    lines[0].to_string()
}

#[test]
fn port_in_use_is_one_line() {
    let server = eastwest_tests::clickhouse().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = dashboard(&["--listen", &addr, "--clickhouse-url", &server.url]);
    assert!(!output.status.success());
    let line = stderr_line(&output);
    assert!(line.contains(&format!("cannot listen on {addr}")), "{line}");
}

#[test]
fn clickhouse_unreachable_is_one_line() {
    let dead = format!(
        "http://127.0.0.1:{}",
        eastwest_tests::free_tcp_port().unwrap()
    );
    let listen = format!("127.0.0.1:{}", eastwest_tests::free_tcp_port().unwrap());
    let output = dashboard(&["--listen", &listen, "--clickhouse-url", &dead]);
    assert!(!output.status.success());
    let line = stderr_line(&output);
    assert!(
        line.contains(&format!("ClickHouse at {dead} is unreachable")),
        "{line}"
    );
}

#[test]
fn check_config() {
    let example = eastwest_tests::repo_root().join("deploy/dashboard.toml");
    let output = dashboard(&["--config", example.to_str().unwrap(), "--check-config"]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("configuration ok"));

    let dir = std::env::temp_dir().join(format!("eastwest-dash-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::File::create(&bad)
        .unwrap()
        .write_all(b"listen = \"127.0.0.1:8080\"\nlisten_port = 9\n")
        .unwrap();
    let output = dashboard(&["--config", bad.to_str().unwrap(), "--check-config"]);
    assert!(!output.status.success());
    assert!(stderr_line(&output).contains("listen_port"));
    // A flag that makes the file invalid is caught too.
    let output = dashboard(&["--clickhouse-url", "localhost:8123", "--check-config"]);
    assert!(!output.status.success());
    assert!(stderr_line(&output).contains("clickhouse.url"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn serves_the_page_and_stops_on_sigterm() {
    let server = eastwest_tests::clickhouse().unwrap();
    let port = eastwest_tests::free_tcp_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let database = eastwest_tests::unique_database("dash_bin");
    let mut child = Command::new(env!("CARGO_BIN_EXE_eastwest-dashboard"))
        .args([
            "--listen",
            &listen,
            "--clickhouse-url",
            &server.url,
            "--database",
            &database,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "30",
                "--fail",
                &format!("http://{listen}/api/v1/health"),
            ])
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        assert!(Instant::now() < deadline, "dashboard did not come up");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(body, r#"{"status":"ok"}"#);
    // The database was migrated at start: an empty result, not an error.
    let out = Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "--max-time",
            "60",
            &format!("http://{listen}/api/v1/conversations?range=all"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#""conversations":[]"#));
    // SIGHUP (systemctl reload) without [tls] is only logged: still serving.
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "--fail",
            &format!("http://{listen}/api/v1/health"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
