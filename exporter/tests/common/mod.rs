//! Shared by the integration tests: run the real binary into a real UDP
//! socket, decode what arrives with `netflow_parser`, and ask tshark for the
//! truth.

// Each integration test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eastwest_core::netflow::field;
use eastwest_core::pcapfile::Reader;
use netflow_parser::variable_versions::v9::FlowSetBody;
use netflow_parser::{FieldValue, NetflowPacket, NetflowParser};

/// A file of the workspace (e.g. `lab/lab.pcap`).
pub fn workspace_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ew-exporter-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub output: Output,
    pub datagrams: Vec<Vec<u8>>,
    pub port: u16,
}

impl Run {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn stats(&self) -> serde_json::Value {
        let stdout = String::from_utf8_lossy(&self.output.stdout);
        let line = stdout.lines().last().expect("a JSON line on stdout");
        serde_json::from_str(line).expect("stats JSON")
    }
}

/// Run `eastwest-exporter ARGS --export 127.0.0.1:PORT` with a socket bound
/// on that port, and collect every datagram it sends.
pub fn run_exporter(args: &[&str]) -> Run {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = socket.local_addr().expect("addr").port();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let done = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&done);
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_536];
        let mut quiet = 0;
        loop {
            match socket.recv(&mut buf) {
                Ok(n) => {
                    got.push(buf[..n].to_vec());
                    quiet = 0;
                }
                Err(_) if stop.load(Ordering::SeqCst) => {
                    quiet += 1;
                    if quiet >= 3 {
                        return got;
                    }
                }
                Err(_) => {}
            }
        }
    });
    let target = format!("127.0.0.1:{port}");
    let output = Command::new(env!("CARGO_BIN_EXE_eastwest-exporter"))
        .args(args)
        .args(["--export", &target])
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run eastwest-exporter");
    done.store(true, Ordering::SeqCst);
    let datagrams = receiver.join().expect("receiver thread");
    Run {
        output,
        datagrams,
        port,
    }
}

/// One decoded flow record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flow {
    pub source_id: u32,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub packets: u64,
    pub bytes: u64,
    pub vlan: u64,
    pub vni: u64,
    pub observation_point: u64,
    pub first_ms: u64,
    pub last_ms: u64,
}

/// Everything decoded from a run's datagrams.
#[derive(Debug, Default)]
pub struct Decoded {
    pub flows: Vec<Flow>,
    /// Source id → host name from the options records.
    pub names: BTreeMap<u32, String>,
    /// Source id → header sequence numbers, in arrival order.
    pub sequences: BTreeMap<u32, Vec<u32>>,
    pub template_packets: usize,
}

fn number(v: &FieldValue) -> u64 {
    use netflow_parser::variable_versions::field_value::DurationValue;
    match v {
        FieldValue::DataNumber(d) => d.as_u64().unwrap_or(0),
        FieldValue::Duration(DurationValue::Millis { value, .. }) => *value,
        FieldValue::ProtocolType(p) => u64::from(u8::from(*p)),
        FieldValue::TcpControlBits(bits, _) => u64::from(u16::from(*bits)),
        FieldValue::Vec(bytes) => bytes.iter().fold(0, |a, &b| a << 8 | u64::from(b)),
        _ => 0,
    }
}

