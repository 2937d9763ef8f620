//! The field mapping: the wire bytes of a record's fields into
//! [`Fields`], and `Fields` into a row.

use eastwest_clickhouse::schema::row::Name;
use eastwest_clickhouse::schema::{date_of_ms, datetime_of_ms, reply_of, FlowRow};
use eastwest_core::netflow::{field, split_observation_point};
use eastwest_core::policy::VerdictKind;
use netflow_parser::FieldValue;

use super::Scope;

/// Field numbers the mapping reads (see the module docs).
pub(super) const MAPPED: &[u16] = &[
    field::IN_BYTES,
    field::IN_PKTS,
    field::PROTOCOL,
    field::SRC_TOS,
    field::TCP_FLAGS,
    field::L4_SRC_PORT,
    field::IPV4_SRC_ADDR,
    field::L4_DST_PORT,
    field::IPV4_DST_ADDR,
    field::LAST_SWITCHED,
    field::FIRST_SWITCHED,
    field::IPV6_SRC_ADDR,
    field::IPV6_DST_ADDR,
    field::ICMP_TYPE,
    SAMPLING_INTERVAL,
    field::IN_SRC_MAC,
    field::SRC_VLAN,
    field::IN_DST_MAC,
    field::OBSERVATION_POINT_ID,
    ICMP_TYPE_CODE_V6,
    FLOW_START_SECONDS,
    FLOW_END_SECONDS,
    field::FLOW_START_MILLISECONDS,
    field::FLOW_END_MILLISECONDS,
    SYSTEM_INIT_MS,
    ICMP_TYPE_V4,
    ICMP_CODE_V4,
    ICMP_TYPE_V6,
    ICMP_CODE_V6,
    DOT1Q_VLAN_ID,
    field::OBSERVATION_DOMAIN_NAME,
    SAMPLING_PACKET_INTERVAL,
    field::LAYER2_SEGMENT_ID,
    field::DATASET_NAME,
    field::EVIDENCE_URL,
];

pub(super) const SAMPLING_INTERVAL: u16 = 34;
pub(super) const ICMP_TYPE_CODE_V6: u16 = 139;
pub(super) const FLOW_START_SECONDS: u16 = 150;
pub(super) const FLOW_END_SECONDS: u16 = 151;
pub(super) const SYSTEM_INIT_MS: u16 = 160;
pub(super) const ICMP_TYPE_V4: u16 = 176;
pub(super) const ICMP_CODE_V4: u16 = 177;
pub(super) const ICMP_TYPE_V6: u16 = 178;
pub(super) const ICMP_CODE_V6: u16 = 179;
pub(super) const DOT1Q_VLAN_ID: u16 = 243;
pub(super) const SAMPLING_PACKET_INTERVAL: u16 = 305;

/// The wire bytes of a decoded value (numbers big-endian, strings raw).
pub(super) fn raw<'a>(value: &FieldValue, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    scratch.clear();
    if value.write_be_bytes(scratch).is_err() {
        scratch.clear();
    }
    scratch
}

