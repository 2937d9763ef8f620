//! Sequence numbers per (exporter, source id): gaps, late and duplicate
//! export packets, and the per-scope counters of each packet.

use std::collections::VecDeque;
use std::net::SocketAddr;

use eastwest_clickhouse::schema::FlowRow;

use super::{Datagram, Decoder, ErrorReason, Report};

/// Where an export packet's sequence number falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SequenceCheck {
    /// The first one heard, the expected one, or an exporter restart.
    InOrder,
    /// Ahead of the expected one by this many packets / records.
    Gap(u32),
    /// Behind the expected one and not seen before: reordered.
    Late,
    /// Seen before.
    Duplicate,
}

/// The sequence numbers of one (exporter, source id): the next one expected
/// and the last [`RECENT`] packets' numbers, to tell a duplicate from a late
/// packet. v9 counts export packets, IPFIX and v5 count records (so an
/// IPFIX packet without data records repeats the next packet's number and
/// is never called a duplicate).
#[derive(Debug, Default)]
pub(super) struct Sequence {
    pub(super) next: Option<u32>,
    pub(super) recent: VecDeque<u32>,
}

/// Packets remembered per (exporter, source id) for duplicate detection.
pub(super) const RECENT: usize = 64;
/// A jump ahead beyond this many packets / records is an exporter restart,
/// not a loss.
pub(super) const RESTART_AHEAD: u32 = 1 << 24;

impl Sequence {
    /// Check packet number `seq` covering `units` packets / records.
    pub(super) fn check(&mut self, seq: u32, units: u32) -> SequenceCheck {
        let Some(next) = self.next else {
            self.advance(seq, units, true);
            return SequenceCheck::InOrder;
        };
        if units > 0 && self.recent.contains(&seq) {
            return SequenceCheck::Duplicate;
        }
        let ahead = seq.wrapping_sub(next);
        let behind = next.wrapping_sub(seq);
        // A packet within the last RECENT packets' span is late; further
        // back it is an exporter that restarted its counter.
        let late_span = u32::try_from(RECENT).unwrap_or(u32::MAX) * units.max(1);
        if ahead == 0 {
            self.advance(seq, units, true);
            SequenceCheck::InOrder
        } else if ahead < RESTART_AHEAD {
            self.advance(seq, units, true);
            SequenceCheck::Gap(ahead)
        } else if behind <= late_span {
            self.advance(seq, units, false);
            SequenceCheck::Late
        } else {
            self.recent.clear();
            self.advance(seq, units, true);
            SequenceCheck::InOrder
        }
    }

    pub(super) fn advance(&mut self, seq: u32, units: u32, move_next: bool) {
        if move_next {
            self.next = Some(seq.wrapping_add(units));
        }
        if units > 0 {
            if self.recent.len() == RECENT {
                self.recent.pop_front();
            }
            self.recent.push_back(seq);
        }
    }
}

impl Decoder {
    /// Check the sequence number of an export packet of (exporter,
    /// `source_id`) covering `units` packets / records: the units it says
    /// were missed, or `None` for a duplicate (counted, not decoded).
    /// Replayed held flowsets are not checked again.
    pub(super) fn sequence(
        &mut self,
        dg: &Datagram,
        source_id: u32,
        version: u16,
        seq: u32,
        units: u32,
        report: &mut Report,
    ) -> Option<u64> {
        let replaying = self.replaying;
        let domain = self.domain(dg.exporter, source_id, dg.received_ms);
        domain.version = version;
        if replaying {
            return Some(0);
        }
        match domain.sequence.check(seq, units) {
            SequenceCheck::InOrder => Some(0),
            SequenceCheck::Gap(missed) => {
                report.sequence_gaps += u64::from(missed);
                Some(u64::from(missed))
            }
            SequenceCheck::Late => {
                domain.late += 1;
                report.late += 1;
                Some(0)
            }
            SequenceCheck::Duplicate => {
                domain.errors += 1;
                report.errors.push(ErrorReason::Duplicate);
                None
            }
        }
    }

    /// Add one export packet to its scope's counters; `before` is
    /// (rows, errors) when the packet started.
    pub(super) fn tally(
        &mut self,
        exporter: SocketAddr,
        source_id: u32,
        gap: u64,
        before: (usize, usize),
        out: &[FlowRow],
        report: &Report,
    ) {
        let replaying = self.replaying;
        if let Some(domain) = self.domains.get_mut(&(exporter, source_id)) {
            if !replaying {
                domain.packets += 1;
            }
            domain.sequence_gaps += gap;
            domain.flows += out.len().saturating_sub(before.0) as u64;
            domain.errors += report.errors.len().saturating_sub(before.1) as u64;
        }
    }
}