/// Decode datagrams from one exporter with `netflow_parser`, which must
/// accept every one of them without error or missing template.
pub fn decode(datagrams: &[Vec<u8>]) -> Decoded {
    let mut parser = NetflowParser::default();
    let mut out = Decoded::default();
    for dg in datagrams {
        let result = parser.parse_bytes(dg);
        assert!(result.error.is_none(), "decode error: {:?}", result.error);
        for packet in result.packets {
            let NetflowPacket::V9(v9) = packet else {
                panic!("not NetFlow v9: {packet:?}");
            };
            let sid = v9.header.source_id;
            out.sequences
                .entry(sid)
                .or_default()
                .push(v9.header.sequence_number);
            for set in &v9.flowsets {
                match &set.body {
                    FlowSetBody::Template(_) => out.template_packets += 1,
                    FlowSetBody::OptionsTemplate(_) => {}
                    FlowSetBody::OptionsData(d) => {
                        for rec in &d.fields {
                            let raw = match &rec.options_fields[0].1 {
                                FieldValue::Vec(raw) => raw.clone(),
                                FieldValue::String(s) => s.raw.clone(),
                                other => panic!("name: {other:?}"),
                            };
                            let name = String::from_utf8(raw).expect("utf-8");
                            out.names
                                .insert(sid, name.trim_end_matches('\0').to_owned());
                        }
                    }
                    FlowSetBody::Data(d) => {
                        for rec in &d.fields {
                            let mut f = Flow {
                                source_id: sid,
                                ..Flow::default()
                            };
                            for (k, v) in rec {
                                let ty: u16 = (*k).into();
                                match ty {
                                    field::IPV4_SRC_ADDR | field::IPV6_SRC_ADDR => {
                                        f.src = IpAddr::try_from(v).ok()
                                    }
                                    field::IPV4_DST_ADDR | field::IPV6_DST_ADDR => {
                                        f.dst = IpAddr::try_from(v).ok()
                                    }
                                    field::PROTOCOL => f.proto = number(v) as u8,
                                    field::L4_SRC_PORT => f.src_port = number(v) as u16,
                                    field::L4_DST_PORT => f.dst_port = number(v) as u16,
                                    field::IN_PKTS => f.packets = number(v),
                                    field::IN_BYTES => f.bytes = number(v),
                                    field::SRC_VLAN => f.vlan = number(v),
                                    field::LAYER2_SEGMENT_ID => f.vni = number(v),
                                    field::OBSERVATION_POINT_ID => f.observation_point = number(v),
                                    field::FLOW_START_MILLISECONDS => f.first_ms = number(v),
                                    field::FLOW_END_MILLISECONDS => f.last_ms = number(v),
                                    _ => {}
                                }
                            }
                            out.flows.push(f);
                        }
                    }
                    other => panic!("unexpected flowset {other:?}"),
                }
            }
        }
    }
    out
}

/// (src, dst, proto) → (packets, bytes), summed over records.
pub fn totals(flows: &[Flow]) -> BTreeMap<(IpAddr, IpAddr, u8), (u64, u64)> {
    let mut t = BTreeMap::new();
    for f in flows {
        let key = (
            f.src.expect("source address"),
            f.dst.expect("destination address"),
            f.proto,
        );
        let e = t.entry(key).or_insert((0, 0));
        e.0 += f.packets;
        e.1 += f.bytes;
    }
    t
}

/// Inner IP truth from tshark: (src, dst, proto) → (packets, bytes) using
/// the innermost IP header of every frame that has one and matches the
/// display `filter` ("" = all).
pub fn tshark_truth(pcap: &Path, filter: &str) -> BTreeMap<(IpAddr, IpAddr, u8), (u64, u64)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-Y", filter])
        .args([
            "-T",
            "fields",
            "-E",
            "occurrence=l",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "ip.proto",
            "-e",
            "ip.len",
        ])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "tshark failed");
    let mut t = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let [src, dst, proto, len] = cols[..] else {
            continue;
        };
        let (Ok(src), Ok(dst), Ok(proto), Ok(len)) = (
            src.parse::<IpAddr>(),
            dst.parse::<IpAddr>(),
            proto.parse::<u8>(),
            len.parse::<u64>(),
        ) else {
            continue;
        };
        let e = t.entry((src, dst, proto)).or_insert((0, 0));
        e.0 += 1;
        e.1 += len;
    }
    t
}

fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Write datagrams as a classic pcap of Ethernet/IPv4/UDP frames from
/// 127.0.0.1:50000 to 127.0.0.1:`port`.
pub fn write_udp_pcap(path: &Path, datagrams: &[Vec<u8>], port: u16) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65_535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    for (i, dg) in datagrams.iter().enumerate() {
        let mut frame = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00];
        let total = (20 + 8 + dg.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&(i as u16).to_be_bytes());
        ip.extend_from_slice(&[0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&50_000u16.to_be_bytes());
        frame.extend_from_slice(&port.to_be_bytes());
        frame.extend_from_slice(&((8 + dg.len()) as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(dg);
        f.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        f.extend_from_slice(&frame);
    }
    std::fs::write(path, f).expect("write pcap");
}

/// True when the tests run as root (live capture and namespaces need it;
/// the project's CI runs as root).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// A network namespace of the test's own (`ew-NAME-PID`), deleted with
/// everything in it when dropped, also when the test fails.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        let name = format!("ew-{name}-{}", std::process::id());
        // A leftover of an earlier, killed run.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let ns = Netns { name };
        run_ok(Command::new("ip").args(["netns", "add", &ns.name]));
        ns
    }

    /// `ip netns exec NAME PROGRAM`.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Run ARGV inside the namespace; it must succeed.
    pub fn run(&self, argv: &[&str]) {
        run_ok(self.command(argv[0]).args(&argv[1..]));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes still inside keep it alive: end them first.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Run a command; panic with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// nfcapd on a free loopback port, writing into `dir`.
pub struct Nfcapd {
    child: std::process::Child,
    pub port: u16,
    dir: PathBuf,
}

impl Nfcapd {
    pub fn start(dir: &Path) -> Nfcapd {
        Nfcapd::start_in(None, dir)
    }

    /// nfcapd inside a network namespace (on its loopback).
    pub fn start_in(ns: Option<&Netns>, dir: &Path) -> Nfcapd {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("free port")
            .port();
        std::fs::create_dir_all(dir).expect("nfcapd dir");
        let mut cmd = match ns {
            Some(ns) => ns.command("nfcapd"),
            None => Command::new("nfcapd"),
        };
        let child = cmd
            .arg("-w")
            .arg(dir)
            .args(["-b", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nfcapd (scripts/install-deps test installs nfdump)");
        std::thread::sleep(Duration::from_millis(400));
        Nfcapd {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    /// Stop nfcapd (it writes its file on SIGTERM) and read `nfdump -I`:
    /// (flows, packets, bytes).
    pub fn finish(self) -> (u64, u64, u64) {
        nfdump_info(&self.stop())
    }

    /// Stop nfcapd (it writes its file on SIGTERM); its directory.
    pub fn stop(mut self) -> PathBuf {
        std::thread::sleep(Duration::from_millis(300));
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
        self.child.wait().expect("nfcapd exits");
        self.dir.clone()
    }
}

/// `nfdump -I` over an nfcapd directory: (flows, packets, bytes).
pub fn nfdump_info(dir: &Path) -> (u64, u64, u64) {
    let out = Command::new("nfdump")
        .arg("-R")
        .arg(dir)
        .arg("-I")
        .output()
        .expect("nfdump");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in nfdump -I:\n{text}"))
            .trim()
            .parse()
            .expect("a number")
    };
    (field("Flows"), field("Packets"), field("Bytes"))
}

/// nfdump's records over an nfcapd directory aggregated by 5-tuple
/// ("proto src dst sport dport") → (packets, bytes).
pub fn nfdump_by_tuple(dir: &Path) -> BTreeMap<String, (u64, u64)> {
    let out = Command::new("nfdump")
        .arg("-R")
        .arg(dir)
        .args(["-q", "-N", "-A", "proto,srcip,dstip,srcport,dstport"])
        .args(["-o", "fmt:%pr|%sa|%da|%sp|%dp|%pkt|%byt"])
        .output()
        .expect("nfdump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut t = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let [pr, sa, da, sp, dp, pkt, byt] = cols[..] else {
            continue;
        };
        let num = |s: &str| -> u64 { s.parse().unwrap_or_else(|_| panic!("number in {line:?}")) };
        let e = t
            .entry(format!("{pr} {sa} {da} {sp} {dp}"))
            .or_insert((0, 0));
        e.0 += num(pkt);
        e.1 += num(byt);
    }
    t
}

impl Drop for Nfcapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every frame of a capture file: (capture time ns, bytes).
pub fn frames(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut r = Reader::new(std::fs::File::open(path).expect("open")).expect("capture");
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().expect("record") {
        out.push((rec.timestamp_ns, rec.data));
    }
    out
}

/// The frames tshark's display filter selects in `path` (1-based frame
/// numbers mapped to our reading of the same file).
pub fn tshark_frames(path: &Path, filter: &str) -> Vec<(u64, Vec<u8>)> {
    let all = frames(path);
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().expect("utf-8 path"),
            "-Y",
            filter,
            "-T",
            "fields",
            "-e",
            "frame.number",
        ])
        .output()
        .expect("tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|n| all[n.trim().parse::<usize>().expect("frame number") - 1].clone())
        .collect()
}
