//! `eastwest-tui` in a real terminal against the real pipeline on the lab
//! capture: `eastwest-exporter` replays lab/lab.pcap to `eastwest-collector`,
//! which stores the judged flows in ClickHouse; `eastwest-dashboard` serves
//! them; the TUI runs in a tmux pane of 80×24. Keys are sent with
//! `tmux send-keys`, the screen read with `tmux capture-pane -e` (with the
//! colours), and the fin-fe-01 → payroll-01 violation (finance front end
//! talking to payroll on the same host) must be on screen, marked `!` and
//! red, and open into its rule.
//!
//! The captured 80×24 screen is written to
//! `target/tui-conversations-80x24.txt` (plain) for the record.
//!
//! The binaries must be built (`cargo build --workspace --bins`, which
//! scripts/test does). tmux comes from `scripts/install-deps test`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use eastwest_tests::{
    clickhouse, free_tcp_port, free_udp_port, repo_root, unique_database, workspace_bin,
};

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tmux server of this test's own (its own socket), killed at the end.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        Tmux {
            socket: format!("eastwest-tui-test-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux (scripts/install-deps test installs it)")
    }

    /// The pane's text; with `escapes`, SGR colour sequences included.
    fn capture(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", "tui"];
        if escapes {
            args.push("-e");
        }
        String::from_utf8_lossy(&self.run(&args).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "send-keys: {out:?}");
    }

    /// Wait until the pane shows `needle`; the last screen on failure.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.capture(false);
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} not on screen after 30 s:\n{screen}"
            );
            sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn wait_http(url: &str, what: &str, child: &mut Running) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let ok = Command::new("curl")
            .args(["-fsS", "-o", "/dev/null", "--max-time", "5", url])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("{what} exited early with {status}");
        }
        sleep(Duration::from_millis(200));
    }
    panic!("{what} did not answer on {url}");
}

/// The line of `screen` (captured with escapes) holding `needle`.
fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{screen}"))
}

/// Text of a line without its escape sequences.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ params final-byte
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Does the line switch the foreground to red (SGR 31, 91 or 38;5;1/9)
/// before `needle`?
fn red_before(line: &str, needle: &str) -> bool {
    let Some(at) = line.find(needle) else {
        return false;
    };
    // Replay every SGR sequence before the needle: tmux may send the
    // attributes as one sequence or as several (`0;1`, `38;5;1`, `49`).
    let mut red = false;
    for chunk in line[..at].split("\x1b[").skip(1) {
        let Some(end) = chunk.find('m') else {
            continue;
        };
        let params: Vec<&str> = chunk[..end].split(';').collect();
        let mut i = 0;
        while i < params.len() {
            match params[i] {
                "" | "0" | "39" => red = false,
                "31" | "91" => red = true,
                "38" if params.get(i + 1) == Some(&"5") => {
                    red = matches!(params.get(i + 2), Some(&"1") | Some(&"9"));
                    i += 2;
                }
                p if p.len() == 2 && (p.starts_with('3') || p.starts_with('9')) => red = false,
                _ => {}
            }
            i += 1;
        }
    }
    red
}