/// Big-endian unsigned value of up to the last 8 bytes (the usual widths
/// read at once).
#[inline]
pub(super) fn be_uint(raw: &[u8]) -> u64 {
    match *raw {
        [a] => u64::from(a),
        [a, b] => u64::from(u16::from_be_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_be_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => {
            let tail = &raw[raw.len().saturating_sub(8)..];
            tail.iter().fold(0, |acc, &b| acc << 8 | u64::from(b))
        }
    }
}

#[inline]
pub(super) fn be_u32(raw: &[u8]) -> u32 {
    u32::try_from(be_uint(raw)).unwrap_or(u32::MAX)
}

/// An address as stored (IPv4 mapped into IPv6, see `addr_to_bytes`).
#[inline]
pub(super) fn addr(raw: &[u8]) -> Option<[u8; 16]> {
    match *raw {
        [a, b, c, d] => Some([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d]),
        _ => <[u8; 16]>::try_from(raw).ok(),
    }
}

/// Times of the export packet a record came in.
#[derive(Debug)]
pub(super) struct Clock {
    /// Export time, epoch milliseconds.
    pub(super) export_ms: u64,
    /// sysUptime at export (v9, v5).
    pub(super) uptime_ms: Option<u32>,
    /// systemInitTimeMilliseconds (IPFIX), epoch milliseconds.
    pub(super) sys_init_ms: Option<u64>,
}

impl Clock {
    /// Epoch milliseconds of a sysUptime-relative time.
    pub(super) fn at_uptime(&self, at: u32) -> Option<u64> {
        if let Some(uptime) = self.uptime_ms {
            let ago = u64::from(uptime.wrapping_sub(at));
            Some(self.export_ms.saturating_sub(ago))
        } else {
            self.sys_init_ms.map(|init| init + u64::from(at))
        }
    }
}

/// The mapped fields of one record.
#[derive(Debug, Default)]
pub(super) struct Fields {
    /// Addresses as stored.
    pub(super) src: Option<[u8; 16]>,
    pub(super) dst: Option<[u8; 16]>,
    pub(super) src_port: u16,
    pub(super) dst_port: u16,
    pub(super) proto: u8,
    pub(super) tos: u8,
    pub(super) tcp_flags: u8,
    pub(super) icmp: u16,
    pub(super) icmp_type: Option<u8>,
    pub(super) icmp_code: Option<u8>,
    pub(super) bytes: u64,
    pub(super) packets: u64,
    pub(super) first_uptime: Option<u32>,
    pub(super) last_uptime: Option<u32>,
    pub(super) start_s: Option<u64>,
    pub(super) end_s: Option<u64>,
    pub(super) start_ms: Option<u64>,
    pub(super) end_ms: Option<u64>,
    pub(super) sys_init_ms: Option<u64>,
    pub(super) src_mac: [u8; 6],
    pub(super) dst_mac: [u8; 6],
    pub(super) vlan: u16,
    pub(super) vni: u32,
    pub(super) observation_point: Option<u32>,
    pub(super) sampling: Option<u32>,
    pub(super) domain_name: Option<String>,
    pub(super) dataset: Option<String>,
    pub(super) evidence_url: Option<String>,
}

/// What a mapped field fills in [`Fields`]: resolved once per template
/// field (a v9 template's [`Plan`](super::templates::Plan)), so a record's
/// fields are dispatched on a dense enum, not on sparse field numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    Bytes,
    Packets,
    Proto,
    Tos,
    TcpFlags,
    SrcPort,
    DstPort,
    Src,
    Dst,
    Icmp,
    IcmpType,
    IcmpCode,
    FirstUptime,
    LastUptime,
    StartS,
    EndS,
    StartMs,
    EndMs,
    SysInitMs,
    SrcMac,
    DstMac,
    Vlan,
    Dot1qVlan,
    Vni,
    ObservationPoint,
    Sampling,
    DomainName,
    Dataset,
    EvidenceUrl,
}

impl Slot {
    /// The slot of field `number` (v9 and IANA IPFIX share them); `None`
    /// for a field the mapping does not read.
    pub(super) fn of(number: u16) -> Option<Slot> {
        Some(match number {
            field::IN_BYTES => Slot::Bytes,
            field::IN_PKTS => Slot::Packets,
            field::PROTOCOL => Slot::Proto,
            field::SRC_TOS => Slot::Tos,
            field::TCP_FLAGS => Slot::TcpFlags,
            field::L4_SRC_PORT => Slot::SrcPort,
            field::L4_DST_PORT => Slot::DstPort,
            field::IPV4_SRC_ADDR | field::IPV6_SRC_ADDR => Slot::Src,
            field::IPV4_DST_ADDR | field::IPV6_DST_ADDR => Slot::Dst,
            field::ICMP_TYPE | ICMP_TYPE_CODE_V6 => Slot::Icmp,
            ICMP_TYPE_V4 | ICMP_TYPE_V6 => Slot::IcmpType,
            ICMP_CODE_V4 | ICMP_CODE_V6 => Slot::IcmpCode,
            field::FIRST_SWITCHED => Slot::FirstUptime,
            field::LAST_SWITCHED => Slot::LastUptime,
            FLOW_START_SECONDS => Slot::StartS,
            FLOW_END_SECONDS => Slot::EndS,
            field::FLOW_START_MILLISECONDS => Slot::StartMs,
            field::FLOW_END_MILLISECONDS => Slot::EndMs,
            SYSTEM_INIT_MS => Slot::SysInitMs,
            field::IN_SRC_MAC => Slot::SrcMac,
            field::IN_DST_MAC => Slot::DstMac,
            field::SRC_VLAN => Slot::Vlan,
            DOT1Q_VLAN_ID => Slot::Dot1qVlan,
            field::LAYER2_SEGMENT_ID => Slot::Vni,
            field::OBSERVATION_POINT_ID => Slot::ObservationPoint,
            SAMPLING_INTERVAL | SAMPLING_PACKET_INTERVAL => Slot::Sampling,
            field::OBSERVATION_DOMAIN_NAME => Slot::DomainName,
            field::DATASET_NAME => Slot::Dataset,
            field::EVIDENCE_URL => Slot::EvidenceUrl,
            _ => return None,
        })
    }
}

