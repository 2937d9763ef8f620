//! Load generator: NetFlow v9 from several simulated eastwest exporters at a
//! fixed rate, for benchmarking a collector (ours or nfcapd) over loopback.
//!
//! Each simulated exporter has its own UDP socket (so its own source port,
//! hence its own template scope at the collector), its own observation
//! domain (`1..=exporters`, named `loadgen-N`) and the exporter's real
//! encoder ([`eastwest_core::netflow::encode::Encoder`]), so the datagrams are
//! exactly what `eastwest-exporter` sends: templates and the options record
//! every `template_refresh_packets` packets, then full data packets.
//!
//! To keep the generator's own CPU out of the measurement, each exporter
//! encodes a cycle of [`CYCLE_PACKETS`] packets once, and sending replays
//! the cycle with the header sequence number rewritten, so sequence numbers
//! keep counting and the collector sees no gaps. Flows repeat from cycle to
//! cycle; their counters are known, so `sent` can be compared with what was
//! stored.
//!
//! Pacing: every millisecond the sender catches up to `rate × elapsed`
//! flows, round-robin over the exporters.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use eastwest_core::flow::{Encap, FlowKey, FlowRecord};
use eastwest_core::netflow::encode::{EncodeConfig, EncodeError, Encoder};

/// Export packets encoded per exporter and replayed in a loop (a multiple of
/// the default template refresh of 20, so templates stay periodic).
pub const CYCLE_PACKETS: usize = 200;

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadConfig {
    /// The collector's UDP address.
    pub target: SocketAddr,
    /// Simulated exporters (sockets, observation domains).
    pub exporters: u32,
    /// Flow records per second, all exporters together.
    pub rate: u64,
    /// Stop after this many flow records (rounded up to whole packets) ...
    pub flows: Option<u64>,
    /// ... or after this long.
    pub duration: Duration,
    /// Largest export packet, as the exporter's `encode.mtu`.
    pub mtu: usize,
    /// Dataset named in the options record ("" = live).
    pub dataset: String,
    /// Flow start times of the generated records, epoch milliseconds.
    pub start_ms: u64,
}

/// What was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadReport {
    pub datagrams: u64,
    pub flows: u64,
    /// Sums of the records' packet and byte counters.
    pub packets: u64,
    pub bytes: u64,
    /// Send errors (e.g. ECONNREFUSED from an ICMP port unreachable).
    pub send_errors: u64,
    pub elapsed: Duration,
}

