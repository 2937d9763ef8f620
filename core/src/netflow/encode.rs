//! Flow records into NetFlow v9 export packets (RFC 3954), exactly as
//! [`crate::netflow`] documents: the exporter's `encode` stage, and the
//! collector's load generator (`eastwest-loadgen`), so both send the same
//! datagrams.
//!
//! * One observation domain (header Source ID) per attributed host, each with
//!   its own sequence number: the count of export packets sent for that
//!   domain before this one (the first packet has 0).
//! * Templates 256 (IPv4) and 257 (IPv6), the options template 258 and the
//!   options record naming the domain's host are sent in a domain's first
//!   packet and again once [`EncodeConfig::template_refresh_packets`] packets
//!   or [`EncodeConfig::template_refresh_secs`] seconds have passed since
//!   they were last sent, whichever comes first. The options record also
//!   carries the replay's dataset ([`EncodeConfig::dataset`], empty = live).
//! * Records are packed so that no datagram payload exceeds
//!   [`EncodeConfig::mtu`] bytes; flowsets are padded to 4 bytes.
//! * Header `unix_secs` is the export's `now`; `sysUptime`, FIRST_SWITCHED
//!   and LAST_SWITCHED count milliseconds from the exporter's "boot", the
//!   time of the first packet it metered (see [`Encoder::set_boot`]).
//! * The header count is the number of records of every kind in the packet
//!   (template, options template, options data and data records).

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use crate::flow::FlowRecord;
use crate::netflow::{
    self, field, DATASET_NAME_LEN, DOMAIN_NAME_LEN, EVIDENCE_URL_LEN, FIELDS_V4, FIELDS_V6,
    OPTION_FIELDS, OPTION_SCOPES, TEMPLATE_OPTIONS, TEMPLATE_V4, TEMPLATE_V6,
};
use serde::{Deserialize, Serialize};

/// NetFlow v9 header length.
pub const HEADER_LEN: usize = 20;
/// FlowSet id of a template FlowSet.
const TEMPLATE_FLOWSET_ID: u16 = 0;
/// FlowSet id of an options template FlowSet.
const OPTIONS_TEMPLATE_FLOWSET_ID: u16 = 1;

/// Encoder settings (`[encode]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncodeConfig {
    /// Largest UDP payload of one export packet, in bytes.
    pub mtu: usize,
    /// Re-send the templates after this many export packets of a domain.
    pub template_refresh_packets: u32,
    /// Re-send the templates after this many seconds.
    pub template_refresh_secs: u64,
    /// Dataset of a replay, sent in every options record so the collector
    /// keeps an investigation's flows apart from live data; "" = live.
    /// At most 32 bytes of UTF-8, no NUL.
    pub dataset: String,
}

impl Default for EncodeConfig {
    fn default() -> Self {
        EncodeConfig {
            mtu: 1400,
            template_refresh_packets: 20,
            template_refresh_secs: 30,
            dataset: String::new(),
        }
    }
}

/// Why an encoder could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error(
        "mtu {mtu} is too small: one packet with templates and one IPv6 record needs {min} bytes"
    )]
    MtuTooSmall { mtu: usize, min: usize },
    #[error("template_refresh_packets must be at least 1")]
    ZeroRefreshPackets,
    #[error("dataset {name:?} is {len} bytes long; at most {max} bytes of UTF-8 fit")]
    DatasetTooLong { name: String, len: usize, max: u16 },
    #[error("dataset {name:?} contains a NUL character")]
    DatasetNul { name: String },
    #[error("evidence URL {url:?} is {len} bytes long; at most {max} bytes fit")]
    EvidenceUrlTooLong { url: String, len: usize, max: u16 },
    #[error("evidence URL {url:?} must start with http:// or https:// and contain no NUL")]
    EvidenceUrlInvalid { url: String },
}

/// One export packet, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Source ID (observation domain) in its header.
    pub domain: u32,
    /// Data records (flows) it carries.
    pub records: usize,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Domain {
    name: String,
    sequence: u32,
    packets_since_templates: u32,
    templates_sent_ms: Option<u64>,
}

/// The NetFlow v9 encoder; keeps per-domain sequence and template state.
#[derive(Debug)]
pub struct Encoder {
    config: EncodeConfig,
    /// The evidence server's URL announced in the options record; "" = none.
    evidence_url: String,
    boot_ms: Option<u64>,
    domains: BTreeMap<u32, Domain>,
}

/// The state of `domain`, created on first use.
fn domain_state(domains: &mut BTreeMap<u32, Domain>, domain: u32) -> &mut Domain {
    domains.entry(domain).or_insert_with(|| Domain {
        name: format!("domain-{domain}"),
        sequence: 0,
        packets_since_templates: 0,
        templates_sent_ms: None,
    })
}

