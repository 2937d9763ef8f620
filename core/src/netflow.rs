//! The NetFlow v9 (RFC 3954) templates eastwest exporters send.
//!
//! Choices, written down once here and used by the exporter's encoder, the
//! collector's decoder and the tests:
//!
//! * One observation domain (header Source ID) per attributed hypervisor
//!   host; each has its own header sequence number (count of export packets).
//! * Template [`TEMPLATE_V4`] (256) for IPv4 flows and [`TEMPLATE_V6`] (257)
//!   for IPv6 flows, with the fields of [`FIELDS_V4`] / [`FIELDS_V6`] in that
//!   order and with exactly those lengths.
//! * Standard v9 field numbers where v9 has them; IANA IPFIX numbers where it
//!   has none: flowStartMilliseconds / flowEndMilliseconds (152/153, absolute
//!   epoch milliseconds, so a replayed capture keeps its own time),
//!   layer2SegmentId (351, the VXLAN/Geneve VNI, or the 32-bit GRE key of
//!   GRE-TEB / NVGRE: VSID = upper 24 bits) and observationPointId (138,
//!   reduced to 4 bytes) carrying the capture path: `encap code << 16 |
//!   ERSPAN session id`, with the codes of [`crate::flow::Encap::code`].
//! * FIRST_SWITCHED / LAST_SWITCHED (22/21) are relative to the header's
//!   sysUptime as RFC 3954 says; the exporter's "boot" is the time of the
//!   first packet it metered, so both time fields agree.
//! * An options template [`TEMPLATE_OPTIONS`] (258), scope System (type 1,
//!   4 bytes, = Source ID), carrying observationDomainName (300) as a fixed
//!   [`DOMAIN_NAME_LEN`]-byte, NUL-padded UTF-8 string: the host's name,
//!   then [`field::DATASET_NAME`] (40500, vendor range) as a fixed
//!   [`DATASET_NAME_LEN`]-byte, NUL-padded UTF-8 string: the replay's
//!   dataset (`--dataset NAME`), all NULs for live capture, then
//!   [`field::EVIDENCE_URL`] (40501) as a fixed [`EVIDENCE_URL_LEN`]-byte,
//!   NUL-padded UTF-8 string: the URL of the exporter's evidence server
//!   (its packet store's `GET /packets`), all NULs when it serves none. A
//!   collector that does not know fields 40500 and 40501 skips them by
//!   their length.

pub mod encode;

/// Template id of IPv4 flow records.
pub const TEMPLATE_V4: u16 = 256;
/// Template id of IPv6 flow records.
pub const TEMPLATE_V6: u16 = 257;
/// Template id of the options record naming the observation domain.
pub const TEMPLATE_OPTIONS: u16 = 258;
/// Width of the observationDomainName field in the options record.
pub const DOMAIN_NAME_LEN: u16 = 32;
/// Width of the dataset name field in the options record.
pub const DATASET_NAME_LEN: u16 = 32;
/// Width of the evidence URL field in the options record.
pub const EVIDENCE_URL_LEN: u16 = 128;

/// Field type numbers used in the templates.
pub mod field {
    pub const IN_BYTES: u16 = 1;
    pub const IN_PKTS: u16 = 2;
    pub const PROTOCOL: u16 = 4;
    pub const SRC_TOS: u16 = 5;
    pub const TCP_FLAGS: u16 = 6;
    pub const L4_SRC_PORT: u16 = 7;
    pub const IPV4_SRC_ADDR: u16 = 8;
    pub const L4_DST_PORT: u16 = 11;
    pub const IPV4_DST_ADDR: u16 = 12;
    pub const LAST_SWITCHED: u16 = 21;
    pub const FIRST_SWITCHED: u16 = 22;
    pub const IPV6_SRC_ADDR: u16 = 27;
    pub const IPV6_DST_ADDR: u16 = 28;
    pub const ICMP_TYPE: u16 = 32;
    pub const IN_SRC_MAC: u16 = 56;
    pub const SRC_VLAN: u16 = 58;
    pub const IN_DST_MAC: u16 = 80;
    pub const OBSERVATION_POINT_ID: u16 = 138;
    pub const FLOW_START_MILLISECONDS: u16 = 152;
    pub const FLOW_END_MILLISECONDS: u16 = 153;
    pub const OBSERVATION_DOMAIN_NAME: u16 = 300;
    pub const LAYER2_SEGMENT_ID: u16 = 351;
    /// eastwest's own (vendor range, above 32767): the dataset a replayed
    /// capture belongs to; empty for live capture.
    pub const DATASET_NAME: u16 = 40500;
    /// eastwest's own: the base URL of the exporter's evidence server
    /// (`GET /packets` below it); empty when it serves no packets.
    pub const EVIDENCE_URL: u16 = 40501;
    /// Options scope type "System" (RFC 3954 §6.1).
    pub const SCOPE_SYSTEM: u16 = 1;
}