impl LoadReport {
    /// Achieved flow records per second.
    pub fn flows_per_sec(&self) -> f64 {
        self.flows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Why the generator could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("encode: {0}")]
    Encode(#[from] EncodeError),
    #[error("cannot open a UDP socket toward {target}: {source}")]
    Socket {
        target: SocketAddr,
        source: std::io::Error,
    },
    #[error("--exporters and --rate must be at least 1")]
    Zero,
}

/// One simulated exporter: its socket and its encoded cycle.
#[derive(Debug)]
struct Exporter {
    socket: UdpSocket,
    /// (packet bytes, records, packets sum, bytes sum).
    cycle: Vec<(Vec<u8>, u64, u64, u64)>,
    next: usize,
    sequence: u32,
}

/// The flow records of domain `domain`: VM-to-VM TCP and UDP flows with
/// varied addresses and ports and known counters.
fn records(domain: u32, count: usize, start_ms: u64) -> Vec<FlowRecord> {
    (0..count)
        .map(|i| {
            let i32 = u32::try_from(i).unwrap_or(u32::MAX);
            let host = u8::try_from(domain % 250).unwrap_or(0);
            let src = Ipv4Addr::new(10, host, (i32 / 250 % 250) as u8, (i32 % 250) as u8 + 1);
            let dst = Ipv4Addr::new(10, 200, (i32 % 7) as u8, (i32 % 23) as u8 + 1);
            let packets = 1 + u64::from(i32 % 10);
            FlowRecord {
                key: FlowKey {
                    src: IpAddr::V4(src),
                    dst: IpAddr::V4(dst),
                    src_port: 32_768 + (i32 % 28_000) as u16,
                    dst_port: [443, 5432, 8443, 53][i % 4],
                    proto: if i % 4 == 3 { 17 } else { 6 },
                    vlan: 100 + (i32 % 4) as u16,
                    vni: 0,
                    domain,
                    encap: Encap::Span,
                    session: 0,
                },
                packets,
                bytes: packets * 120,
                first_ms: start_ms + u64::from(i32 % 1000),
                last_ms: start_ms + 1000 + u64::from(i32 % 1000),
                tcp_flags: if i % 4 == 3 { 0 } else { 0x1b },
                tos: 0,
                src_mac: [0x00, 0x50, 0x56, 0x00, host, 0x01],
                dst_mac: [0x00, 0x50, 0x56, 0x00, 200, 0x01],
                icmp_type_code: 0,
            }
        })
        .collect()
}

impl Exporter {
    fn new(domain: u32, config: &LoadConfig) -> Result<Exporter, LoadError> {
        let encode = EncodeConfig {
            mtu: config.mtu,
            dataset: config.dataset.clone(),
            ..EncodeConfig::default()
        };
        let mut encoder = Encoder::new(&encode)?;
        encoder.set_boot(config.start_ms);
        encoder.name_domain(domain, &format!("loadgen-{domain}"));
        // Encode in export-sized batches until the cycle is long enough.
        let mut datagrams = Vec::new();
        let mut offset = 0;
        while datagrams.len() < CYCLE_PACKETS {
            let batch = records(domain, 64, config.start_ms);
            let batch: Vec<FlowRecord> = batch
                .into_iter()
                .map(|mut r| {
                    r.key.src_port = r.key.src_port.wrapping_add(offset);
                    r
                })
                .collect();
            offset = offset.wrapping_add(64);
            encoder.encode(&batch, config.start_ms + 2000, &mut datagrams);
        }
        datagrams.truncate(CYCLE_PACKETS);
        let cycle = datagrams
            .into_iter()
            .map(|d| {
                let (packets, bytes) = counters(&d.bytes);
                (d.bytes, d.records as u64, packets, bytes)
            })
            .collect();
        let bind: SocketAddr = match config.target.ip() {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(bind).map_err(|source| LoadError::Socket {
            target: config.target,
            source,
        })?;
        Ok(Exporter {
            socket,
            cycle,
            next: 0,
            sequence: 0,
        })
    }

    /// Send the next packet of the cycle; returns (records, packets, bytes)
    /// or `None` when the send failed.
    fn send(&mut self, target: SocketAddr) -> Option<(u64, u64, u64)> {
        let (bytes, records, packets, octets) = &mut self.cycle[self.next];
        bytes[12..16].copy_from_slice(&self.sequence.to_be_bytes());
        let sent = self.socket.send_to(bytes, target).is_ok();
        let out = (*records, *packets, *octets);
        self.next = (self.next + 1) % self.cycle.len();
        self.sequence = self.sequence.wrapping_add(1);
        sent.then_some(out)
    }
}

/// Sum of IN_PKTS and IN_BYTES over the data flowsets of template 256 in an
/// encoded export packet, read back from the wire so what `sent` reports is
/// what the datagrams carry.
fn counters(packet: &[u8]) -> (u64, u64) {
    use eastwest_core::netflow::{field, record_len, FIELDS_V4, TEMPLATE_V4};
    let offset_of = |kind: u16| {
        let mut at = 0;
        for &(k, len) in FIELDS_V4 {
            if k == kind {
                return (at, usize::from(len));
            }
            at += usize::from(len);
        }
        (0, 0)
    };
    let (pkts_at, pkts_len) = offset_of(field::IN_PKTS);
    let (bytes_at, bytes_len) = offset_of(field::IN_BYTES);
    let be = |raw: &[u8]| raw.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    let rec_len = record_len(FIELDS_V4);
    let (mut packets, mut bytes) = (0, 0);
    let mut at = 20;
    while let Some(head) = packet.get(at..at + 4) {
        let id = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if len < 4 {
            break;
        }
        if id == TEMPLATE_V4 {
            let body = packet.get(at + 4..at + len).unwrap_or(&[]);
            for record in body.chunks_exact(rec_len) {
                packets += be(&record[pkts_at..pkts_at + pkts_len]);
                bytes += be(&record[bytes_at..bytes_at + bytes_len]);
            }
        }
        at += len;
    }
    (packets, bytes)
}

/// Send at `config.rate` until `config.flows` or `config.duration`.
pub fn run(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    if config.exporters == 0 || config.rate == 0 {
        return Err(LoadError::Zero);
    }
    let mut exporters = (1..=config.exporters)
        .map(|domain| Exporter::new(domain, config))
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = LoadReport::default();
    let began = Instant::now();
    let mut turn = 0;
    loop {
        let elapsed = began.elapsed();
        let done_by_count = config.flows.is_some_and(|n| report.flows >= n);
        if done_by_count || (config.flows.is_none() && elapsed >= config.duration) {
            break;
        }
        let due = u128::from(config.rate) * elapsed.as_micros() / 1_000_000;
        let due = u64::try_from(due).unwrap_or(u64::MAX);
        let due = config.flows.map_or(due, |n| due.min(n));
        if report.flows >= due {
            std::thread::sleep(Duration::from_micros(500));
            continue;
        }
        while report.flows < due {
            let count = exporters.len();
            let exporter = &mut exporters[turn];
            turn = (turn + 1) % count;
            report.datagrams += 1;
            match exporter.send(config.target) {
                Some((records, packets, bytes)) => {
                    report.flows += records;
                    report.packets += packets;
                    report.bytes += bytes;
                }
                None => report.send_errors += 1,
            }
        }
    }
    report.elapsed = began.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_back_from_the_records() {
        let config = LoadConfig {
            target: "127.0.0.1:9".parse().unwrap(),
            exporters: 1,
            rate: 1,
            flows: None,
            duration: Duration::ZERO,
            mtu: 1400,
            dataset: String::new(),
            start_ms: 1_780_000_000_000,
        };
        let exporter = Exporter::new(1, &config).unwrap();
        assert_eq!(exporter.cycle.len(), CYCLE_PACKETS);
        let flows: u64 = exporter.cycle.iter().map(|c| c.1).sum();
        let packets: u64 = exporter.cycle.iter().map(|c| c.2).sum();
        let bytes: u64 = exporter.cycle.iter().map(|c| c.3).sum();
        // packets = 1 + i % 10 per record, bytes = 120 per packet.
        assert!(flows > CYCLE_PACKETS as u64 * 10, "{flows}");
        assert!(packets > flows && packets < flows * 10);
        assert_eq!(bytes, packets * 120);
    }
}
