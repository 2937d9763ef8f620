//! pcapng through the built-in reader (`core::pcapfile`): a real
//! three-interface file made by mergecap from real captures, totals checked
//! against tshark; the same file on stdin (libpcap cannot read it); damage
//! reported by byte offset; a non-Ethernet interface named.

mod common;

use std::process::Command;

use common::*;
use eastwest_core::pcapfile::{NgWriter, LINKTYPE_ETHERNET};

const MERGED: &str = "mergecap__vxlan+erspan-ii+dot1q.pcapng";

/// (offset, length) of every block of a little-endian pcapng file.
fn blocks(file: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= file.len() {
        let len = u32::from_le_bytes(file[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        out.push((at, len));
        at += len;
    }
    out
}

fn block_type(file: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(file[at..at + 4].try_into().expect("4 bytes"))
}

fn counters(run: &Run) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    assert!(run.output.status.success(), "{}", run.stderr());
    let s = run.stats();
    (
        s["packets_read"].clone(),
        s["ip_bytes_metered"].clone(),
        s["encapsulations"].clone(),
    )
}

#[test]
fn three_interfaces_totals_equal_tshark_also_on_stdin() {
    let file = data(MERGED);
    let path = file.to_str().expect("utf-8");
    let run = run_exporter(&["-r", path, "--stats-json"]);
    let native = counters(&run);
    assert_eq!(native.0, 41, "10 + 16 + 15 frames on interfaces 0, 1, 2");
    assert_eq!(native.2["vxlan"], 8);
    assert_eq!(native.2["erspan2"], 16);
    assert_eq!(native.2["span"], 9);
    // ARP inside VXLAN is not IP: tshark's last IP header there is the
    // outer one, while the exporter counts the frame as `not_ip`.
    let decoded = decode(&run.datagrams);
    assert_eq!(totals(&decoded.flows), tshark_truth(&file, "!arp"));
    // libpcap (1.10) refuses interfaces whose snap lengths differ (the
    // VXLAN capture's is 1600, the others' 65535): one reason the
    // built-in reader is the default.
    let libpcap = run_exporter(&["-r", path, "--file-reader", "libpcap", "--stats-json"]);
    assert!(!libpcap.output.status.success());
    assert!(
        libpcap.stderr().contains("snapshot length 1600 different"),
        "{}",
        libpcap.stderr()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_eastwest-exporter"))
        .args(["-r", "-", "--stats-json", "--export", "127.0.0.1:9"])
        .stdin(std::fs::File::open(&file).expect("open"))
        .output()
        .expect("run");
    let piped = Run {
        output: out,
        datagrams: Vec::new(),
        port: 9,
    };
    assert_eq!(counters(&piped), native);
}

/// Runs the exporter on `bytes` written to a file; returns the run.
fn run_on(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Run {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    run_exporter(&["-r", path.to_str().expect("utf-8"), "--stats-json"])
}

fn assert_damaged(run: &Run, packets: usize, message: &str) {
    assert!(!run.output.status.success(), "a damaged file is a failure");
    let err = run.stderr();
    assert!(err.contains(message), "{message:?} not in {err}");
    assert!(!err.contains("panicked"), "{err}");
    let stats = run.stats();
    assert_eq!(stats["packets_read"], packets as u64, "{err}");
    assert_eq!(stats["capture_errors"].as_array().map(Vec::len), Some(1));
    // What was read was exported.
    let exported: u64 = decode(&run.datagrams).flows.iter().map(|f| f.packets).sum();
    let metered: u64 = stats["encapsulations"]
        .as_object()
        .expect("map")
        .values()
        .filter_map(|v| v.as_u64())
        .sum();
    assert_eq!(exported, metered);
}

#[test]
fn damaged_pcapng_names_the_offset_and_exports_what_is_readable() {
    let dir = temp_dir("pcapng-damage");
    let whole = std::fs::read(data(MERGED)).expect("read");
    let all = blocks(&whole);
    assert_eq!(all.iter().map(|b| b.1).sum::<usize>(), whole.len());
    let packets_before = |at: usize| {
        all.iter()
            .filter(|b| b.0 < at && block_type(&whole, b.0) == 6)
            .count()
    };
    // Cut in the middle of the 20th packet block.
    let (at, len) = *all
        .iter()
        .filter(|b| block_type(&whole, b.0) == 6)
        .nth(19)
        .expect("20 packets");
    let run = run_on(&dir, "cut.pcapng", &whole[..at + len / 2]);
    assert_damaged(
        &run,
        19,
        &format!(
            "truncated block at offset {at}: needed {len} bytes, got {}",
            len / 2
        ),
    );
    // The trailing length of the 30th packet block differs.
    let (at, len) = *all
        .iter()
        .filter(|b| block_type(&whole, b.0) == 6)
        .nth(29)
        .expect("30 packets");
    let mut bad = whole.clone();
    bad[at + len - 4] ^= 0x40;
    let run = run_on(&dir, "trailer.pcapng", &bad);
    assert_damaged(
        &run,
        packets_before(at),
        &format!("pcapng block at offset {at}: trailing block length differs"),
    );
    // A block length that is not a multiple of 4 (the 5th packet block).
    let (at, _) = *all
        .iter()
        .filter(|b| block_type(&whole, b.0) == 6)
        .nth(4)
        .expect("5 packets");
    let mut bad = whole.clone();
    bad[at + 4] = bad[at + 4].wrapping_add(1);
    let run = run_on(&dir, "length.pcapng", &bad);
    assert_damaged(
        &run,
        4,
        &format!("pcapng block at offset {at}: block length not a multiple of 4"),
    );
    // A packet block naming an interface that was never described.
    let mut bad = whole.clone();
    bad[at + 8] = 7;
    let run = run_on(&dir, "iface.pcapng", &bad);
    assert_damaged(
        &run,
        4,
        &format!("pcapng packet block at offset {at} names interface 7, but 3 are described"),
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn a_non_ethernet_interface_is_named() {
    let dir = temp_dir("pcapng-linktype");
    let frame = std::fs::read(data(MERGED)).expect("read");
    // One real Ethernet frame: the first packet block's data.
    let first = blocks(&frame)
        .into_iter()
        .find(|b| block_type(&frame, b.0) == 6)
        .expect("a packet");
    let caplen = u32::from_le_bytes(frame[first.0 + 20..first.0 + 24].try_into().expect("4"));
    let data = &frame[first.0 + 28..first.0 + 28 + caplen as usize];
    let mut w = NgWriter::new(Vec::new()).expect("header");
    let eth = w
        .add_interface(LINKTYPE_ETHERNET as u16, 65_535, 9)
        .expect("idb");
    let null = w.add_interface(0, 65_535, 6).expect("idb");
    w.write_packet(eth, 1_700_000_000_123_456_789, data, caplen)
        .expect("epb");
    w.write_packet(null, 1_700_000_001_000_000_000, &[2, 0, 0, 0], 4)
        .expect("epb");
    let bytes = w.into_inner().expect("flush");
    let at = blocks(&bytes).last().expect("blocks").0;
    let run = run_on(&dir, "null.pcapng", &bytes);
    assert_damaged(
        &run,
        1,
        &format!("interface 1 (block at offset {at}) has link type NULL"),
    );
    // The first interface not Ethernet: one line naming it, nothing read.
    let mut w = NgWriter::new(Vec::new()).expect("header");
    w.add_interface(0, 65_535, 6).expect("idb");
    let run = run_on(&dir, "null-first.pcapng", &w.into_inner().expect("flush"));
    assert!(!run.output.status.success());
    let err = run.stderr();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("link type NULL"), "{err}");
    assert!(err.contains("null-first.pcapng"), "{err}");
    std::fs::remove_dir_all(dir).expect("cleanup");
}