fn padded(len: usize) -> usize {
    len.div_ceil(4) * 4
}

fn template_flowset_len() -> usize {
    4 + [FIELDS_V4, FIELDS_V6]
        .iter()
        .map(|f| 4 + 4 * f.len())
        .sum::<usize>()
}

fn options_template_flowset_len() -> usize {
    padded(4 + 6 + 4 * (OPTION_SCOPES.len() + OPTION_FIELDS.len()))
}

fn options_data_flowset_len() -> usize {
    padded(4 + netflow::record_len(OPTION_SCOPES) + netflow::record_len(OPTION_FIELDS))
}

/// Bytes the templates and options record take in a packet.
fn templates_len() -> usize {
    template_flowset_len() + options_template_flowset_len() + options_data_flowset_len()
}

/// Smallest usable mtu.
pub fn min_mtu() -> usize {
    HEADER_LEN + templates_len() + padded(4 + netflow::record_len(FIELDS_V6))
}

impl Encoder {
    pub fn new(config: &EncodeConfig) -> Result<Self, EncodeError> {
        if config.mtu < min_mtu() {
            return Err(EncodeError::MtuTooSmall {
                mtu: config.mtu,
                min: min_mtu(),
            });
        }
        if config.template_refresh_packets == 0 {
            return Err(EncodeError::ZeroRefreshPackets);
        }
        if config.dataset.len() > usize::from(DATASET_NAME_LEN) {
            return Err(EncodeError::DatasetTooLong {
                name: config.dataset.clone(),
                len: config.dataset.len(),
                max: DATASET_NAME_LEN,
            });
        }
        if config.dataset.contains('\0') {
            return Err(EncodeError::DatasetNul {
                name: config.dataset.clone(),
            });
        }
        Ok(Encoder {
            config: config.clone(),
            evidence_url: String::new(),
            boot_ms: None,
            domains: BTreeMap::new(),
        })
    }

    /// Set the exporter's boot time (the first metered packet); later calls
    /// are ignored.
    pub fn set_boot(&mut self, boot_ms: u64) {
        self.boot_ms.get_or_insert(boot_ms);
    }

    /// Announce the evidence server's base URL in every options record
    /// from now on ("" = none). The next export packet of every domain
    /// carries the templates and options again.
    pub fn set_evidence_url(&mut self, url: &str) -> Result<(), EncodeError> {
        check_evidence_url(url)?;
        self.evidence_url = url.to_owned();
        for domain in self.domains.values_mut() {
            domain.templates_sent_ms = None;
        }
        Ok(())
    }

    /// Name the host of a domain (sent as observationDomainName). A domain
    /// that was never named is called `domain-N`.
    pub fn name_domain(&mut self, domain: u32, name: &str) {
        self.domain(domain).name = name.to_owned();
    }

    fn domain(&mut self, domain: u32) -> &mut Domain {
        domain_state(&mut self.domains, domain)
    }

    /// Encode `records` exported at `now_ms` into datagrams appended to
    /// `out`, grouped by domain (ascending), IPv4 records before IPv6.
    pub fn encode(&mut self, records: &[FlowRecord], now_ms: u64, out: &mut Vec<Datagram>) {
        let boot_ms = *self.boot_ms.get_or_insert(now_ms);
        let mut by_domain: BTreeMap<u32, (Vec<&FlowRecord>, Vec<&FlowRecord>)> = BTreeMap::new();
        for rec in records {
            let lists = by_domain.entry(rec.key.domain).or_default();
            match rec.key.src {
                IpAddr::V4(_) => lists.0.push(rec),
                IpAddr::V6(_) => lists.1.push(rec),
            }
        }
        for (domain, (v4, v6)) in by_domain {
            let mut queue: VecDeque<Batch> = VecDeque::new();
            for (tid, fields, recs) in [
                (TEMPLATE_V4, FIELDS_V4, v4.as_slice()),
                (TEMPLATE_V6, FIELDS_V6, v6.as_slice()),
            ] {
                if !recs.is_empty() {
                    queue.push_back((tid, fields, recs));
                }
            }
            while !queue.is_empty() {
                let started = self.start_packet(domain, now_ms, boot_ms);
                let mut bytes = started.bytes;
                let mut records = 0;
                while let Some(&(tid, fields, recs)) = queue.front() {
                    let room = self.config.mtu.saturating_sub(bytes.len());
                    // The padded flowset (4-byte header + n records) must fit.
                    let n = ((room / 4 * 4).saturating_sub(4) / netflow::record_len(fields))
                        .min(recs.len());
                    if n == 0 {
                        break;
                    }
                    put_data_flowset(&mut bytes, tid, fields, &recs[..n], boot_ms);
                    records += n;
                    if n == recs.len() {
                        queue.pop_front();
                    } else {
                        queue[0].2 = &recs[n..];
                        break;
                    }
                }
                let bytes = self.finish_packet(bytes, domain, started.templates + records);
                out.push(Datagram {
                    domain,
                    records,
                    bytes,
                });
            }
        }
    }

