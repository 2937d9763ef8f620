//! Writes the synthetic capture `scripts/bench-exporter` times the exporter
//! (and softflowd) on: `--packets` frames over `--flows` flows, IPv4 and
//! IPv6 (`--v6-percent`), TCP and UDP, IMIX sizes (7 × 60, 4 × 590,
//! 1 × 1514 bytes per 12 frames), one frame per microsecond of capture time
//! so that every flow is still active at the end (the cache holds them
//! all). `--erspan` wraps every frame in IPv4 + GRE (sequence) + ERSPAN
//! type II, as a mirror session would send it; `--pcapng` writes pcapng
//! instead of classic pcap. Deterministic: the same
//! arguments write the same bytes.
//!
//! ```sh
//! cargo run --release -p eastwest-exporter --example bench_capture -- \
//!     --packets 1000000 --flows 50000 --out var/bench/plain.pcap
//! ```

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use eastwest_core::pcapfile::{NgWriter, Precision, Writer, LINKTYPE_ETHERNET};
use eastwest_core::wire::{ErspanIIPacket, ErspanIIRepr, GrePacket, GreProtocol, GreRepr};

#[derive(Debug, Parser)]
struct Args {
    /// Frames to write.
    #[arg(long, default_value_t = 1_000_000)]
    packets: u64,
    /// Distinct flows (5-tuples) the frames belong to.
    #[arg(long, default_value_t = 50_000)]
    flows: u32,
    /// Share of flows that are IPv6, percent.
    #[arg(long, default_value_t = 20)]
    v6_percent: u32,
    /// Wrap every frame in ERSPAN type II.
    #[arg(long)]
    erspan: bool,
    /// Output file (classic pcap, nanosecond timestamps).
    #[arg(long)]
    out: PathBuf,
    /// Write pcapng (one interface, nanosecond resolution) instead.
    #[arg(long)]
    pcapng: bool,
}

/// Classic pcap or pcapng.
enum Out {
    Pcap(Writer<BufWriter<File>>),
    Pcapng(NgWriter<BufWriter<File>>),
}

impl Out {
    fn write(&mut self, ts_ns: u64, data: &[u8]) -> std::io::Result<()> {
        match self {
            Out::Pcap(w) => w.write_record(ts_ns, data, data.len() as u32),
            Out::Pcapng(w) => w.write_packet(0, ts_ns, data, data.len() as u32),
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            Out::Pcap(w) => w.into_inner().map(drop),
            Out::Pcapng(w) => w.into_inner().map(drop),
        }
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Flow `i`'s 5-tuple, derived from its number.
struct Flow {
    v6: bool,
    tcp: bool,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
}

fn flow(i: u32, v6_percent: u32) -> Flow {
    let b = i.to_be_bytes();
    Flow {
        v6: i % 100 < v6_percent,
        tcp: !i.is_multiple_of(3),
        src: [10, b[1], b[2], b[3]],
        dst: [10, 200, b[3], b[2]],
        sport: 1024 + (i % 60_000) as u16,
        dport: [443, 80, 53, 5432, 8080][(i % 5) as usize],
    }
}

/// An Ethernet frame of `len` bytes (60, 590 or 1514; IPv6 frames grow
/// to fit their headers) for `f`.
fn frame(f: &Flow, len: usize, out: &mut Vec<u8>) {
    let (ip_len, l4_len) = (if f.v6 { 40 } else { 20 }, if f.tcp { 20 } else { 8 });
    let len = len.max(14 + ip_len + l4_len);
    let proto = if f.tcp { 6 } else { 17 };
    out.clear();
    out.extend_from_slice(&[0x00, 0x50, 0x56, 0, f.dst[2], f.dst[3]]);
    out.extend_from_slice(&[0x00, 0x50, 0x56, 0, f.src[2], f.src[3]]);
    if f.v6 {
        out.extend_from_slice(&0x86ddu16.to_be_bytes());
        out.extend_from_slice(&[0x60, 0, 0, 0]);
        out.extend_from_slice(&((len - 14 - 40) as u16).to_be_bytes());
        out.extend_from_slice(&[proto, 64]);
        for a in [f.src, f.dst] {
            out.extend_from_slice(&[0xfd, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&a);
        }
    } else {
        out.extend_from_slice(&0x0800u16.to_be_bytes());
        out.extend_from_slice(&[0x45, 0]);
        out.extend_from_slice(&((len - 14) as u16).to_be_bytes());
        out.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
        out.extend_from_slice(&f.src);
        out.extend_from_slice(&f.dst);
    }
    out.extend_from_slice(&f.sport.to_be_bytes());
    out.extend_from_slice(&f.dport.to_be_bytes());
    if f.tcp {
        out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        out.extend_from_slice(&((len - 14 - ip_len) as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
    }
    out.resize(len, 0);
}

/// `inner` wrapped in Ethernet + IPv4 + GRE (sequence `seq`) + ERSPAN II.
fn erspan(inner: &[u8], seq: u32, session: u16, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0x00, 0x1b, 0x21, 0, 0, 1, 0x00, 0x1b, 0x21, 0, 0, 2]);
    out.extend_from_slice(&0x0800u16.to_be_bytes());
    let gre = GreRepr {
        protocol: GreProtocol::Erspan,
        checksum_present: false,
        key: None,
        sequence: Some(seq),
    };
    let span = ErspanIIRepr {
        vlan: 0,
        cos: 0,
        encap: 0,
        truncated: false,
        session_id: session,
        index: 0,
    };
    let total = 20 + gre.buffer_len() + span.buffer_len() + inner.len();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(&[0, 1, 0x40, 0, 64, 47, 0, 0]);
    out.extend_from_slice(&[198, 18, 0, 2, 198, 18, 0, 100]);
    let at = out.len();
    out.resize(at + gre.buffer_len(), 0);
    gre.emit(&mut GrePacket::new_unchecked(&mut out[at..]));
    let at = out.len();
    out.resize(at + span.buffer_len(), 0);
    span.emit(&mut ErspanIIPacket::new_unchecked(&mut out[at..]));
    out.extend_from_slice(inner);
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.flows > 0, "--flows must be at least 1");
    let file = File::create(&args.out).with_context(|| format!("create {:?}", args.out))?;
    let file = BufWriter::with_capacity(1 << 20, file);
    let mut w = if args.pcapng {
        let mut w = NgWriter::new(file)?;
        w.add_interface(LINKTYPE_ETHERNET as u16, 65_535, 9)?;
        Out::Pcapng(w)
    } else {
        Out::Pcap(Writer::new(
            file,
            LINKTYPE_ETHERNET,
            65_535,
            Precision::Nano,
        )?)
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut inner, mut outer) = (Vec::with_capacity(2048), Vec::with_capacity(2048));
    let start_ns: u64 = 1_767_225_600_000_000_000; // 2026-01-01
    for n in 0..args.packets {
        // Every flow appears once in the first `flows` frames, then at random.
        let i = if n < u64::from(args.flows) {
            n as u32
        } else {
            (rng.next() % u64::from(args.flows)) as u32
        };
        let len = match rng.next() % 12 {
            0..=6 => 60,
            7..=10 => 590,
            _ => 1514,
        };
        frame(&flow(i, args.v6_percent), len, &mut inner);
        let data = if args.erspan {
            erspan(&inner, n as u32, 1 + (i % 4) as u16, &mut outer);
            &outer
        } else {
            &inner
        };
        w.write(start_ns + n * 1_000, data)?;
    }
    w.finish()?;
    Ok(())
}
