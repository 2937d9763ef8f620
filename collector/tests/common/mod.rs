//! Hand-built NetFlow v9 export packets (RFC 3954) for the collector's
//! tests and bench: templates, options templates and data records laid out
//! byte by byte, so the decoder is checked against the wire format rather
//! than against itself.

#![allow(dead_code)]

use std::net::Ipv4Addr;

use eastwest_core::netflow::field;

/// One IPv4 flow, the values a record carries.
#[derive(Debug, Clone)]
pub struct Flow {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub packets: u64,
    pub bytes: u64,
    pub start_ms: u64,
    pub end_ms: u64,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub vlan: u16,
    pub vni: u32,
    pub observation_point: u32,
}

/// The bytes of field `kind`, `len` long, big-endian, for `flow`; uptime
/// fields relative to `boot_ms`.
pub fn value(flow: &Flow, kind: u16, len: u16, boot_ms: u64) -> Vec<u8> {
    let n = |v: u64| v.to_be_bytes()[8 - usize::from(len)..].to_vec();
    match kind {
        field::IPV4_SRC_ADDR => flow.src.octets().to_vec(),
        field::IPV4_DST_ADDR => flow.dst.octets().to_vec(),
        field::L4_SRC_PORT => n(u64::from(flow.src_port)),
        field::L4_DST_PORT => n(u64::from(flow.dst_port)),
        field::PROTOCOL => n(u64::from(flow.proto)),
        field::IN_BYTES => n(flow.bytes),
        field::IN_PKTS => n(flow.packets),
        field::FIRST_SWITCHED => n(flow.start_ms - boot_ms),
        field::LAST_SWITCHED => n(flow.end_ms - boot_ms),
        field::FLOW_START_MILLISECONDS => n(flow.start_ms),
        field::FLOW_END_MILLISECONDS => n(flow.end_ms),
        field::IN_SRC_MAC => flow.src_mac.to_vec(),
        field::IN_DST_MAC => flow.dst_mac.to_vec(),
        field::SRC_VLAN => n(u64::from(flow.vlan)),
        field::LAYER2_SEGMENT_ID => n(u64::from(flow.vni)),
        field::OBSERVATION_POINT_ID => n(u64::from(flow.observation_point)),
        _ => vec![0; usize::from(len)],
    }
}

/// A data record of `flow` laid out by `fields`.
pub fn record(flow: &Flow, fields: &[(u16, u16)], boot_ms: u64) -> Vec<u8> {
    fields
        .iter()
        .flat_map(|&(kind, len)| value(flow, kind, len, boot_ms))
        .collect()
}

fn flowset(id: u16, body: &[u8]) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    let padded = (body.len() + 4).div_ceil(4) * 4;
    out.extend_from_slice(&(padded as u16).to_be_bytes());
    out.extend_from_slice(body);
    out.resize(padded, 0);
    out
}

/// A template flowset (id 0) with one template.
pub fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    body.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for &(kind, len) in fields {
        body.extend_from_slice(&kind.to_be_bytes());
        body.extend_from_slice(&len.to_be_bytes());
    }
    flowset(0, &body)
}

/// An options template flowset (id 1).
pub fn options_template(id: u16, scopes: &[(u16, u16)], fields: &[(u16, u16)]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    body.extend_from_slice(&((scopes.len() * 4) as u16).to_be_bytes());
    body.extend_from_slice(&((fields.len() * 4) as u16).to_be_bytes());
    for &(kind, len) in scopes.iter().chain(fields) {
        body.extend_from_slice(&kind.to_be_bytes());
        body.extend_from_slice(&len.to_be_bytes());
    }
    flowset(1, &body)
}

/// A data flowset of already laid-out records.
pub fn data(template_id: u16, records: &[Vec<u8>]) -> Vec<u8> {
    flowset(template_id, &records.concat())
}

/// The options record of `eastwest_core::netflow`: scope System = source
/// id, observationDomainName = `name` NUL-padded, dataset empty.
pub fn domain_name_record(source_id: u32, name: &str) -> Vec<u8> {
    let mut out = source_id.to_be_bytes().to_vec();
    let mut text = name.as_bytes().to_vec();
    text.resize(usize::from(eastwest_core::netflow::DOMAIN_NAME_LEN), 0);
    out.extend_from_slice(&text);
    // The dataset field (and any later option field): empty, i.e. live.
    out.resize(
        4 + eastwest_core::netflow::record_len(eastwest_core::netflow::OPTION_FIELDS),
        0,
    );
    out
}