    /// A packet with its header (count 0 for now) and, if due, templates.
    fn start_packet(&mut self, domain: u32, now_ms: u64, boot_ms: u64) -> Started {
        let refresh_packets = self.config.template_refresh_packets;
        let refresh_ms = self.config.template_refresh_secs.saturating_mul(1_000);
        let state = domain_state(&mut self.domains, domain);
        let due = match state.templates_sent_ms {
            None => true,
            Some(sent) => {
                state.packets_since_templates >= refresh_packets
                    || now_ms.saturating_sub(sent) >= refresh_ms
            }
        };
        let mut bytes = Vec::with_capacity(1500);
        bytes.extend_from_slice(&9u16.to_be_bytes());
        bytes.extend_from_slice(&0u16.to_be_bytes());
        bytes.extend_from_slice(&(now_ms.wrapping_sub(boot_ms) as u32).to_be_bytes());
        bytes.extend_from_slice(&((now_ms / 1_000) as u32).to_be_bytes());
        bytes.extend_from_slice(&state.sequence.to_be_bytes());
        bytes.extend_from_slice(&domain.to_be_bytes());
        let mut templates = 0;
        if due {
            put_templates(
                &mut bytes,
                domain,
                &state.name,
                &self.config.dataset,
                &self.evidence_url,
            );
            state.templates_sent_ms = Some(now_ms);
            state.packets_since_templates = 0;
            templates = 4;
        }
        Started { bytes, templates }
    }

    fn finish_packet(&mut self, mut bytes: Vec<u8>, domain: u32, count: usize) -> Vec<u8> {
        let count = u16::try_from(count).unwrap_or(u16::MAX);
        bytes[2..4].copy_from_slice(&count.to_be_bytes());
        let state = self.domain(domain);
        state.sequence = state.sequence.wrapping_add(1);
        state.packets_since_templates = state.packets_since_templates.saturating_add(1);
        bytes
    }
}

/// Records of one template waiting to be packed.
type Batch<'a> = (u16, &'static [(u16, u16)], &'a [&'a FlowRecord]);

struct Started {
    bytes: Vec<u8>,
    templates: usize,
}

fn put_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_be_bytes());
}

/// Template flowset (256, 257), options template flowset (258) and the
/// options data record naming the host, the dataset and the evidence URL.
fn put_templates(buf: &mut Vec<u8>, domain: u32, name: &str, dataset: &str, evidence_url: &str) {
    put_u16(buf, TEMPLATE_FLOWSET_ID);
    put_u16(buf, template_flowset_len() as u16);
    for (tid, fields) in [(TEMPLATE_V4, FIELDS_V4), (TEMPLATE_V6, FIELDS_V6)] {
        put_u16(buf, tid);
        put_u16(buf, fields.len() as u16);
        for &(ty, len) in fields {
            put_u16(buf, ty);
            put_u16(buf, len);
        }
    }

    let start = buf.len();
    put_u16(buf, OPTIONS_TEMPLATE_FLOWSET_ID);
    put_u16(buf, options_template_flowset_len() as u16);
    put_u16(buf, TEMPLATE_OPTIONS);
    put_u16(buf, (4 * OPTION_SCOPES.len()) as u16);
    put_u16(buf, (4 * OPTION_FIELDS.len()) as u16);
    for &(ty, len) in OPTION_SCOPES.iter().chain(OPTION_FIELDS) {
        put_u16(buf, ty);
        put_u16(buf, len);
    }
    buf.resize(start + options_template_flowset_len(), 0);

    let start = buf.len();
    put_u16(buf, TEMPLATE_OPTIONS);
    put_u16(buf, options_data_flowset_len() as u16);
    buf.extend_from_slice(&domain.to_be_bytes());
    put_text(buf, name, DOMAIN_NAME_LEN);
    // Checked to fit by `Encoder::new`.
    put_text(buf, dataset, DATASET_NAME_LEN);
    // Checked to fit by `Encoder::set_evidence_url`.
    put_text(buf, evidence_url, EVIDENCE_URL_LEN);
    buf.resize(start + options_data_flowset_len(), 0);
}