#[test]
fn tui_shows_the_lab_violation_in_tmux() {
    let ch = clickhouse().expect("ClickHouse for the test");
    let db = unique_database("tui_tmux");
    let root = repo_root();
    let nf_port = free_udp_port().unwrap();
    let metrics_port = free_tcp_port().unwrap();

    let mut collector = Running(
        Command::new(workspace_bin("eastwest-collector"))
            .current_dir(&root)
            .env(eastwest_tests::LAB_CLOCK.0, eastwest_tests::LAB_CLOCK.1)
            .args(["--listen", &format!("127.0.0.1:{nf_port}")])
            .args(["--http", &format!("127.0.0.1:{metrics_port}")])
            .args(["--clickhouse-url", &ch.url, "--database", &db])
            .args([
                "--inventory",
                "lab/inventory.toml",
                "--policy",
                "lab/policy.toml",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_http(
        &format!("http://127.0.0.1:{metrics_port}/healthz"),
        "collector",
        &mut collector,
    );
    let out = Command::new(workspace_bin("eastwest-exporter"))
        .current_dir(&root)
        .args(["--read", "lab/lab.pcap"])
        .args(["--export", &format!("127.0.0.1:{nf_port}")])
        .args(["--inventory", "lab/inventory.toml", "--host", "esx-01"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exporter failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dash_port = free_tcp_port().unwrap();
    // The lab's policy and inventory, for the policy endpoint (the header's
    // revision).
    let dash_config =
        std::env::temp_dir().join(format!("eastwest-tui-dash-{}.toml", std::process::id()));
    std::fs::write(
        &dash_config,
        "[policy]\npolicy = \"lab/policy.toml\"\ninventory = \"lab/inventory.toml\"\n",
    )
    .unwrap();
    let mut dashboard = Running(
        Command::new(workspace_bin("eastwest-dashboard"))
            .current_dir(&root)
            .args(["--config".as_ref(), dash_config.as_os_str()])
            .args(["--listen", &format!("127.0.0.1:{dash_port}")])
            .args(["--clickhouse-url", &ch.url, "--database", &db])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{dash_port}");
    wait_http(
        &format!("{base}/api/v1/health"),
        "dashboard",
        &mut dashboard,
    );

    // The TUI in an 80×24 pane; the flows arrive while it runs (the
    // collector batches), so it must pick them up on its own.
    let tmux = Tmux::new();
    // The shell records the TUI's exit status in a file: tmux's
    // `pane_dead_status` stays empty when it sees the pane's EOF before it
    // reaps the process, which made the exit check flaky.
    let status_file = std::env::temp_dir().join(format!("{}.status", tmux.socket));
    let _ = std::fs::remove_file(&status_file);
    let command = format!(
        "env -u NO_COLOR TERM=xterm-256color {} --server {base} --range all --interval 0.5; echo $? > {}",
        workspace_bin("eastwest-tui").display(),
        status_file.display()
    );
    let out = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "80",
        "-y",
        "24",
        &command,
    ]);
    assert!(out.status.success(), "tmux new-session: {out:?}");

    let screen = tmux.wait_for("fin-fe-01 → payroll-01");
    // Wait for every conversation to be in before recording the screen.
    tmux.wait_for("web-01 → db-02");
    // The policy revision in force is in the header (not `?` or `none`).
    let header = tmux.wait_for("policy ");
    let header = header.lines().next().unwrap_or_default();
    assert!(
        !header.contains("policy ? ") && !header.contains("policy none"),
        "{header}"
    );
    let screen_plain = tmux.capture(false);
    let path = root.join("target/tui-conversations-80x24.txt");
    let _ = std::fs::write(&path, &screen_plain);
    println!("{screen_plain}");
    assert!(screen.contains("Conversations"), "{screen}");
    assert!(screen_plain.contains("● live"), "{screen_plain}");
    let _ = std::fs::remove_file(&dash_config);

    // The violation: marked and red; an allowed conversation is neither.
    let colored = tmux.capture(true);
    let row = line_with(&colored, "fin-fe-01 → payroll-01");
    assert!(
        plain(row).starts_with("! fin-fe-01 → payroll-01"),
        "{:?}",
        plain(row)
    );
    assert!(red_before(row, "fin-fe-01"), "not red: {row:?}");
    let allowed = line_with(&colored, "web-01 → app-01");
    assert!(plain(allowed).starts_with("  web-01"), "{allowed:?}");
    assert!(!red_before(allowed, "web-01"), "red: {allowed:?}");

    // Filter to payroll: only the violation remains; open it.
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "payroll"]);
    tmux.keys(&["Enter"]);
    // The tabs line shows the filter.
    let screen = tmux.wait_for("Exporters  / payroll");
    assert!(!screen.contains("web-01 → app-01"), "{screen}");
    // Select the row (a dashboard with one-direction rows also lists the
    // reply, payroll-01 → fin-fe-01) and open it.
    let rows: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.contains("client → server"))
        .skip(1)
        .collect();
    let index = rows
        .iter()
        .position(|l| l.starts_with("! fin-fe-01 → payroll-01"))
        .unwrap_or_else(|| panic!("violation not listed:\n{screen}"));
    for _ in 0..index {
        tmux.keys(&["Down"]);
    }
    tmux.keys(&["Enter"]);
    let detail = tmux.wait_for("rule    payroll must never talk to the finance front end");
    assert!(detail.contains("client fin-fe-01"), "{detail}");
    assert!(detail.contains("server payroll-01"), "{detail}");
    assert!(detail.contains("same host"), "{detail}");

    // Esc back, q quits: the process ends with status 0.
    tmux.keys(&["Escape"]);
    tmux.wait_for("client → server");
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = std::fs::read_to_string(&status_file).unwrap_or_default();
        let status = status.trim();
        if !status.is_empty() {
            assert_eq!(status, "0", "the TUI's exit status after q");
            let _ = std::fs::remove_file(&status_file);
            break;
        }
        assert!(Instant::now() < deadline, "TUI did not exit on q");
        sleep(Duration::from_millis(100));
    }
}