impl Fields {
    /// Map field `number`'s wire bytes (ignored if not mapped).
    pub(super) fn set(&mut self, number: u16, raw: &[u8]) {
        if let Some(slot) = Slot::of(number) {
            self.put(slot, raw);
        }
    }

    /// Fill `slot` from its field's wire bytes (inlined into the fast
    /// path's loop over a record's fields: measured, the call cost more
    /// than the work).
    #[inline(always)]
    pub(super) fn put(&mut self, slot: Slot, raw: &[u8]) {
        let low = |bits: u64| be_uint(raw) & bits;
        match slot {
            Slot::Bytes => self.bytes = be_uint(raw),
            Slot::Packets => self.packets = be_uint(raw),
            Slot::Proto => self.proto = low(0xff) as u8,
            Slot::Tos => self.tos = low(0xff) as u8,
            Slot::TcpFlags => self.tcp_flags = low(0xff) as u8,
            Slot::SrcPort => self.src_port = low(0xffff) as u16,
            Slot::DstPort => self.dst_port = low(0xffff) as u16,
            Slot::Src => self.src = addr(raw),
            Slot::Dst => self.dst = addr(raw),
            Slot::Icmp => self.icmp = low(0xffff) as u16,
            Slot::IcmpType => self.icmp_type = Some(low(0xff) as u8),
            Slot::IcmpCode => self.icmp_code = Some(low(0xff) as u8),
            Slot::FirstUptime => self.first_uptime = Some(be_u32(raw)),
            Slot::LastUptime => self.last_uptime = Some(be_u32(raw)),
            Slot::StartS => self.start_s = Some(be_uint(raw)),
            Slot::EndS => self.end_s = Some(be_uint(raw)),
            Slot::StartMs => self.start_ms = Some(be_uint(raw)),
            Slot::EndMs => self.end_ms = Some(be_uint(raw)),
            Slot::SysInitMs => self.sys_init_ms = Some(be_uint(raw)),
            Slot::SrcMac => self.src_mac = mac(raw),
            Slot::DstMac => self.dst_mac = mac(raw),
            // VLAN 58 wins over dot1qVlanId 243 when both are present.
            Slot::Vlan => self.vlan = low(0x0fff) as u16,
            Slot::Dot1qVlan if self.vlan == 0 => self.vlan = low(0x0fff) as u16,
            Slot::Dot1qVlan => {}
            // A VXLAN/Geneve VNI (24 bits) or the exporter's whole GRE key
            // of GRE-TEB / NVGRE (32 bits, VSID = upper 24).
            Slot::Vni => self.vni = low(0xffff_ffff) as u32,
            Slot::ObservationPoint => self.observation_point = Some(be_u32(raw)),
            Slot::Sampling => self.sampling = Some(be_u32(raw)),
            Slot::DomainName => self.domain_name = Some(padded_string(raw)),
            Slot::Dataset => self.dataset = Some(padded_string(raw)),
            Slot::EvidenceUrl => self.evidence_url = Some(padded_string(raw)),
        }
    }