/// Whether `url` can be announced as the evidence URL: "" (none), or an
/// `http://` / `https://` URL of at most [`EVIDENCE_URL_LEN`] bytes.
pub fn check_evidence_url(url: &str) -> Result<(), EncodeError> {
    if url.len() > usize::from(EVIDENCE_URL_LEN) {
        return Err(EncodeError::EvidenceUrlTooLong {
            url: url.to_owned(),
            len: url.len(),
            max: EVIDENCE_URL_LEN,
        });
    }
    let scheme = url.starts_with("http://") || url.starts_with("https://");
    if !url.is_empty() && (!scheme || url.contains('\0')) {
        return Err(EncodeError::EvidenceUrlInvalid {
            url: url.to_owned(),
        });
    }
    Ok(())
}

/// `text` as a fixed `len`-byte NUL-padded field (cut on a character
/// boundary when longer).
fn put_text(buf: &mut Vec<u8>, text: &str, len: u16) {
    let start = buf.len();
    buf.extend_from_slice(truncate_utf8(text, usize::from(len)).as_bytes());
    buf.resize(start + usize::from(len), 0);
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn put_data_flowset(
    buf: &mut Vec<u8>,
    tid: u16,
    fields: &[(u16, u16)],
    recs: &[&FlowRecord],
    boot_ms: u64,
) {
    let start = buf.len();
    let len = padded(4 + recs.len() * netflow::record_len(fields));
    buf.reserve(len);
    put_u16(buf, tid);
    put_u16(buf, len as u16);
    for rec in recs {
        for &(ty, flen) in fields {
            put_field(buf, ty, flen, rec, boot_ms);
        }
    }
    buf.resize(start + len, 0);
}

/// Write `value`'s `len` low-order bytes, big-endian. The lengths the
/// templates use are copies of a known size (no `memcpy` call per field).
#[inline]
fn put_uint(buf: &mut Vec<u8>, value: u64, len: u16) {
    match len {
        1 => return buf.push(value as u8),
        2 => return buf.extend_from_slice(&(value as u16).to_be_bytes()),
        4 => return buf.extend_from_slice(&(value as u32).to_be_bytes()),
        8 => return buf.extend_from_slice(&value.to_be_bytes()),
        _ => {}
    }
    let bytes = value.to_be_bytes();
    let len = usize::from(len);
    if len <= bytes.len() {
        buf.extend_from_slice(&bytes[bytes.len() - len..]);
    } else {
        buf.resize(buf.len() + len - bytes.len(), 0);
        buf.extend_from_slice(&bytes);
    }
}

/// Write exactly `len` bytes: `bytes` cut or zero-padded.
#[inline]
fn put_bytes<const N: usize>(buf: &mut Vec<u8>, bytes: &[u8; N], len: u16) {
    let len = usize::from(len);
    if len == N {
        // The templates' case: a copy of a known size.
        return buf.extend_from_slice(bytes);
    }
    let n = bytes.len().min(len);
    buf.extend_from_slice(&bytes[..n]);
    buf.resize(buf.len() + len - n, 0);
}

fn put_addr(buf: &mut Vec<u8>, addr: IpAddr, len: u16) {
    match addr {
        IpAddr::V4(a) => put_bytes(buf, &a.octets(), len),
        IpAddr::V6(a) => put_bytes(buf, &a.octets(), len),
    }
}

/// Milliseconds since boot as a 32-bit uptime (0 for times before boot).
fn uptime(ms: u64, boot_ms: u64) -> u64 {
    u64::from(ms.saturating_sub(boot_ms) as u32)
}

fn put_field(buf: &mut Vec<u8>, ty: u16, len: u16, rec: &FlowRecord, boot_ms: u64) {
    let k = &rec.key;
    let value = match ty {
        field::IPV4_SRC_ADDR | field::IPV6_SRC_ADDR => return put_addr(buf, k.src, len),
        field::IPV4_DST_ADDR | field::IPV6_DST_ADDR => return put_addr(buf, k.dst, len),
        field::IN_SRC_MAC => return put_bytes(buf, &rec.src_mac, len),
        field::IN_DST_MAC => return put_bytes(buf, &rec.dst_mac, len),
        field::L4_SRC_PORT => u64::from(k.src_port),
        field::L4_DST_PORT => u64::from(k.dst_port),
        field::PROTOCOL => u64::from(k.proto),
        field::SRC_TOS => u64::from(rec.tos),
        field::TCP_FLAGS => u64::from(rec.tcp_flags),
        field::ICMP_TYPE => u64::from(rec.icmp_type_code),
        field::IN_BYTES => rec.bytes,
        field::IN_PKTS => rec.packets,
        field::FIRST_SWITCHED => uptime(rec.first_ms, boot_ms),
        field::LAST_SWITCHED => uptime(rec.last_ms, boot_ms),
        field::FLOW_START_MILLISECONDS => rec.first_ms,
        field::FLOW_END_MILLISECONDS => rec.last_ms,
        field::SRC_VLAN => u64::from(k.vlan),
        field::LAYER2_SEGMENT_ID => u64::from(k.vni),
        field::OBSERVATION_POINT_ID => u64::from(netflow::observation_point(k.encap, k.session)),
        // The templates are constants covered by the tests below; a field
        // this encoder does not know would be sent as zeros.
        _ => 0,
    };
    put_uint(buf, value, len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Encap, FlowKey};
    use netflow_parser::variable_versions::v9::{FlowSetBody, ScopeDataField};
    use netflow_parser::{DataNumber, FieldValue, NetflowPacket, NetflowParser, V9Field};
    use std::net::{Ipv4Addr, Ipv6Addr};

    const BOOT: u64 = 1_700_000_000_000;

    fn record(src: IpAddr, dst: IpAddr, domain: u32, n: u64) -> FlowRecord {
        FlowRecord {
            key: FlowKey {
                src,
                dst,
                src_port: 40_000 + n as u16,
                dst_port: 443,
                proto: 6,
                vlan: 101,
                vni: 10_101,
                domain,
                encap: Encap::ErspanIII,
                session: 3,
            },
            packets: 10 + n,
            bytes: 5_000_000_000 + n,
            first_ms: BOOT + 1_000 + n,
            last_ms: BOOT + 9_000 + n,
            tcp_flags: 0x1b,
            tos: 0xb8,
            src_mac: [0x00, 0x50, 0x56, 0x00, 0x01, 0x11],
            dst_mac: [0x00, 0x50, 0x56, 0x00, 0x02, 0x11],
            icmp_type_code: 0x0800,
        }
    }

    fn v4(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 10, 1, n))
    }

    fn v6(n: u16) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0x10, 1, 0, 0, 0, 0, n))
    }

    fn encoder() -> Encoder {
        let mut enc = Encoder::new(&EncodeConfig::default()).expect("default config is valid");
        enc.set_boot(BOOT);
        enc
    }

    fn be16(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    #[test]
    fn evidence_urls_are_checked_and_announced_at_once() {
        let mut enc = Encoder::new(&EncodeConfig::default()).expect("valid config");
        assert!(matches!(
            enc.set_evidence_url("ftp://x"),
            Err(EncodeError::EvidenceUrlInvalid { .. })
        ));
        assert!(matches!(
            enc.set_evidence_url(&format!("http://{}", "a".repeat(128))),
            Err(EncodeError::EvidenceUrlTooLong { .. })
        ));
        assert!(enc.set_evidence_url("http://a\0b").is_err());
        enc.set_boot(BOOT);
        let mut out = Vec::new();
        enc.encode(&[record(v4(11), v4(12), 3, 0)], BOOT + 1, &mut out);
        enc.encode(&[record(v4(11), v4(12), 3, 0)], BOOT + 2, &mut out);
        assert_eq!(be16(&out[1].bytes, 2), 1, "templates not due yet");
        enc.set_evidence_url("https://esx-03:9181")
            .expect("valid url");
        enc.encode(&[record(v4(11), v4(12), 3, 0)], BOOT + 3, &mut out);
        assert_eq!(be16(&out[2].bytes, 2), 5, "a new URL is sent at once");
        let b = &out[2].bytes;
        let d = HEADER_LEN + 164 + 28 + 4 + 4 + 64;
        assert_eq!(&b[d..d + 19], b"https://esx-03:9181");
    }

    #[test]
    fn lengths_of_the_fixed_parts() {
        assert_eq!(template_flowset_len(), 164);
        assert_eq!(options_template_flowset_len(), 28);
        assert_eq!(options_data_flowset_len(), 200);
        assert_eq!(netflow::record_len(FIELDS_V4), 83);
        assert_eq!(netflow::record_len(FIELDS_V6), 107);
        assert_eq!(min_mtu(), 20 + 392 + 112);
    }

    #[test]
    fn bytes_of_a_packet_with_templates() {
        let mut enc = Encoder::new(&EncodeConfig {
            dataset: "case-4711".into(),
            ..EncodeConfig::default()
        })
        .expect("valid config");
        enc.set_boot(BOOT);
        enc.name_domain(3, "esx-03");
        enc.set_evidence_url("http://esx-03:9181")
            .expect("valid url");
        let rec = record(v4(11), v4(12), 3, 0);
        let mut out = Vec::new();
        enc.encode(&[rec], BOOT + 10_000, &mut out);
        assert_eq!(out.len(), 1);
        let b = &out[0].bytes;
        // Header.
        assert_eq!(be16(b, 0), 9);
        assert_eq!(
            be16(b, 2),
            5,
            "2 templates + options template + options record + 1 flow"
        );
        assert_eq!(be32(b, 4), 10_000, "sysUptime");
        assert_eq!(be32(b, 8), ((BOOT + 10_000) / 1000) as u32);
        assert_eq!(be32(b, 12), 0, "first sequence number");
        assert_eq!(be32(b, 16), 3, "source id");
        // Template flowset.
        assert_eq!((be16(b, 20), be16(b, 22)), (0, 164));
        assert_eq!((be16(b, 24), be16(b, 26)), (256, 19));
        for (i, &(ty, len)) in FIELDS_V4.iter().enumerate() {
            assert_eq!((be16(b, 28 + 4 * i), be16(b, 30 + 4 * i)), (ty, len));
        }
        let t6 = 24 + 4 + 4 * 19;
        assert_eq!((be16(b, t6), be16(b, t6 + 2)), (257, 19));
        assert_eq!(be16(b, t6 + 4), field::IPV6_SRC_ADDR);
        // Options template flowset.
        let o = 20 + 164;
        assert_eq!(
            &b[o..o + 28],
            &[
                0, 1, 0, 28, 1, 2, 0, 4, 0, 12, 0, 1, 0, 4, 1, 44, 0, 32, 0x9e, 0x34, 0, 32, 0x9e,
                0x35, 0, 128, 0, 0
            ]
        );
        // Options data: scope = source id, the NUL-padded name, the
        // NUL-padded dataset, the NUL-padded evidence URL.
        let d = o + 28;
        assert_eq!((be16(b, d), be16(b, d + 2)), (258, 200));
        assert_eq!(be32(b, d + 4), 3);
        assert_eq!(&b[d + 8..d + 14], b"esx-03");
        assert!(b[d + 14..d + 40].iter().all(|&x| x == 0));
        assert_eq!(&b[d + 40..d + 49], b"case-4711");
        assert!(b[d + 49..d + 72].iter().all(|&x| x == 0));
        assert_eq!(&b[d + 72..d + 90], b"http://esx-03:9181");
        assert!(b[d + 90..d + 200].iter().all(|&x| x == 0));
        // Data flowset: 4 + 83 + 1 pad.
        let f = d + 200;
        assert_eq!((be16(b, f), be16(b, f + 2)), (256, 88));
        assert_eq!(b.len(), f + 88);
        let r = &b[f + 4..];
        assert_eq!(&r[0..4], &[10, 10, 1, 11]);
        assert_eq!(&r[4..8], &[10, 10, 1, 12]);
        assert_eq!((be16(r, 8), be16(r, 10)), (40_000, 443));
        assert_eq!((r[12], r[13], r[14]), (6, 0xb8, 0x1b));
        assert_eq!(be16(r, 15), 0x0800);
        assert_eq!(&r[17..25], &5_000_000_000u64.to_be_bytes());
        assert_eq!(&r[25..33], &10u64.to_be_bytes());
        assert_eq!((be32(r, 33), be32(r, 37)), (1_000, 9_000));
        assert_eq!(&r[41..49], &(BOOT + 1_000).to_be_bytes());
        assert_eq!(&r[49..57], &(BOOT + 9_000).to_be_bytes());
        assert_eq!(&r[57..63], &rec.src_mac);
        assert_eq!(&r[63..69], &rec.dst_mac);
        assert_eq!(be16(r, 69), 101);
        assert_eq!(&r[71..79], &10_101u64.to_be_bytes());
        assert_eq!(be32(r, 79), 3 << 16 | 3, "ERSPAN III, session 3");
        assert_eq!(r[83], 0, "padding");
    }

    #[test]
    fn packs_up_to_the_mtu_and_numbers_packets_per_domain() {
        let mut enc = encoder();
        let recs: Vec<FlowRecord> = (0..40)
            .map(|n| record(v4(n as u8), v4(1), 1, n))
            .chain((0..10).map(|n| record(v6(n as u16), v6(1), 2, n)))
            .collect();
        let mut out = Vec::new();
        enc.encode(&recs, BOOT + 1, &mut out);
        assert!(out.iter().all(|d| d.bytes.len() <= 1400));
        let d1: Vec<&Datagram> = out.iter().filter(|d| d.domain == 1).collect();
        let d2: Vec<&Datagram> = out.iter().filter(|d| d.domain == 2).collect();
        assert_eq!(d1.iter().map(|d| d.records).sum::<usize>(), 40);
        assert_eq!(d2.iter().map(|d| d.records).sum::<usize>(), 10);
        // First packet: (1400 - 20 - 392 - 4) / 83 => 11 records; then 16.
        assert_eq!(
            d1.iter().map(|d| d.records).collect::<Vec<_>>(),
            vec![11, 16, 13]
        );
        for (i, d) in d1.iter().enumerate() {
            assert_eq!(be32(&d.bytes, 12), i as u32);
            assert_eq!(be32(&d.bytes, 16), 1);
        }
        assert_eq!(be32(&d2[0].bytes, 12), 0, "domain 2 counts on its own");
    }

    #[test]
    fn templates_are_refreshed_by_packets_and_by_time() {
        let mut enc = Encoder::new(&EncodeConfig {
            template_refresh_packets: 3,
            template_refresh_secs: 30,
            ..EncodeConfig::default()
        })
        .expect("valid");
        enc.set_boot(BOOT);
        let rec = record(v4(1), v4(2), 1, 0);
        let mut with_templates = Vec::new();
        for i in 0..7u64 {
            let mut out = Vec::new();
            enc.encode(&[rec], BOOT + i, &mut out);
            with_templates.push(be16(&out[0].bytes, 20) == 0);
        }
        assert_eq!(
            with_templates,
            vec![true, false, false, true, false, false, true]
        );
        let mut out = Vec::new();
        enc.encode(&[rec], BOOT + 6 + 29_999, &mut out);
        assert_ne!(be16(&out[0].bytes, 20), 0, "29.999 s: not yet");
        enc.encode(&[rec], BOOT + 6 + 30_000, &mut out);
        assert_eq!(be16(&out[1].bytes, 20), 0, "30 s after the last templates");
    }

    #[test]
    fn bad_configs_are_rejected() {
        let small = EncodeConfig {
            mtu: min_mtu() - 1,
            ..EncodeConfig::default()
        };
        assert!(matches!(
            Encoder::new(&small),
            Err(EncodeError::MtuTooSmall { .. })
        ));
        let tight = EncodeConfig {
            mtu: min_mtu(),
            ..EncodeConfig::default()
        };
        let mut enc = Encoder::new(&tight).expect("minimum mtu is usable");
        let mut out = Vec::new();
        enc.encode(&[record(v6(1), v6(2), 1, 0)], BOOT, &mut out);
        assert_eq!(out[0].records, 1);
        assert!(out[0].bytes.len() <= min_mtu());
        let zero = EncodeConfig {
            template_refresh_packets: 0,
            ..EncodeConfig::default()
        };
        assert_eq!(
            Encoder::new(&zero).err(),
            Some(EncodeError::ZeroRefreshPackets)
        );
    }

    #[test]
    fn long_host_names_are_cut_on_a_character_boundary() {
        assert_eq!(truncate_utf8("esx-01", 32), "esx-01");
        let long = "é".repeat(20); // 40 bytes
        assert_eq!(truncate_utf8(&long, 32).len(), 32);
        assert_eq!(truncate_utf8(&"é".repeat(20), 31).len(), 30);
    }

    fn number(v: &FieldValue) -> u64 {
        match v {
            FieldValue::DataNumber(d) => match d {
                DataNumber::Vec(bytes) => bytes.iter().fold(0, |a, &b| a << 8 | u64::from(b)),
                other => other.as_u64().expect("unsigned"),
            },
            FieldValue::Duration(
                netflow_parser::variable_versions::field_value::DurationValue::Millis {
                    value, ..
                },
            ) => *value,
            FieldValue::ProtocolType(p) => u64::from(u8::from(*p)),
            FieldValue::TcpControlBits(bits, _) => u64::from(u16::from(*bits)),
            FieldValue::Vec(bytes) => bytes.iter().fold(0, |a, &b| a << 8 | u64::from(b)),
            other => panic!("not a number: {other:?}"),
        }
    }

    fn addr(v: &FieldValue) -> IpAddr {
        match v {
            FieldValue::Ip4Addr(a) => IpAddr::V4(*a),
            FieldValue::Ip6Addr(a) => IpAddr::V6(*a),
            other => panic!("not an address: {other:?}"),
        }
    }

    fn mac(v: &FieldValue) -> [u8; 6] {
        match v {
            FieldValue::MacAddr(m) => *m,
            other => panic!("not a MAC: {other:?}"),
        }
    }

    /// Check every field of a decoded record against the record encoded.
    fn check_record(decoded: &[(V9Field, FieldValue)], rec: &FlowRecord) {
        assert_eq!(decoded.len(), 19);
        for (f, v) in decoded {
            let ty: u16 = (*f).into();
            match ty {
                field::IPV4_SRC_ADDR | field::IPV6_SRC_ADDR => assert_eq!(addr(v), rec.key.src),
                field::IPV4_DST_ADDR | field::IPV6_DST_ADDR => assert_eq!(addr(v), rec.key.dst),
                field::IN_SRC_MAC => assert_eq!(mac(v), rec.src_mac),
                field::IN_DST_MAC => assert_eq!(mac(v), rec.dst_mac),
                _ => {
                    let want = match ty {
                        field::L4_SRC_PORT => u64::from(rec.key.src_port),
                        field::L4_DST_PORT => u64::from(rec.key.dst_port),
                        field::PROTOCOL => u64::from(rec.key.proto),
                        field::SRC_TOS => u64::from(rec.tos),
                        field::TCP_FLAGS => u64::from(rec.tcp_flags),
                        field::ICMP_TYPE => u64::from(rec.icmp_type_code),
                        field::IN_BYTES => rec.bytes,
                        field::IN_PKTS => rec.packets,
                        field::FIRST_SWITCHED => rec.first_ms - BOOT,
                        field::LAST_SWITCHED => rec.last_ms - BOOT,
                        field::FLOW_START_MILLISECONDS => rec.first_ms,
                        field::FLOW_END_MILLISECONDS => rec.last_ms,
                        field::SRC_VLAN => u64::from(rec.key.vlan),
                        field::LAYER2_SEGMENT_ID => u64::from(rec.key.vni),
                        field::OBSERVATION_POINT_ID => {
                            u64::from(netflow::observation_point(rec.key.encap, rec.key.session))
                        }
                        other => panic!("unexpected field {other}"),
                    };
                    assert_eq!(number(v), want, "field {ty} ({f:?})");
                }
            }
        }
    }

    #[test]
    fn netflow_parser_reads_back_every_field_templates_and_options() {
        let mut enc = encoder();
        enc.name_domain(4, "esx-04");
        let recs = vec![
            record(v4(11), v4(12), 4, 0),
            record(v6(11), v6(3), 4, 1),
            record(v4(13), v4(14), 4, 2),
        ];
        let mut out = Vec::new();
        enc.encode(&recs, BOOT + 20_000, &mut out);
        assert_eq!(out.len(), 1);
        let result = NetflowParser::default().parse_bytes(&out[0].bytes);
        assert!(result.error.is_none(), "{:?}", result.error);
        let [NetflowPacket::V9(v9)] = result.packets.as_slice() else {
            panic!("one v9 packet expected: {:?}", result.packets);
        };
        assert_eq!(v9.header.count, 4 + 3);
        assert_eq!(v9.header.source_id, 4);
        assert_eq!(v9.header.sys_up_time, 20_000);
        let mut templates = Vec::new();
        let mut names = Vec::new();
        let mut data = Vec::new();
        for set in &v9.flowsets {
            match &set.body {
                FlowSetBody::Template(t) => {
                    for t in &t.templates {
                        let fields: Vec<(u16, u16)> = t
                            .fields
                            .iter()
                            .map(|f| (f.field_type_number, f.field_length))
                            .collect();
                        templates.push((t.template_id, fields));
                    }
                }
                FlowSetBody::OptionsTemplate(t) => {
                    let t = &t.templates[0];
                    assert_eq!(t.template_id, TEMPLATE_OPTIONS);
                    assert_eq!(t.scope_fields[0].field_type_number, 1);
                    assert_eq!(t.option_fields[0].field_type_number, 300);
                    assert_eq!(t.option_fields[0].field_length, 32);
                    assert_eq!(t.option_fields[1].field_type_number, 40500);
                    assert_eq!(t.option_fields[1].field_length, 32);
                    assert_eq!(t.option_fields[2].field_type_number, 40501);
                    assert_eq!(t.option_fields[2].field_length, 128);
                }
                FlowSetBody::OptionsData(d) => {
                    for rec in &d.fields {
                        assert_eq!(
                            rec.scope_fields,
                            vec![ScopeDataField::System(vec![0, 0, 0, 4])]
                        );
                        for (_, v) in &rec.options_fields {
                            let raw = match v {
                                FieldValue::Vec(raw) => raw.clone(),
                                FieldValue::String(s) => s.raw.clone(),
                                other => panic!("text field: {other:?}"),
                            };
                            let text = String::from_utf8(raw).expect("utf-8");
                            names.push(text.trim_end_matches('\0').to_owned());
                        }
                    }
                }
                FlowSetBody::Data(d) => data.extend(d.fields.iter().cloned()),
                other => panic!("unexpected flowset {other:?}"),
            }
        }
        assert_eq!(
            templates,
            vec![(256, FIELDS_V4.to_vec()), (257, FIELDS_V6.to_vec())]
        );
        assert_eq!(
            names,
            vec!["esx-04", "", ""],
            "name, then dataset (empty: live), then evidence URL (none)"
        );
        // IPv4 records first, then IPv6.
        assert_eq!(data.len(), 3);
        check_record(&data[0], &recs[0]);
        check_record(&data[1], &recs[2]);
        check_record(&data[2], &recs[1]);
    }
}