/// (field type, length in bytes), in record order, for IPv4 flows.
pub const FIELDS_V4: &[(u16, u16)] = &[
    (field::IPV4_SRC_ADDR, 4),
    (field::IPV4_DST_ADDR, 4),
    (field::L4_SRC_PORT, 2),
    (field::L4_DST_PORT, 2),
    (field::PROTOCOL, 1),
    (field::SRC_TOS, 1),
    (field::TCP_FLAGS, 1),
    (field::ICMP_TYPE, 2),
    (field::IN_BYTES, 8),
    (field::IN_PKTS, 8),
    (field::FIRST_SWITCHED, 4),
    (field::LAST_SWITCHED, 4),
    (field::FLOW_START_MILLISECONDS, 8),
    (field::FLOW_END_MILLISECONDS, 8),
    (field::IN_SRC_MAC, 6),
    (field::IN_DST_MAC, 6),
    (field::SRC_VLAN, 2),
    (field::LAYER2_SEGMENT_ID, 8),
    (field::OBSERVATION_POINT_ID, 4),
];

/// (field type, length in bytes), in record order, for IPv6 flows.
pub const FIELDS_V6: &[(u16, u16)] = &[
    (field::IPV6_SRC_ADDR, 16),
    (field::IPV6_DST_ADDR, 16),
    (field::L4_SRC_PORT, 2),
    (field::L4_DST_PORT, 2),
    (field::PROTOCOL, 1),
    (field::SRC_TOS, 1),
    (field::TCP_FLAGS, 1),
    (field::ICMP_TYPE, 2),
    (field::IN_BYTES, 8),
    (field::IN_PKTS, 8),
    (field::FIRST_SWITCHED, 4),
    (field::LAST_SWITCHED, 4),
    (field::FLOW_START_MILLISECONDS, 8),
    (field::FLOW_END_MILLISECONDS, 8),
    (field::IN_SRC_MAC, 6),
    (field::IN_DST_MAC, 6),
    (field::SRC_VLAN, 2),
    (field::LAYER2_SEGMENT_ID, 8),
    (field::OBSERVATION_POINT_ID, 4),
];

/// Options template scope fields: (type, length).
pub const OPTION_SCOPES: &[(u16, u16)] = &[(field::SCOPE_SYSTEM, 4)];
/// Options template option fields: (type, length).
pub const OPTION_FIELDS: &[(u16, u16)] = &[
    (field::OBSERVATION_DOMAIN_NAME, DOMAIN_NAME_LEN),
    (field::DATASET_NAME, DATASET_NAME_LEN),
    (field::EVIDENCE_URL, EVIDENCE_URL_LEN),
];

/// Length in bytes of one data record described by `fields`.
pub fn record_len(fields: &[(u16, u16)]) -> usize {
    fields.iter().map(|&(_, len)| usize::from(len)).sum()
}

/// Pack the capture path into the observationPointId value.
pub fn observation_point(encap: crate::flow::Encap, session: u16) -> u32 {
    u32::from(encap.code()) << 16 | u32::from(session)
}

/// Unpack an observationPointId value into (encap, ERSPAN session id).
pub fn split_observation_point(value: u32) -> (Option<crate::flow::Encap>, u16) {
    let code = u8::try_from(value >> 16).ok();
    (
        code.and_then(crate::flow::Encap::from_code),
        (value & 0xffff) as u16,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Encap;

    #[test]
    fn record_lengths() {
        assert_eq!(record_len(FIELDS_V4), 83);
        assert_eq!(record_len(FIELDS_V6), 107);
    }

    #[test]
    fn observation_point_round_trip() {
        for encap in Encap::ALL {
            let v = observation_point(encap, 0xbeef);
            assert_eq!(split_observation_point(v), (Some(encap), 0xbeef));
        }
        assert_eq!(split_observation_point(0x00ff_0001), (None, 1));
    }
}