    /// Append the row of `scope` to `out` (built in place, not moved);
    /// false without addresses.
    #[inline]
    pub(super) fn push_row(
        &self,
        clock: &Clock,
        sampling: u32,
        scope: &Scope,
        out: &mut Vec<FlowRow>,
    ) -> bool {
        let (Some(src), Some(dst)) = (self.src, self.dst) else {
            return false;
        };
        let start_ms = self
            .start_ms
            .or(self.start_s.map(|s| s.saturating_mul(1000)))
            .or(self.first_uptime.and_then(|t| clock.at_uptime(t)))
            .unwrap_or(clock.export_ms);
        let end_ms = self
            .end_ms
            .or(self.end_s.map(|s| s.saturating_mul(1000)))
            .or(self.last_uptime.and_then(|t| clock.at_uptime(t)))
            .unwrap_or(start_ms);
        let icmp = match (self.icmp_type, self.icmp_code) {
            (None, None) => self.icmp,
            (t, c) => u16::from(t.unwrap_or(0)) << 8 | u16::from(c.unwrap_or(0)),
        };
        let (encap, session) = self
            .observation_point
            .map(split_observation_point)
            .unwrap_or((None, 0));
        let scale = u64::from(sampling.max(1));
        out.push(FlowRow {
            date: date_of_ms(start_ms),
            start: datetime_of_ms(start_ms),
            start_ms,
            end: datetime_of_ms(end_ms),
            end_ms,
            received: scope.received,
            dataset: scope.dataset.clone(),
            exporter: scope.exporter,
            source_id: scope.source_id,
            observer: scope.observer.clone(),
            encap,
            session,
            vlan: self.vlan,
            vni: self.vni,
            src_addr: src,
            dst_addr: dst,
            src_port: self.src_port,
            dst_port: self.dst_port,
            proto: self.proto,
            tos: self.tos,
            tcp_flags: self.tcp_flags,
            icmp,
            src_mac: self.src_mac,
            dst_mac: self.dst_mac,
            packets: self.packets.saturating_mul(scale),
            bytes: self.bytes.saturating_mul(scale),
            sampling: sampling.max(1),
            src_vm: Name::default(),
            dst_vm: Name::default(),
            src_host: Name::default(),
            dst_host: Name::default(),
            src_zone: Name::default(),
            dst_zone: Name::default(),
            same_host: 0,
            reply: reply_of(self.proto, self.src_port, self.dst_port, icmp),
            verdict: VerdictKind::Unknown,
            rule: Name::default(),
            severity: None,
            policy_revision: Name::default(),
        });
        true
    }
}

/// A NUL-padded UTF-8 string field, trimmed (invalid bytes replaced).
pub(super) fn padded_string(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).trim().to_string()
}

pub(super) fn mac(raw: &[u8]) -> [u8; 6] {
    <[u8; 6]>::try_from(raw).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use eastwest_clickhouse::schema::addr_to_bytes;

    #[test]
    fn numbers_and_addresses_of_every_width() {
        for (raw, n) in [
            (&[0x12][..], 0x12),
            (&[0x12, 0x34], 0x1234),
            (&[0x12, 0x34, 0x56], 0x12_3456),
            (&[1, 2, 3, 4], 0x0102_0304),
            (&[1, 2, 3, 4, 5, 6, 7, 8], 0x0102_0304_0506_0708),
            (&[9, 1, 2, 3, 4, 5, 6, 7, 8], 0x0102_0304_0506_0708),
            (&[], 0),
        ] {
            assert_eq!(be_uint(raw), n, "{raw:?}");
        }
        let v4: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        let v6: std::net::IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(addr(&[10, 1, 2, 3]), Some(addr_to_bytes(v4)));
        assert_eq!(addr(&addr_to_bytes(v6)), Some(addr_to_bytes(v6)));
        assert_eq!(addr(&[10, 1, 2]), None);
    }

    #[test]
    fn every_mapped_number_has_a_slot() {
        let slotted: Vec<u16> = (0..=u16::MAX).filter(|&n| Slot::of(n).is_some()).collect();
        let mut mapped = MAPPED.to_vec();
        mapped.sort_unstable();
        assert_eq!(slotted, mapped);
    }
}
