//! Templates: where the mapped fields sit in a v9 template's records
//! ([`Plan`], for the fast path), and data flowsets held until their
//! template arrives.

use std::collections::VecDeque;
use std::net::SocketAddr;

use eastwest_clickhouse::schema::FlowRow;
use netflow_parser::variable_versions::v9;
use netflow_parser::NetflowPacket;

use super::fields::Slot;
use super::{Datagram, Decoder, ErrorReason, Report, IPFIX_HEADER_LEN};

/// Where the mapped fields sit in a data record of one v9 template: what
/// the fast path needs to read a record without `netflow_parser`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub(super) record_len: usize,
    /// (slot, offset, length) of the fields the mapping reads, in record
    /// order.
    pub(super) fields: Vec<(Slot, usize, usize)>,
}

impl Plan {
    /// The plan of a template as `netflow_parser` parsed it; `None` for
    /// layouts the fast path leaves to the parser (variable-length or
    /// zero-length fields, no fields).
    pub(super) fn of(template: &v9::Template) -> Option<Plan> {
        let mut fields = Vec::new();
        let mut at = 0usize;
        for field in &template.fields {
            let len = usize::from(field.field_length);
            if len == 0 || field.field_length == u16::MAX {
                return None;
            }
            if let Some(slot) = Slot::of(field.field_type_number) {
                fields.push((slot, at, len));
            }
            at += len;
        }
        (at > 0).then_some(Plan {
            record_len: at,
            fields,
        })
    }
}

/// A data flowset whose template had not arrived, held as a one-flowset
/// export packet (the original header, then the flowset) so it can be
/// parsed again when the template comes.
#[derive(Debug)]
pub(super) struct Held {
    pub(super) exporter: SocketAddr,
    pub(super) source_id: u32,
    pub(super) template_id: u16,
    pub(super) received_ms: u64,
    pub(super) packet: Vec<u8>,
}

impl Decoder {
    /// Data flowsets waiting for their template, and their bytes.
    pub fn held(&self) -> (usize, usize) {
        (self.held.len(), self.held_bytes)
    }

    /// Count as `missing_template` the held flowsets older than the wait.
    pub(super) fn expire_held(&mut self, now_ms: u64, report: &mut Report) {
        while let Some(oldest) = self.held.front() {
            if now_ms.saturating_sub(oldest.received_ms) < self.hold_ms {
                break;
            }
            self.drop_oldest_held(report);
        }
    }

    pub(super) fn drop_oldest_held(&mut self, report: &mut Report) {
        if let Some(dropped) = self.held.pop_front() {
            self.held_bytes -= dropped.packet.len();
            report.errors.push(ErrorReason::MissingTemplate);
            if let Some(domain) = self.domains.get_mut(&(dropped.exporter, dropped.source_id)) {
                domain.errors += 1;
            }
        }
    }

    /// Hold flowset number `index` of `dg` (an export packet with a
    /// `header_len`-byte header), whose template `template_id` is unknown,
    /// or count it as missing its template when holding is off or it cannot
    /// fit.
    pub(super) fn hold(
        &mut self,
        dg: &Datagram,
        source_id: u32,
        header_len: usize,
        (index, template_id): (usize, u16),
        report: &mut Report,
    ) {
        if self.replaying || self.hold_ms == 0 {
            report.errors.push(ErrorReason::MissingTemplate);
            return;
        }
        let header = dg.payload.get(..header_len);
        let flowset = flowset_at(&dg.payload, header_len, index);
        let (Some(header), Some(flowset)) = (header, flowset) else {
            report.errors.push(ErrorReason::MissingTemplate);
            return;
        };
        let mut packet = Vec::with_capacity(header_len + flowset.len());
        packet.extend_from_slice(header);
        packet.extend_from_slice(flowset);
        if header_len == IPFIX_HEADER_LEN {
            // IPFIX headers carry the message length.
            let len = u16::try_from(packet.len()).unwrap_or(u16::MAX);
            packet[2..4].copy_from_slice(&len.to_be_bytes());
        }
        if packet.len() > self.hold_max_bytes {
            report.errors.push(ErrorReason::MissingTemplate);
            return;
        }
        while self.held_bytes + packet.len() > self.hold_max_bytes {
            self.drop_oldest_held(report);
        }
        self.held_bytes += packet.len();
        report.held += 1;
        self.held.push_back(Held {
            exporter: dg.exporter,
            source_id,
            template_id,
            received_ms: dg.received_ms,
            packet,
        });
    }

    /// Parse again the held flowsets of (exporter, source id) whose
    /// template is among `learned`.
    pub(super) fn replay_held(
        &mut self,
        dg: &Datagram,
        source_id: u32,
        learned: &[u16],
        out: &mut Vec<FlowRow>,
        report: &mut Report,
    ) {
        if learned.is_empty() || self.held.is_empty() || self.replaying {
            return;
        }
        let mut ready = Vec::new();
        let mut keep = VecDeque::with_capacity(self.held.len());
        for held in self.held.drain(..) {
            if held.exporter == dg.exporter
                && held.source_id == source_id
                && learned.contains(&held.template_id)
            {
                ready.push(held);
            } else {
                keep.push_back(held);
            }
        }
        self.held = keep;
        self.replaying = true;
        for held in ready {
            self.held_bytes -= held.packet.len();
            let replay = Datagram {
                exporter: held.exporter,
                received_ms: held.received_ms,
                payload: held.packet,
            };
            let result = self
                .parser
                .parse_from_source(replay.exporter, &replay.payload);
            for packet in &result.packets {
                match packet {
                    NetflowPacket::V9(p) => self.v9(p, &replay, out, report),
                    NetflowPacket::IPFix(p) => self.ipfix(p, &replay, out, report),
                    _ => {}
                }
            }
            if let Some(err) = &result.error {
                report.errors.push(ErrorReason::of(err));
            }
        }
        self.replaying = false;
    }
}

/// Flowset number `index` (set header included) of an export packet with a
/// `header_len`-byte header; `None` past the end or a malformed length.
pub(super) fn flowset_at(payload: &[u8], header_len: usize, index: usize) -> Option<&[u8]> {
    let mut at = header_len;
    for i in 0.. {
        let head = payload.get(at..at + 4)?;
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let flowset = payload.get(at..at + len).filter(|_| len >= 4)?;
        if i == index {
            return Some(flowset);
        }
        at += len;
    }
    None
}
