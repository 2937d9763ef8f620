//! Interoperability: nfcapd (Debian's nfdump) receives what
//! `eastwest-exporter` sends for the lab capture, and `nfdump` reads back
//! exactly the flows, packets and IP bytes of lab/expected.json, at the
//! capture's own time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

use eastwest_tests::{
    free_udp_port, lab_expected, repo_root, udp_receive_queue, wait_for, workspace_bin,
};
use serde_json::Value;

#[test]
fn nfdump_reads_the_lab_as_exported() {
    let root = repo_root();
    let dir = std::env::temp_dir().join(format!("eastwest-nfcapd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_udp_port().unwrap();
    let mut nfcapd = Command::new("nfcapd")
        .arg("-w")
        .arg(&dir)
        .args(["-b", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nfcapd (scripts/install-deps test installs nfdump)");
    wait_for(10, "nfcapd to listen on its UDP port", || {
        Ok(udp_receive_queue(port)?.is_some())
    })
    .unwrap();

    let out = Command::new(workspace_bin("eastwest-exporter"))
        .current_dir(&root)
        .args(["--read", "lab/lab.pcap"])
        .args(["--export", &format!("127.0.0.1:{port}")])
        .args(["--inventory", "lab/inventory.toml", "--host", "esx-01"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every datagram is in nfcapd's queue once the exporter has exited;
    // wait until nfcapd has read them all.
    wait_for(10, "nfcapd to read every datagram", || {
        Ok(udp_receive_queue(port)? == Some(0))
    })
    .unwrap();
    // SIGTERM: nfcapd writes its file and exits.
    Command::new("kill")
        .args(["-TERM", &nfcapd.id().to_string()])
        .status()
        .unwrap();
    nfcapd.wait().unwrap();

    let info = Command::new("nfdump")
        .arg("-R")
        .arg(&dir)
        .arg("-I")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&info.stdout).into_owned();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in nfdump -I:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };

    let exp = lab_expected().unwrap();
    let flows: Vec<&Value> = exp["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["flows"].as_array().unwrap())
        .collect();
    let packets: u64 = flows.iter().map(|f| f["packets"].as_u64().unwrap()).sum();
    let bytes: u64 = flows.iter().map(|f| f["bytes"].as_u64().unwrap()).sum();
    assert_eq!(field("Packets"), packets, "nfdump -I:\n{text}");
    assert_eq!(field("Bytes"), bytes, "nfdump -I:\n{text}");
    // Long conversations are exported in active-timeout slices, so nfdump
    // sees at least one record per expected flow.
    assert!(field("Flows") >= flows.len() as u64, "nfdump -I:\n{text}");

    // The capture's own time, not the wall clock.
    let window = Command::new("nfdump")
        .arg("-R")
        .arg(&dir)
        .args(["-q", "-o", "fmt:%ts"])
        .output()
        .unwrap();
    let first = String::from_utf8_lossy(&window.stdout);
    assert!(
        first
            .lines()
            .all(|l| l.trim().starts_with("2026-11-02 09:0")),
        "flow times are not the capture's:\n{first}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