/// The options record of `eastwest_core::netflow` naming the host and the
/// replay's dataset (`OPTION_FIELDS`), no evidence URL.
pub fn dataset_record(source_id: u32, name: &str, dataset: &str) -> Vec<u8> {
    evidence_record(source_id, name, dataset, "")
}

/// The options record of `eastwest_core::netflow` naming the host, the
/// replay's dataset and the evidence server's URL (`OPTION_FIELDS`).
pub fn evidence_record(source_id: u32, name: &str, dataset: &str, url: &str) -> Vec<u8> {
    use eastwest_core::netflow::{DATASET_NAME_LEN, DOMAIN_NAME_LEN, EVIDENCE_URL_LEN};
    let mut out = source_id.to_be_bytes().to_vec();
    for (text, len) in [
        (name, DOMAIN_NAME_LEN),
        (dataset, DATASET_NAME_LEN),
        (url, EVIDENCE_URL_LEN),
    ] {
        let mut text = text.as_bytes().to_vec();
        text.resize(usize::from(len), 0);
        out.extend_from_slice(&text);
    }
    out
}

/// A complete export packet: header then flowsets. `count` is the number
/// of records (templates and data) as RFC 3954 defines it.
pub fn packet(
    source_id: u32,
    sequence: u32,
    uptime_ms: u32,
    unix_secs: u32,
    count: u16,
    flowsets: &[Vec<u8>],
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&9u16.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&uptime_ms.to_be_bytes());
    out.extend_from_slice(&unix_secs.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&source_id.to_be_bytes());
    for f in flowsets {
        out.extend_from_slice(f);
    }
    out
}

/// A sample flow numbered `i`.
pub fn sample_flow(i: u32, start_ms: u64) -> Flow {
    Flow {
        src: Ipv4Addr::new(10, 10, 1, 11),
        dst: Ipv4Addr::new(10, 10, 2, (i % 200) as u8 + 1),
        src_port: 40_000 + (i % 20_000) as u16,
        dst_port: 443,
        proto: 6,
        packets: u64::from(i) + 1,
        bytes: (u64::from(i) + 1) * 100,
        start_ms,
        end_ms: start_ms + 1500,
        src_mac: [0x00, 0x50, 0x56, 0x00, 0x01, 0x11],
        dst_mac: [0x00, 0x50, 0x56, 0x00, 0x02, 0x21],
        vlan: 101,
        vni: 10101,
        observation_point: 4 << 16,
    }
}

/// Flows per [`ten_flows`] export packet.
pub const FLOWS_PER_DATAGRAM: u32 = 10;
/// Start of the flows of [`ten_flows`] (2026-11-02T10:00:00Z).
pub const TEN_FLOWS_START_MS: u64 = 1_793_613_600_000;
/// The IPv4 layout of [`ten_flows`] (template 256).
pub const TEN_FLOWS_LAYOUT: &[(u16, u16)] = &[
    (field::IPV4_SRC_ADDR, 4),
    (field::IPV4_DST_ADDR, 4),
    (field::L4_SRC_PORT, 2),
    (field::L4_DST_PORT, 2),
    (field::PROTOCOL, 1),
    (field::IN_BYTES, 8),
    (field::IN_PKTS, 8),
    (field::FLOW_START_MILLISECONDS, 8),
    (field::FLOW_END_MILLISECONDS, 8),
];

/// Export packet `n` of source id 7: template 256 and
/// [`FLOWS_PER_DATAGRAM`] unique flows numbered from n * 10.
pub fn ten_flows(n: u32) -> Vec<u8> {
    let start = TEN_FLOWS_START_MS;
    let records: Vec<Vec<u8>> = (0..FLOWS_PER_DATAGRAM)
        .map(|i| {
            let flow = sample_flow(n * FLOWS_PER_DATAGRAM + i, start + u64::from(n));
            record(&flow, TEN_FLOWS_LAYOUT, start)
        })
        .collect();
    packet(
        7,
        n,
        1000,
        (start / 1000) as u32,
        (FLOWS_PER_DATAGRAM + 1) as u16,
        &[template(256, TEN_FLOWS_LAYOUT), data(256, &records)],
    )
}
