//! Decode: NetFlow v9, IPFIX and v5 datagrams into [`FlowRow`]s.
//!
//! Templates are scoped the RFC way by `netflow_parser`'s
//! [`AutoScopedParser`]: v9 by (exporter socket address, Source ID), IPFIX by
//! (exporter socket address, Observation Domain ID), v5 by exporter address.
//! Two exporters that both call their template 256 never see each other's
//! layout. The decoder keeps its own small state per (exporter, source id):
//! the observation domain name and sampling interval from options records,
//! the IPFIX system init time, and the expected next sequence number.
//!
//! Field mapping (numbers are shared by v9 and IANA IPFIX): addresses 8/12
//! and 27/28 (IPv4 stored mapped into IPv6), ports 7/11, protocol 4, TOS 5,
//! TCP flags 6, ICMP 32/139 (or 176-179), MACs 56/80, VLAN 58 or 243, VNI
//! from layer2SegmentId 351 (low 24 bits), packets 2 and bytes 1 scaled by
//! the sampling interval (record field 34/305, else the exporter's options,
//! else the v5 header, else 1), capture path from observationPointId 138
//! (see `eastwest_core::netflow`). Times: flowStart/EndMilliseconds 152/153
//! when present, else seconds 150/151, else FIRST/LAST_SWITCHED 22/21
//! against the header's sysUptime and export time (v9) or against
//! systemInitTimeMilliseconds 160 (IPFIX), else the export time.
//!
//! Nothing here panics on input: malformed datagrams, flowsets without a
//! known template and records without addresses are reported by
//! [`ErrorReason`] and skipped.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use eastwest_clickhouse::schema::row::Name;
use eastwest_clickhouse::schema::{addr_to_bytes, date_of_ms, datetime_of_ms, reply_of, FlowRow};
use eastwest_core::netflow::{field, split_observation_point};
use eastwest_core::policy::VerdictKind;

use crate::config::DecodeConfig;
use netflow_parser::static_versions::v5::V5;
use netflow_parser::variable_versions::ipfix::lookup::{IANAIPFixField, IPFixField};
use netflow_parser::variable_versions::ipfix::{self, IPFix};
use netflow_parser::variable_versions::v9::{self, V9};
use netflow_parser::{AutoScopedParser, FieldValue, NetflowError, NetflowPacket, NetflowParser};

/// One UDP datagram as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The exporter's socket address.
    pub exporter: SocketAddr,
    /// When it was received, epoch milliseconds.
    pub received_ms: u64,
    pub payload: Vec<u8>,
}

/// Why (part of) a datagram could not be decoded; the label of
/// `eastwest_collector_decode_errors_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorReason {
    /// The datagram ends before its header or a flowset does.
    Truncated,
    /// Not NetFlow v5, v9 or IPFIX.
    UnsupportedVersion,
    /// A header, template or record that does not parse.
    Malformed,
    /// More decoded output than the parser's safety limits allow.
    TooLarge,
    /// A data flowset whose template this exporter has not sent (yet).
    MissingTemplate,
    /// A data record without source or destination address.
    MissingAddress,
    /// An export packet whose sequence number was already seen from the same
    /// (exporter, source id): a replayed or duplicated datagram, not decoded
    /// again.
    Duplicate,
}

impl ErrorReason {
    pub const ALL: [ErrorReason; 7] = [
        ErrorReason::Truncated,
        ErrorReason::UnsupportedVersion,
        ErrorReason::Malformed,
        ErrorReason::TooLarge,
        ErrorReason::MissingTemplate,
        ErrorReason::MissingAddress,
        ErrorReason::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::Truncated => "truncated",
            ErrorReason::UnsupportedVersion => "unsupported_version",
            ErrorReason::Malformed => "malformed",
            ErrorReason::TooLarge => "too_large",
            ErrorReason::MissingTemplate => "missing_template",
            ErrorReason::MissingAddress => "missing_address",
            ErrorReason::Duplicate => "duplicate",
        }
    }

    fn of(err: &NetflowError) -> ErrorReason {
        match err {
            NetflowError::Incomplete { .. } => ErrorReason::Truncated,
            NetflowError::UnsupportedVersion { .. } | NetflowError::FilteredVersion { .. } => {
                ErrorReason::UnsupportedVersion
            }
            NetflowError::DecodedOutputLimitExceeded { .. } => ErrorReason::TooLarge,
            _ => ErrorReason::Malformed,
        }
    }
}

/// What decoding one datagram produced besides rows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub flows: usize,
    pub errors: Vec<ErrorReason>,
    /// Export packets (v9) or records (IPFIX, v5) the sequence numbers say
    /// were missed.
    pub sequence_gaps: u64,
    /// Export packets that arrived after a later one (out of order).
    pub late: u64,
    /// Data flowsets put on hold until their template arrives.
    pub held: u64,
    /// v9 data templates forgotten because their scope already held
    /// `decode.max_templates` (a template flood).
    pub templates_evicted: u64,
}

/// State kept per (exporter, source id / observation domain).
#[derive(Debug, Default)]
struct Domain {
    /// observationDomainName from an options record: the host's name.
    name: Option<Name>,
    /// Dataset name from an options record (eastwest exporter `--dataset`).
    dataset: Option<Name>,
    /// Sampling interval from an options record.
    sampling: Option<u32>,
    /// systemInitTimeMilliseconds (IPFIX) from an options record.
    sys_init_ms: Option<u64>,
    sequence: Sequence,
    /// Record layouts of this scope's v9 data templates, for the fast path.
    plans: HashMap<u16, Arc<Plan>>,
    version: u16,
    first_seen_ms: u64,
    last_seen_ms: u64,
    packets: u64,
    flows: u64,
    sequence_gaps: u64,
    late: u64,
    errors: u64,
}

/// Where the mapped fields sit in a data record of one v9 template: what
/// the fast path needs to read a record without `netflow_parser`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    record_len: usize,
    /// (field number, offset, length) of the fields [`Fields::set`] maps.
    fields: Vec<(u16, usize, usize)>,
}

impl Plan {
    /// The plan of a template as `netflow_parser` parsed it; `None` for
    /// layouts the fast path leaves to the parser (variable-length or
    /// zero-length fields, no fields).
    fn of(template: &v9::Template) -> Option<Plan> {
        let mut fields = Vec::new();
        let mut at = 0usize;
        for field in &template.fields {
            let len = usize::from(field.field_length);
            if len == 0 || field.field_length == u16::MAX {
                return None;
            }
            if MAPPED.contains(&field.field_type_number) {
                fields.push((field.field_type_number, at, len));
            }
            at += len;
        }
        (at > 0).then_some(Plan {
            record_len: at,
            fields,
        })
    }
}

/// Where an export packet's sequence number falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SequenceCheck {
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
struct Sequence {
    next: Option<u32>,
    recent: VecDeque<u32>,
}

/// Packets remembered per (exporter, source id) for duplicate detection.
const RECENT: usize = 64;
/// A jump ahead beyond this many packets / records is an exporter restart,
/// not a loss.
const RESTART_AHEAD: u32 = 1 << 24;

impl Sequence {
    /// Check packet number `seq` covering `units` packets / records.
    fn check(&mut self, seq: u32, units: u32) -> SequenceCheck {
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

    fn advance(&mut self, seq: u32, units: u32, move_next: bool) {
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

/// A data flowset whose template had not arrived, held as a one-flowset
/// export packet (the original header, then the flowset) so it can be
/// parsed again when the template comes.
#[derive(Debug)]
struct Held {
    exporter: SocketAddr,
    source_id: u32,
    template_id: u16,
    received_ms: u64,
    packet: Vec<u8>,
}

/// What one (exporter, source id) has sent so far: a row of the
/// `exporters` table and of the dashboard's exporter list.
///
/// Counters are totals since this collector first heard the scope (or since
/// it was forgotten beyond `decode.max_exporters` and heard again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterStats {
    /// The exporter's address (the UDP source address; the port is dropped).
    pub exporter: IpAddr,
    /// The UDP source port the exporter sends from.
    pub port: u16,
    /// v9 Source ID, IPFIX Observation Domain ID, v5 `engine_type << 8 | engine_id`.
    pub source_id: u32,
    /// NetFlow version: 5, 9 or 10 (IPFIX).
    pub version: u16,
    /// observationDomainName from its options record (the hypervisor host
    /// for eastwest exporters); empty when it sent none.
    pub name: String,
    /// The dataset its options record names (a replay); empty = live, the
    /// collector's `dataset_default` applies.
    pub dataset: String,
    /// Epoch milliseconds of the first and the latest datagram.
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Export packets (datagrams) decoded.
    pub packets: u64,
    /// Flow records decoded into rows.
    pub flows: u64,
    /// Export packets (v9) or records (IPFIX, v5) the sequence numbers say
    /// were missed, counted when the jump is seen.
    pub sequence_gaps: u64,
    /// Export packets that arrived after a later one; their units were
    /// counted in `sequence_gaps` and were not lost after all.
    pub late: u64,
    /// Flowsets or records of this scope that could not be decoded
    /// (missing template, missing address).
    pub errors: u64,
    /// Templates and options templates currently known.
    pub templates: u32,
}

/// The decode stage: template-scoped parser plus per-domain state.
#[derive(Debug)]
pub struct Decoder {
    parser: AutoScopedParser,
    domains: HashMap<(SocketAddr, u32), Domain>,
    max_domains: usize,
    /// Templates kept per scope (the parser's cache and our plans).
    max_templates: usize,
    /// IANA IPFIX elements this decoder maps, with their numbers.
    ipfix_numbers: Vec<(IANAIPFixField, u16)>,
    /// Reused buffer for a field's wire bytes.
    scratch: Vec<u8>,
    /// Data flowsets waiting for their template, oldest first.
    held: VecDeque<Held>,
    held_bytes: usize,
    hold_ms: u64,
    hold_max_bytes: usize,
    /// True while held flowsets are parsed again (no sequence accounting,
    /// nothing held twice).
    replaying: bool,
    /// The last `dataset_default` given to [`Decoder::decode`], made once.
    dataset_default: Name,
}

/// Field numbers the mapping reads (see the module docs).
const MAPPED: &[u16] = &[
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
];

const SAMPLING_INTERVAL: u16 = 34;
const ICMP_TYPE_CODE_V6: u16 = 139;
const FLOW_START_SECONDS: u16 = 150;
const FLOW_END_SECONDS: u16 = 151;
const SYSTEM_INIT_MS: u16 = 160;
const ICMP_TYPE_V4: u16 = 176;
const ICMP_CODE_V4: u16 = 177;
const ICMP_TYPE_V6: u16 = 178;
const ICMP_CODE_V6: u16 = 179;
const DOT1Q_VLAN_ID: u16 = 243;
const SAMPLING_PACKET_INTERVAL: u16 = 305;

impl Decoder {
    /// A decoder keeping templates for at most `config.max_exporters` scopes
    /// and data that came before its template as `config` says.
    pub fn new(config: &DecodeConfig) -> Decoder {
        let max_exporters = config.max_exporters;
        let max_templates = config.max_templates.max(1);
        let builder = NetflowParser::builder()
            .with_allowed_versions(&[5, 9, 10])
            .with_cache_size(max_templates);
        let parser = AutoScopedParser::try_with_builder(builder)
            .and_then(|p| p.with_max_sources(max_exporters.max(1)))
            .unwrap_or_default();
        Decoder {
            parser,
            domains: HashMap::new(),
            max_domains: max_exporters.max(1),
            max_templates,
            ipfix_numbers: MAPPED
                .iter()
                .map(|&n| (IANAIPFixField::from(n), n))
                .collect(),
            scratch: Vec::with_capacity(64),
            held: VecDeque::new(),
            held_bytes: 0,
            hold_ms: config.template_wait_ms,
            hold_max_bytes: config.template_wait_bytes,
            replaying: false,
            dataset_default: Name::default(),
        }
    }

    /// Data flowsets waiting for their template, and their bytes.
    pub fn held(&self) -> (usize, usize) {
        (self.held.len(), self.held_bytes)
    }

    /// Count as `missing_template` the held flowsets older than the wait.
    fn expire_held(&mut self, now_ms: u64, report: &mut Report) {
        while let Some(oldest) = self.held.front() {
            if now_ms.saturating_sub(oldest.received_ms) < self.hold_ms {
                break;
            }
            self.drop_oldest_held(report);
        }
    }

    fn drop_oldest_held(&mut self, report: &mut Report) {
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
    fn hold(
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
    fn replay_held(
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

    /// Decode one datagram, appending its flows to `out`. Enrichment
    /// columns are left empty and the verdict `unknown`. The `dataset`
    /// column is the one the exporter's options record names, else
    /// `dataset_default`.
    pub fn decode(
        &mut self,
        datagram: &Datagram,
        dataset_default: &str,
        out: &mut Vec<FlowRow>,
    ) -> Report {
        let mut report = Report::default();
        if *self.dataset_default != *dataset_default {
            self.dataset_default = dataset_default.into();
        }
        self.expire_held(datagram.received_ms, &mut report);
        if datagram.payload.len() < 2 {
            report.errors.push(ErrorReason::Truncated);
            return report;
        }
        let before = out.len();
        if self.v9_fast(datagram, out, &mut report) {
            report.flows = out.len() - before;
            return report;
        }
        let result = self
            .parser
            .parse_from_source(datagram.exporter, &datagram.payload);
        for packet in &result.packets {
            match packet {
                NetflowPacket::V9(p) => self.v9(p, datagram, out, &mut report),
                NetflowPacket::IPFix(p) => self.ipfix(p, datagram, out, &mut report),
                NetflowPacket::V5(p) => self.v5(p, datagram, out, &mut report),
                _ => report.errors.push(ErrorReason::UnsupportedVersion),
            }
        }
        if let Some(err) = &result.error {
            report.errors.push(ErrorReason::of(err));
        }
        report.flows = out.len() - before;
        report
    }

    /// A snapshot of every (exporter, source id) heard and not forgotten,
    /// ordered by exporter then source id.
    pub fn exporter_stats(&self) -> Vec<ExporterStats> {
        let mut templates: HashMap<(SocketAddr, u32), usize> = HashMap::new();
        for (key, info) in self.parser.v9_info() {
            templates.insert((key.addr, key.source_id), info.v9.current_size);
        }
        for (key, info) in self.parser.ipfix_info() {
            let count = info.ipfix.current_size + info.v9.current_size;
            templates.insert((key.addr, key.observation_domain_id), count);
        }
        let mut stats: Vec<ExporterStats> = self
            .domains
            .iter()
            .map(|(&(exporter, source_id), d)| ExporterStats {
                exporter: exporter.ip(),
                port: exporter.port(),
                source_id,
                version: d.version,
                name: d.name.as_deref().unwrap_or_default().to_string(),
                dataset: d.dataset.as_deref().unwrap_or_default().to_string(),
                first_seen_ms: d.first_seen_ms,
                last_seen_ms: d.last_seen_ms,
                packets: d.packets,
                flows: d.flows,
                sequence_gaps: d.sequence_gaps,
                late: d.late,
                errors: d.errors,
                templates: templates
                    .get(&(exporter, source_id))
                    .map_or(0, |&n| u32::try_from(n).unwrap_or(u32::MAX)),
            })
            .collect();
        stats.sort_by(|a, b| {
            (a.exporter, a.port, a.source_id).cmp(&(b.exporter, b.port, b.source_id))
        });
        stats
    }

    /// The state of (exporter, source id), created on first sight; beyond
    /// the bound the longest-silent domain is forgotten.
    fn domain(&mut self, exporter: SocketAddr, source_id: u32, now_ms: u64) -> &mut Domain {
        let key = (exporter, source_id);
        if !self.domains.contains_key(&key) && self.domains.len() >= self.max_domains {
            let oldest = self
                .domains
                .iter()
                .min_by_key(|(_, d)| d.last_seen_ms)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.domains.remove(&oldest);
            }
        }
        let domain = self.domains.entry(key).or_insert_with(|| Domain {
            first_seen_ms: now_ms,
            ..Domain::default()
        });
        domain.last_seen_ms = now_ms;
        domain
    }

    /// The fast path: a v9 export packet made only of data flowsets whose
    /// templates this scope defined earlier (the steady state of every
    /// exporter between template refreshes) is read straight from the
    /// bytes with the templates' [`Plan`]s and the same field mapping
    /// ([`Fields::set`]). Anything else (templates, options, unknown
    /// templates, odd lengths, other versions) returns `false` and goes to
    /// `netflow_parser`, which stays the authority on templates: plans are
    /// learnt from the templates it parsed.
    fn v9_fast(&mut self, dg: &Datagram, out: &mut Vec<FlowRow>, report: &mut Report) -> bool {
        let payload = dg.payload.as_slice();
        let Some(header) = payload.get(..V9_HEADER_LEN) else {
            return false;
        };
        let word = |at: usize| {
            u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        if header[..2] != [0, 9] || payload.len() == V9_HEADER_LEN {
            return false;
        }
        let (uptime, unix_secs, seq, source_id) = (word(4), word(8), word(12), word(16));
        let Some(domain) = self.domains.get(&(dg.exporter, source_id)) else {
            return false;
        };
        // Every flowset a data flowset of a planned template, lengths exact.
        let mut at = V9_HEADER_LEN;
        while at < payload.len() {
            let Some(head) = payload.get(at..at + 4) else {
                return false;
            };
            let id = u16::from_be_bytes([head[0], head[1]]);
            let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
            if id < 256 || len < 4 || at + len > payload.len() || !domain.plans.contains_key(&id) {
                return false;
            }
            at += len;
        }
        let Some(gap) = self.sequence(dg, source_id, 9, seq, 1, report) else {
            return true;
        };
        let before = (out.len(), report.errors.len());
        let clock = Clock {
            export_ms: u64::from(unix_secs) * 1000,
            uptime_ms: Some(uptime),
            sys_init_ms: None,
        };
        let scope = self.scope(dg, source_id);
        let mut at = V9_HEADER_LEN;
        while let Some(head) = payload.get(at..at + 4) {
            let id = u16::from_be_bytes([head[0], head[1]]);
            let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let body = &payload[at + 4..at + len];
            at += len;
            let Some(plan) = self
                .domains
                .get(&(dg.exporter, source_id))
                .and_then(|d| d.plans.get(&id).cloned())
            else {
                continue;
            };
            // Trailing bytes shorter than a record are padding (RFC 3954 §5.3).
            for record in body.chunks_exact(plan.record_len) {
                let mut fields = Fields::default();
                for &(number, offset, width) in &plan.fields {
                    fields.set(number, &record[offset..offset + width]);
                }
                emit(fields, &clock, &scope, out, report);
            }
        }
        self.tally(dg.exporter, source_id, gap, before, out, report);
        true
    }

    fn v9(&mut self, p: &V9, dg: &Datagram, out: &mut Vec<FlowRow>, report: &mut Report) {
        let source_id = p.header.source_id;
        let seq = p.header.sequence_number;
        let Some(gap) = self.sequence(dg, source_id, 9, seq, 1, report) else {
            return;
        };
        let before = (out.len(), report.errors.len());
        let mut learned = Vec::new();
        let clock = Clock {
            export_ms: u64::from(p.header.unix_secs) * 1000,
            uptime_ms: Some(p.header.sys_up_time),
            sys_init_ms: None,
        };
        for (index, flowset) in p.flowsets.iter().enumerate() {
            match &flowset.body {
                v9::FlowSetBody::Data(data) => {
                    for record in &data.fields {
                        let mut fields = Fields::default();
                        for (name, value) in record {
                            fields.set(u16::from(*name), raw(value, &mut self.scratch));
                        }
                        self.emit(fields, &clock, dg, source_id, out, report);
                    }
                }
                v9::FlowSetBody::OptionsData(options) => {
                    for record in &options.fields {
                        let mut fields = Fields::default();
                        for (name, value) in &record.options_fields {
                            fields.set(u16::from(*name), raw(value, &mut self.scratch));
                        }
                        self.learn_options(dg, source_id, fields);
                    }
                }
                v9::FlowSetBody::NoTemplate(info) => self.hold(
                    dg,
                    source_id,
                    V9_HEADER_LEN,
                    (index, info.template_id),
                    report,
                ),
                v9::FlowSetBody::Template(t) => {
                    learned.extend(t.templates.iter().map(|t| t.template_id));
                    if let Some(domain) = self.domains.get_mut(&(dg.exporter, source_id)) {
                        for template in &t.templates {
                            let id = template.template_id;
                            let Some(plan) = Plan::of(template) else {
                                domain.plans.remove(&id);
                                continue;
                            };
                            // A full table forgets one layout; its data then
                            // takes the parser's path (whose LRU cache of the
                            // same size is the authority).
                            if domain.plans.len() >= self.max_templates
                                && !domain.plans.contains_key(&id)
                            {
                                let victim = domain.plans.keys().next().copied();
                                if let Some(victim) = victim {
                                    domain.plans.remove(&victim);
                                }
                                report.templates_evicted += 1;
                            }
                            domain.plans.insert(id, Arc::new(plan));
                        }
                    }
                }
                v9::FlowSetBody::OptionsTemplate(t) => {
                    learned.extend(t.templates.iter().map(|t| t.template_id))
                }
                _ => {}
            }
        }
        self.tally(dg.exporter, source_id, gap, before, out, report);
        self.replay_held(dg, source_id, &learned, out, report);
    }

    fn ipfix(&mut self, p: &IPFix, dg: &Datagram, out: &mut Vec<FlowRow>, report: &mut Report) {
        let source_id = p.header.observation_domain_id;
        let seq = p.header.sequence_number;
        let records: usize = p
            .flowsets
            .iter()
            .map(|f| match &f.body {
                ipfix::FlowSetBody::Data(d) => d.fields.len(),
                _ => 0,
            })
            .sum();
        let records = u32::try_from(records).unwrap_or(u32::MAX);
        let Some(gap) = self.sequence(dg, source_id, 10, seq, records, report) else {
            return;
        };
        let before = (out.len(), report.errors.len());
        let mut learned = Vec::new();
        let export_ms = u64::from(p.header.export_time) * 1000;
        for (index, flowset) in p.flowsets.iter().enumerate() {
            match &flowset.body {
                ipfix::FlowSetBody::Data(data) => {
                    for record in &data.fields {
                        let fields = self.ipfix_fields(record);
                        let sys_init_ms = self
                            .domains
                            .get(&(dg.exporter, source_id))
                            .and_then(|d| d.sys_init_ms);
                        let clock = Clock {
                            export_ms,
                            uptime_ms: None,
                            sys_init_ms,
                        };
                        self.emit(fields, &clock, dg, source_id, out, report);
                    }
                }
                ipfix::FlowSetBody::OptionsData(options) => {
                    for record in &options.fields {
                        let fields = self.ipfix_fields(record);
                        self.learn_options(dg, source_id, fields);
                    }
                }
                ipfix::FlowSetBody::NoTemplate(info) => self.hold(
                    dg,
                    source_id,
                    IPFIX_HEADER_LEN,
                    (index, info.template_id),
                    report,
                ),
                ipfix::FlowSetBody::Template(t) => learned.push(t.template_id),
                ipfix::FlowSetBody::Templates(ts) => {
                    learned.extend(ts.iter().map(|t| t.template_id))
                }
                ipfix::FlowSetBody::OptionsTemplate(t) => learned.push(t.template_id),
                ipfix::FlowSetBody::OptionsTemplates(ts) => {
                    learned.extend(ts.iter().map(|t| t.template_id))
                }
                _ => {}
            }
        }
        self.tally(dg.exporter, source_id, gap, before, out, report);
        self.replay_held(dg, source_id, &learned, out, report);
    }

    fn ipfix_fields(&mut self, record: &[(IPFixField, FieldValue)]) -> Fields {
        let mut fields = Fields::default();
        for (name, value) in record {
            let IPFixField::IANA(iana) = name else {
                continue;
            };
            let number = self
                .ipfix_numbers
                .iter()
                .find(|(f, _)| f == iana)
                .map(|&(_, n)| n);
            if let Some(number) = number {
                fields.set(number, raw(value, &mut self.scratch));
            }
        }
        fields
    }

    fn v5(&mut self, p: &V5, dg: &Datagram, out: &mut Vec<FlowRow>, report: &mut Report) {
        let h = &p.header;
        // v5 has no source id; engine type/id identify the flow cache.
        let source_id = u32::from(h.engine_type) << 8 | u32::from(h.engine_id);
        let units = u32::from(h.count);
        let Some(gap) = self.sequence(dg, source_id, 5, h.flow_sequence, units, report) else {
            return;
        };
        let before = (out.len(), report.errors.len());
        let export_ms = u64::from(h.unix_secs) * 1000 + u64::from(h.unix_nsecs / 1_000_000);
        let clock = Clock {
            export_ms,
            uptime_ms: Some(h.sys_up_time),
            sys_init_ms: None,
        };
        let sampling = u32::from(h.sampling_interval & 0x3fff);
        for flow in &p.flowsets {
            let fields = Fields {
                src: Some(IpAddr::V4(flow.src_addr)),
                dst: Some(IpAddr::V4(flow.dst_addr)),
                src_port: flow.src_port,
                dst_port: flow.dst_port,
                proto: flow.protocol_number,
                tos: flow.tos,
                tcp_flags: flow.tcp_flags,
                bytes: u64::from(flow.d_octets),
                packets: u64::from(flow.d_pkts),
                first_uptime: Some(flow.first),
                last_uptime: Some(flow.last),
                sampling: (sampling > 0).then_some(sampling),
                ..Fields::default()
            };
            self.emit(fields, &clock, dg, source_id, out, report);
        }
        self.tally(dg.exporter, source_id, gap, before, out, report);
    }

    /// Check the sequence number of an export packet of (exporter,
    /// `source_id`) covering `units` packets / records: the units it says
    /// were missed, or `None` for a duplicate (counted, not decoded).
    /// Replayed held flowsets are not checked again.
    fn sequence(
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
    fn tally(
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

    fn learn_options(&mut self, dg: &Datagram, source_id: u32, fields: Fields) {
        let domain = self.domain(dg.exporter, source_id, dg.received_ms);
        if let Some(name) = fields.domain_name.filter(|n| !n.is_empty()) {
            domain.name = Some(name.into());
        }
        // An empty dataset name means live traffic: the default applies.
        if let Some(dataset) = fields.dataset {
            domain.dataset = (!dataset.is_empty()).then(|| dataset.into());
        }
        if let Some(sampling) = fields.sampling.filter(|&s| s > 0) {
            domain.sampling = Some(sampling);
        }
        if let Some(init) = fields.sys_init_ms {
            domain.sys_init_ms = Some(init);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        fields: Fields,
        clock: &Clock,
        dg: &Datagram,
        source_id: u32,
        out: &mut Vec<FlowRow>,
        report: &mut Report,
    ) {
        let scope = self.scope(dg, source_id);
        emit(fields, clock, &scope, out, report);
    }

    /// What every row of (exporter, `source_id`) carries, as known now.
    fn scope(&self, dg: &Datagram, source_id: u32) -> Scope {
        let domain = self.domains.get(&(dg.exporter, source_id));
        Scope {
            observer: domain.and_then(|d| d.name.clone()).unwrap_or_default(),
            dataset: domain
                .and_then(|d| d.dataset.clone())
                .unwrap_or_else(|| self.dataset_default.clone()),
            sampling: domain.and_then(|d| d.sampling),
            received: datetime_of_ms(dg.received_ms),
            exporter: addr_to_bytes(dg.exporter.ip()),
            source_id,
        }
    }
}

/// The per-scope columns of the rows of one export packet.
#[derive(Debug)]
struct Scope {
    observer: Name,
    dataset: Name,
    /// Sampling interval from an options record.
    sampling: Option<u32>,
    received: u32,
    exporter: [u8; 16],
    source_id: u32,
}

/// Turn `fields` into a row of `scope` (or count a record without
/// addresses).
fn emit(fields: Fields, clock: &Clock, scope: &Scope, out: &mut Vec<FlowRow>, report: &mut Report) {
    let sampling = fields
        .sampling
        .filter(|&s| s > 0)
        .or(scope.sampling)
        .unwrap_or(1);
    match fields.into_row(clock, sampling, scope) {
        Some(row) => out.push(row),
        None => report.errors.push(ErrorReason::MissingAddress),
    }
}

/// Length of a v9 export packet header.
const V9_HEADER_LEN: usize = 20;
/// Length of an IPFIX message header.
const IPFIX_HEADER_LEN: usize = 16;

/// Flowset number `index` (set header included) of an export packet with a
/// `header_len`-byte header; `None` past the end or a malformed length.
fn flowset_at(payload: &[u8], header_len: usize, index: usize) -> Option<&[u8]> {
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

/// The wire bytes of a decoded value (numbers big-endian, strings raw).
fn raw<'a>(value: &FieldValue, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    scratch.clear();
    if value.write_be_bytes(scratch).is_err() {
        scratch.clear();
    }
    scratch
}

/// Big-endian unsigned value of up to the last 8 bytes.
fn be_uint(raw: &[u8]) -> u64 {
    let tail = &raw[raw.len().saturating_sub(8)..];
    tail.iter().fold(0, |acc, &b| acc << 8 | u64::from(b))
}

fn be_u32(raw: &[u8]) -> u32 {
    u32::try_from(be_uint(raw)).unwrap_or(u32::MAX)
}

fn addr(raw: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(raw) {
        Some(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(raw) {
        Some(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        None
    }
}

/// Times of the export packet a record came in.
#[derive(Debug)]
struct Clock {
    /// Export time, epoch milliseconds.
    export_ms: u64,
    /// sysUptime at export (v9, v5).
    uptime_ms: Option<u32>,
    /// systemInitTimeMilliseconds (IPFIX), epoch milliseconds.
    sys_init_ms: Option<u64>,
}

impl Clock {
    /// Epoch milliseconds of a sysUptime-relative time.
    fn at_uptime(&self, at: u32) -> Option<u64> {
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
struct Fields {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    src_port: u16,
    dst_port: u16,
    proto: u8,
    tos: u8,
    tcp_flags: u8,
    icmp: u16,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    bytes: u64,
    packets: u64,
    first_uptime: Option<u32>,
    last_uptime: Option<u32>,
    start_s: Option<u64>,
    end_s: Option<u64>,
    start_ms: Option<u64>,
    end_ms: Option<u64>,
    sys_init_ms: Option<u64>,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    vlan: u16,
    vni: u32,
    observation_point: Option<u32>,
    sampling: Option<u32>,
    domain_name: Option<String>,
    dataset: Option<String>,
}

impl Fields {
    fn set(&mut self, number: u16, raw: &[u8]) {
        let low = |bits: u64| be_uint(raw) & bits;
        match number {
            field::IN_BYTES => self.bytes = be_uint(raw),
            field::IN_PKTS => self.packets = be_uint(raw),
            field::PROTOCOL => self.proto = low(0xff) as u8,
            field::SRC_TOS => self.tos = low(0xff) as u8,
            field::TCP_FLAGS => self.tcp_flags = low(0xff) as u8,
            field::L4_SRC_PORT => self.src_port = low(0xffff) as u16,
            field::L4_DST_PORT => self.dst_port = low(0xffff) as u16,
            field::IPV4_SRC_ADDR | field::IPV6_SRC_ADDR => self.src = addr(raw),
            field::IPV4_DST_ADDR | field::IPV6_DST_ADDR => self.dst = addr(raw),
            field::ICMP_TYPE | ICMP_TYPE_CODE_V6 => self.icmp = low(0xffff) as u16,
            ICMP_TYPE_V4 | ICMP_TYPE_V6 => self.icmp_type = Some(low(0xff) as u8),
            ICMP_CODE_V4 | ICMP_CODE_V6 => self.icmp_code = Some(low(0xff) as u8),
            field::FIRST_SWITCHED => self.first_uptime = Some(be_u32(raw)),
            field::LAST_SWITCHED => self.last_uptime = Some(be_u32(raw)),
            FLOW_START_SECONDS => self.start_s = Some(be_uint(raw)),
            FLOW_END_SECONDS => self.end_s = Some(be_uint(raw)),
            field::FLOW_START_MILLISECONDS => self.start_ms = Some(be_uint(raw)),
            field::FLOW_END_MILLISECONDS => self.end_ms = Some(be_uint(raw)),
            SYSTEM_INIT_MS => self.sys_init_ms = Some(be_uint(raw)),
            field::IN_SRC_MAC => self.src_mac = mac(raw),
            field::IN_DST_MAC => self.dst_mac = mac(raw),
            // VLAN 58 wins over dot1qVlanId 243 when both are present.
            field::SRC_VLAN => self.vlan = low(0x0fff) as u16,
            DOT1Q_VLAN_ID if self.vlan == 0 => self.vlan = low(0x0fff) as u16,
            // A VXLAN/Geneve VNI (24 bits) or the exporter's whole GRE key
            // of GRE-TEB / NVGRE (32 bits, VSID = upper 24).
            field::LAYER2_SEGMENT_ID => self.vni = low(0xffff_ffff) as u32,
            field::OBSERVATION_POINT_ID => self.observation_point = Some(be_u32(raw)),
            SAMPLING_INTERVAL | SAMPLING_PACKET_INTERVAL => self.sampling = Some(be_u32(raw)),
            field::OBSERVATION_DOMAIN_NAME => self.domain_name = Some(padded_string(raw)),
            field::DATASET_NAME => self.dataset = Some(padded_string(raw)),
            _ => {}
        }
    }

    /// The row of `scope`; `None` without addresses.
    fn into_row(self, clock: &Clock, sampling: u32, scope: &Scope) -> Option<FlowRow> {
        let (src, dst) = (self.src?, self.dst?);
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
        Some(FlowRow {
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
            src_addr: addr_to_bytes(src),
            dst_addr: addr_to_bytes(dst),
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
        })
    }
}

/// A NUL-padded UTF-8 string field, trimmed (invalid bytes replaced).
fn padded_string(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).trim().to_string()
}

fn mac(raw: &[u8]) -> [u8; 6] {
    <[u8; 6]>::try_from(raw).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v9_builder as v9;
    use eastwest_clickhouse::schema::addr_from_bytes;
    use eastwest_core::netflow::{
        FIELDS_V4, OPTION_FIELDS, OPTION_SCOPES, TEMPLATE_OPTIONS, TEMPLATE_V4,
    };

    const BOOT_MS: u64 = 1_700_000_000_000;
    const UPTIME_MS: u32 = 60_000;
    const EXPORT_SECS: u32 = 1_700_000_060;

    fn config(max_exporters: usize) -> DecodeConfig {
        DecodeConfig {
            max_exporters,
            ..DecodeConfig::default()
        }
    }

    fn datagram(exporter: &str, payload: Vec<u8>) -> Datagram {
        Datagram {
            exporter: exporter.parse().unwrap(),
            received_ms: 1_700_000_061_234,
            payload,
        }
    }

    /// The exporter's own layout: options record naming the host, template
    /// 256, one record.
    fn eastwest_packet(flow: &v9::Flow) -> Vec<u8> {
        v9::packet(
            7,
            0,
            UPTIME_MS,
            EXPORT_SECS,
            4,
            &[
                v9::options_template(TEMPLATE_OPTIONS, OPTION_SCOPES, OPTION_FIELDS),
                v9::data(TEMPLATE_OPTIONS, &[v9::domain_name_record(7, "esx-07")]),
                v9::template(TEMPLATE_V4, FIELDS_V4),
                v9::data(TEMPLATE_V4, &[v9::record(flow, FIELDS_V4, BOOT_MS)]),
            ],
        )
    }

    #[test]
    fn keeps_the_32_bit_gre_key_and_the_gre_encapsulations() {
        for (encap, name) in [
            (eastwest_core::flow::Encap::Nvgre, "nvgre"),
            (eastwest_core::flow::Encap::Gre, "gre"),
        ] {
            let mut flow = v9::sample_flow(4, BOOT_MS + 10_000);
            flow.vni = 0x1234_5602;
            flow.observation_point = eastwest_core::netflow::observation_point(encap, 0);
            let mut decoder = Decoder::new(&config(8));
            let mut rows = Vec::new();
            let report = decoder.decode(
                &datagram("192.0.2.9:5000", eastwest_packet(&flow)),
                "live",
                &mut rows,
            );
            assert_eq!(report.errors, []);
            let [row] = &rows[..] else {
                panic!("one row: {rows:?}")
            };
            assert_eq!(
                (row.encap.map(eastwest_core::flow::Encap::as_str), row.vni),
                (Some(name), 0x1234_5602)
            );
        }
    }

    #[test]
    fn maps_every_field_of_the_eastwest_template() {
        let mut flow = v9::sample_flow(4, BOOT_MS + 10_000);
        flow.observation_point =
            eastwest_core::netflow::observation_point(eastwest_core::flow::Encap::ErspanIII, 33);
        let mut decoder = Decoder::new(&config(8));
        let mut rows = Vec::new();
        let report = decoder.decode(
            &datagram("192.0.2.9:5000", eastwest_packet(&flow)),
            "live",
            &mut rows,
        );
        assert_eq!(report.errors, []);
        assert_eq!((report.flows, rows.len()), (1, 1));
        let row = &rows[0];
        assert_eq!(addr_from_bytes(row.src_addr), IpAddr::V4(flow.src));
        assert_eq!(addr_from_bytes(row.dst_addr), IpAddr::V4(flow.dst));
        assert_eq!(
            addr_from_bytes(row.exporter),
            "192.0.2.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            row.src_addr[..12],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
        );
        assert_eq!((row.src_port, row.dst_port, row.proto), (40_004, 443, 6));
        assert_eq!((row.packets, row.bytes, row.sampling), (5, 500, 1));
        assert_eq!(
            (row.start_ms, row.end_ms),
            (BOOT_MS + 10_000, BOOT_MS + 11_500)
        );
        assert_eq!(row.start, 1_700_000_010);
        assert_eq!(row.date, (BOOT_MS / 86_400_000) as u16);
        assert_eq!(row.received, 1_700_000_061);
        assert_eq!((row.src_mac, row.dst_mac), (flow.src_mac, flow.dst_mac));
        assert_eq!((row.vlan, row.vni), (101, 10101));
        assert_eq!(
            (row.encap, row.session),
            (Some(eastwest_core::flow::Encap::ErspanIII), 33)
        );
        assert_eq!((row.source_id, row.observer.as_str()), (7, "esx-07"));
        assert_eq!(
            (row.dataset.as_str(), row.verdict.as_str()),
            ("live", "unknown")
        );
    }

    #[test]
    fn uptime_times_when_there_are_no_absolute_ones() {
        let fields: Vec<(u16, u16)> = FIELDS_V4
            .iter()
            .copied()
            .filter(|&(kind, _)| {
                kind != field::FLOW_START_MILLISECONDS && kind != field::FLOW_END_MILLISECONDS
            })
            .collect();
        let flow = v9::sample_flow(1, BOOT_MS + 20_000);
        let payload = v9::packet(
            1,
            0,
            UPTIME_MS,
            EXPORT_SECS,
            2,
            &[
                v9::template(300, &fields),
                v9::data(300, &[v9::record(&flow, &fields, BOOT_MS)]),
            ],
        );
        let mut rows = Vec::new();
        Decoder::new(&config(8)).decode(&datagram("192.0.2.1:1", payload), "live", &mut rows);
        // Export at BOOT + 60 s with uptime 60 s: FIRST_SWITCHED 20 s → BOOT + 20 s.
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].start_ms, rows[0].end_ms),
            (BOOT_MS + 20_000, BOOT_MS + 21_500)
        );
        assert_eq!(rows[0].observer, "", "no options record: enrich names it");
    }

    #[test]
    fn templates_are_scoped_per_exporter() {
        // Both exporters call their template 256; B swaps the port fields.
        let a: Vec<(u16, u16)> = vec![(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4)];
        let b: Vec<(u16, u16)> = vec![(12, 4), (8, 4), (11, 2), (7, 2), (4, 1), (1, 8), (2, 8)];
        let flow = v9::sample_flow(9, BOOT_MS);
        let mut decoder = Decoder::new(&config(8));
        let mut rows = Vec::new();
        for (exporter, fields) in [("192.0.2.1:9", &a), ("192.0.2.2:9", &b)] {
            let payload = v9::packet(
                1,
                0,
                UPTIME_MS,
                EXPORT_SECS,
                1,
                &[v9::template(256, fields)],
            );
            decoder.decode(&datagram(exporter, payload), "live", &mut rows);
        }
        for (exporter, fields) in [("192.0.2.2:9", &b), ("192.0.2.1:9", &a)] {
            let record = v9::record(&flow, fields, BOOT_MS);
            let payload = v9::packet(1, 1, UPTIME_MS, EXPORT_SECS, 1, &[v9::data(256, &[record])]);
            let report = decoder.decode(&datagram(exporter, payload), "live", &mut rows);
            assert_eq!(report.errors, [], "{exporter}");
        }
        assert_eq!(rows.len(), 2);
        for row in &rows {
            assert_eq!(addr_from_bytes(row.src_addr), IpAddr::V4(flow.src));
            assert_eq!((row.src_port, row.dst_port), (flow.src_port, flow.dst_port));
            assert_eq!((row.packets, row.bytes), (flow.packets, flow.bytes));
        }
    }

    #[test]
    fn missing_template_and_sequence_gaps_are_reported() {
        let flow = v9::sample_flow(1, BOOT_MS);
        let data = v9::data(TEMPLATE_V4, &[v9::record(&flow, FIELDS_V4, BOOT_MS)]);
        let mut decoder = Decoder::new(&DecodeConfig {
            template_wait_ms: 0,
            ..config(8)
        });
        let mut rows = Vec::new();
        let report = decoder.decode(
            &datagram(
                "192.0.2.1:1",
                v9::packet(
                    1,
                    1010,
                    UPTIME_MS,
                    EXPORT_SECS,
                    1,
                    std::slice::from_ref(&data),
                ),
            ),
            "live",
            &mut rows,
        );
        assert_eq!(report.errors, [ErrorReason::MissingTemplate]);
        assert!(rows.is_empty());
        let template = v9::template(TEMPLATE_V4, FIELDS_V4);
        let next = |seq| {
            v9::packet(
                1,
                seq,
                UPTIME_MS,
                EXPORT_SECS,
                2,
                &[template.clone(), data.clone()],
            )
        };
        let dg = |seq| datagram("192.0.2.1:1", next(seq));
        assert_eq!(
            decoder.decode(&dg(1011), "live", &mut rows).sequence_gaps,
            0
        );
        // 1012, 1013 and 1014 missed.
        assert_eq!(
            decoder.decode(&dg(1015), "live", &mut rows).sequence_gaps,
            3
        );
        assert_eq!(
            decoder.decode(&dg(1016), "live", &mut rows).sequence_gaps,
            0
        );
        assert_eq!(rows.len(), 3);
        // 1013 after all: late, decoded, no new gap.
        let report = decoder.decode(&dg(1013), "live", &mut rows);
        assert_eq!((report.sequence_gaps, report.late, report.flows), (0, 1, 1));
        // 1016 again: a replayed datagram, counted and not decoded twice.
        let report = decoder.decode(&dg(1016), "live", &mut rows);
        assert_eq!(
            (report.errors.as_slice(), report.flows),
            (&[ErrorReason::Duplicate][..], 0)
        );
        assert_eq!(rows.len(), 4);
        // An exporter restart (counter back to 0, more than 64 packets
        // behind) is neither loss nor replay.
        let report = decoder.decode(&dg(0), "live", &mut rows);
        assert_eq!((report.sequence_gaps, report.late, report.flows), (0, 0, 1));
        let stats = &decoder.exporter_stats()[0];
        assert_eq!(
            (stats.packets, stats.flows, stats.sequence_gaps, stats.late),
            (6, 5, 3, 1)
        );
        // The first datagram (no template) and the duplicate.
        assert_eq!(stats.errors, 2);
    }

    #[test]
    fn data_before_its_template_is_held_then_decoded() {
        let flow = v9::sample_flow(1, BOOT_MS);
        let data = v9::data(TEMPLATE_V4, &[v9::record(&flow, FIELDS_V4, BOOT_MS)]);
        let template = v9::template(TEMPLATE_V4, FIELDS_V4);
        let at = |seq: u32, ms: u64, flowsets: &[Vec<u8>]| Datagram {
            exporter: "192.0.2.1:1".parse().unwrap(),
            received_ms: ms,
            payload: v9::packet(1, seq, UPTIME_MS, EXPORT_SECS, 1, flowsets),
        };
        let mut decoder = Decoder::new(&DecodeConfig {
            template_wait_ms: 1000,
            ..config(8)
        });
        let mut rows = Vec::new();
        // Two data packets, then one with the template: all three decoded.
        let report = decoder.decode(&at(1, 0, &[data.clone(), data.clone()]), "live", &mut rows);
        assert_eq!((report.held, report.errors.len(), report.flows), (2, 0, 0));
        decoder.decode(&at(2, 100, std::slice::from_ref(&data)), "live", &mut rows);
        assert_eq!(decoder.held().0, 3);
        let report = decoder.decode(
            &at(3, 200, std::slice::from_ref(&template)),
            "live",
            &mut rows,
        );
        assert_eq!((report.flows, report.errors.len()), (3, 0));
        assert_eq!(decoder.held(), (0, 0));
        assert!(rows
            .iter()
            .all(|r| r.packets == flow.packets && r.bytes == flow.bytes));
        let stats = &decoder.exporter_stats()[0];
        assert_eq!((stats.packets, stats.flows, stats.errors), (3, 3, 0));

        // Another exporter's template 256 does not release this one's data.
        let mut decoder = Decoder::new(&DecodeConfig {
            template_wait_ms: 1000,
            ..config(8)
        });
        rows.clear();
        decoder.decode(&at(1, 0, std::slice::from_ref(&data)), "live", &mut rows);
        let other = Datagram {
            exporter: "192.0.2.2:1".parse().unwrap(),
            ..at(1, 10, std::slice::from_ref(&template))
        };
        decoder.decode(&other, "live", &mut rows);
        assert_eq!((rows.len(), decoder.held().0), (0, 1));
        // Past the wait it is counted as missing its template.
        let report = decoder.decode(&at(2, 1000, &[]), "live", &mut rows);
        assert!(
            report.errors.contains(&ErrorReason::MissingTemplate),
            "{report:?}"
        );
        assert_eq!(decoder.held(), (0, 0));

        // The memory bound drops the oldest held flowset first.
        let one = at(1, 0, std::slice::from_ref(&data)).payload.len();
        let mut decoder = Decoder::new(&DecodeConfig {
            template_wait_ms: 1000,
            template_wait_bytes: one * 2,
            ..config(8)
        });
        let mut errors = Vec::new();
        for seq in 1..=3 {
            errors.extend(
                decoder
                    .decode(&at(seq, 0, std::slice::from_ref(&data)), "live", &mut rows)
                    .errors,
            );
        }
        assert_eq!(errors, [ErrorReason::MissingTemplate]);
        assert_eq!(decoder.held(), (2, one * 2));
    }

    #[test]
    fn the_fast_path_reads_records_as_netflow_parser_does() {
        // Two layouts: the exporter's own, and one with uptime times, a
        // 3-byte counter and padding after the records.
        let odd: Vec<(u16, u16)> = vec![
            (8, 4),
            (12, 4),
            (7, 2),
            (11, 2),
            (4, 1),
            (1, 3),
            (2, 4),
            (22, 4),
            (21, 4),
        ];
        for fields in [FIELDS_V4, odd.as_slice()] {
            let records: Vec<Vec<u8>> = (0..5)
                .map(|i| v9::record(&v9::sample_flow(i, BOOT_MS + 5_000), fields, BOOT_MS))
                .collect();
            let data = v9::data(300, &records);
            let template = v9::template(300, fields);
            // Slow: template and data in one packet, all through netflow_parser.
            let mut slow = Vec::new();
            let payload = v9::packet(
                1,
                0,
                UPTIME_MS,
                EXPORT_SECS,
                6,
                &[template.clone(), data.clone()],
            );
            Decoder::new(&config(8)).decode(&datagram("192.0.2.1:1", payload), "live", &mut slow);
            // Fast: template first, then a data-only packet.
            let mut decoder = Decoder::new(&config(8));
            let mut fast = Vec::new();
            let payload = v9::packet(1, 0, UPTIME_MS, EXPORT_SECS, 1, &[template]);
            decoder.decode(&datagram("192.0.2.1:1", payload), "live", &mut fast);
            assert!(decoder.domains.values().all(|d| d.plans.contains_key(&300)));
            let payload = v9::packet(1, 1, UPTIME_MS, EXPORT_SECS, 5, &[data]);
            let report = decoder.decode(&datagram("192.0.2.1:1", payload), "live", &mut fast);
            assert_eq!((report.flows, report.errors.len()), (5, 0));
            assert_eq!(slow.len(), 5);
            assert_eq!(fast, slow);
        }
    }

    #[test]
    fn a_template_flood_is_bounded_per_scope_and_counted() {
        let cap = 16;
        let mut decoder = Decoder::new(&DecodeConfig {
            max_templates: cap,
            ..config(8)
        });
        let mut rows = Vec::new();
        // 1,000 packets of 10 new templates each: 10,000 template ids.
        let mut evicted = 0;
        for n in 0..1000u16 {
            let templates: Vec<Vec<u8>> = (0..10)
                .map(|i| v9::template(256 + n * 10 + i, FIELDS_V4))
                .collect();
            let payload = v9::packet(1, u32::from(n), UPTIME_MS, EXPORT_SECS, 10, &templates);
            let report = decoder.decode(&datagram("192.0.2.9:9", payload), "live", &mut rows);
            evicted += report.templates_evicted;
        }
        assert_eq!(evicted, 10_000 - cap as u64);
        assert!(decoder.domains.values().all(|d| d.plans.len() <= cap));
        let kept: usize = decoder
            .parser
            .v9_info()
            .iter()
            .map(|(_, i)| i.v9.current_size)
            .sum();
        assert!(kept <= cap, "the parser keeps {kept} templates");
        // The latest template still decodes, through either path.
        let last = 256 + 9999;
        let records = vec![v9::record(
            &v9::sample_flow(1, BOOT_MS + 5_000),
            FIELDS_V4,
            BOOT_MS,
        )];
        let payload = v9::packet(
            1,
            1000,
            UPTIME_MS,
            EXPORT_SECS,
            1,
            &[v9::data(last, &records)],
        );
        let report = decoder.decode(&datagram("192.0.2.9:9", payload), "live", &mut rows);
        assert_eq!((report.flows, report.errors.len()), (1, 0));
    }

    #[test]
    fn a_redefined_template_replaces_the_old_one() {
        let flow = v9::sample_flow(5, BOOT_MS);
        let old: Vec<(u16, u16)> = vec![(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4)];
        let new: Vec<(u16, u16)> = vec![(12, 4), (8, 4), (4, 1), (1, 8), (2, 8), (11, 2), (7, 2)];
        let mut decoder = Decoder::new(&config(8));
        let mut rows = Vec::new();
        for (seq, fields) in [(1, &old), (2, &new)] {
            let payload = v9::packet(
                1,
                seq,
                UPTIME_MS,
                EXPORT_SECS,
                2,
                &[
                    v9::template(256, fields),
                    v9::data(256, &[v9::record(&flow, fields, BOOT_MS)]),
                ],
            );
            let report = decoder.decode(&datagram("192.0.2.1:9", payload), "live", &mut rows);
            assert_eq!(report.errors, []);
        }
        // Data alone after the redefinition uses the new layout.
        let payload = v9::packet(
            1,
            3,
            UPTIME_MS,
            EXPORT_SECS,
            1,
            &[v9::data(256, &[v9::record(&flow, &new, BOOT_MS)])],
        );
        decoder.decode(&datagram("192.0.2.1:9", payload), "live", &mut rows);
        assert_eq!(rows.len(), 3);
        for row in &rows {
            assert_eq!(addr_from_bytes(row.src_addr), IpAddr::V4(flow.src));
            assert_eq!(addr_from_bytes(row.dst_addr), IpAddr::V4(flow.dst));
            assert_eq!((row.src_port, row.dst_port), (flow.src_port, flow.dst_port));
            assert_eq!((row.packets, row.bytes), (flow.packets, flow.bytes));
        }
        assert_eq!(decoder.exporter_stats()[0].templates, 1);
    }

    #[test]
    fn dataset_from_options_and_exporter_stats() {
        let flow = v9::sample_flow(2, BOOT_MS);
        let replay = |seq: u32, dataset: &str| {
            v9::packet(
                7,
                seq,
                UPTIME_MS,
                EXPORT_SECS,
                4,
                &[
                    v9::options_template(TEMPLATE_OPTIONS, OPTION_SCOPES, OPTION_FIELDS),
                    v9::data(
                        TEMPLATE_OPTIONS,
                        &[v9::dataset_record(7, "esx-07", dataset)],
                    ),
                    v9::template(TEMPLATE_V4, FIELDS_V4),
                    v9::data(
                        TEMPLATE_V4,
                        &[
                            v9::record(&flow, FIELDS_V4, BOOT_MS),
                            v9::record(&flow, FIELDS_V4, BOOT_MS),
                        ],
                    ),
                ],
            )
        };
        let mut decoder = Decoder::new(&config(8));
        let mut rows = Vec::new();
        decoder.decode(
            &datagram("192.0.2.9:5000", replay(0, "incident-42")),
            "live",
            &mut rows,
        );
        // A live exporter without a dataset field, template 256 as well.
        decoder.decode(
            &datagram("192.0.2.10:5000", eastwest_packet(&flow)),
            "live",
            &mut rows,
        );
        // Sequence 1 then 5: one gap.
        decoder.decode(
            &datagram("192.0.2.9:5000", replay(1, "incident-42")),
            "live",
            &mut rows,
        );
        decoder.decode(
            &datagram("192.0.2.9:5000", replay(5, "incident-42")),
            "live",
            &mut rows,
        );
        let datasets: Vec<&str> = rows.iter().map(|r| r.dataset.as_str()).collect();
        assert_eq!(
            datasets,
            [
                "incident-42",
                "incident-42",
                "live",
                "incident-42",
                "incident-42",
                "incident-42",
                "incident-42"
            ]
        );
        let stats = decoder.exporter_stats();
        assert_eq!(stats.len(), 2, "{stats:?}");
        let (replayer, live) = (&stats[0], &stats[1]);
        assert_eq!(replayer.exporter, "192.0.2.9".parse::<IpAddr>().unwrap());
        assert_eq!(
            (replayer.port, replayer.source_id, replayer.version),
            (5000, 7, 9)
        );
        assert_eq!(
            (replayer.name.as_str(), replayer.dataset.as_str()),
            ("esx-07", "incident-42")
        );
        assert_eq!(
            (replayer.packets, replayer.flows, replayer.sequence_gaps),
            (3, 6, 3)
        );
        assert_eq!((replayer.templates, replayer.errors), (2, 0));
        assert_eq!(
            (replayer.first_seen_ms, replayer.last_seen_ms),
            (1_700_000_061_234, 1_700_000_061_234)
        );
        assert_eq!(live.exporter, "192.0.2.10".parse::<IpAddr>().unwrap());
        assert_eq!((live.name.as_str(), live.dataset.as_str()), ("esx-07", ""));
        assert_eq!((live.packets, live.flows, live.templates), (1, 1, 2));
        // An empty dataset name turns the exporter back to live.
        rows.clear();
        decoder.decode(
            &datagram("192.0.2.9:5000", replay(6, "")),
            "live",
            &mut rows,
        );
        assert!(rows.iter().all(|r| r.dataset == "live"), "{rows:?}");
        assert_eq!(decoder.exporter_stats()[0].dataset, "");
    }

    /// xorshift64: deterministic "random" bytes.
    fn noise(state: &mut u64) -> u8 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 24) as u8
    }

    #[test]
    fn garbage_truncation_and_corruption_never_panic() {
        let flow = v9::sample_flow(3, BOOT_MS);
        let good = eastwest_packet(&flow);
        let mut decoder = Decoder::new(&config(4));
        let mut rows = Vec::new();
        let mut errors = 0;
        for len in 0..good.len() {
            let report = decoder.decode(
                &datagram("192.0.2.1:1", good[..len].to_vec()),
                "live",
                &mut rows,
            );
            errors += report.errors.len();
        }
        assert!(errors > 0, "truncated packets must be reported");
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for round in 0..20_000u32 {
            let mut payload = if round % 2 == 0 {
                let len = usize::from(noise(&mut state)) * 4;
                let mut bytes: Vec<u8> = (0..len).map(|_| noise(&mut state)).collect();
                // Valid versions, so the parser goes past the first check.
                if bytes.len() >= 2 {
                    bytes[0] = 0;
                    bytes[1] = [5, 9, 10][usize::from(noise(&mut state)) % 3];
                }
                bytes
            } else {
                good.clone()
            };
            if round % 2 == 1 {
                for _ in 0..1 + noise(&mut state) % 8 {
                    let at = usize::from(noise(&mut state)) % payload.len();
                    payload[at] = noise(&mut state);
                }
            }
            // A few exporters, so corrupted templates land in several scopes.
            let exporter = format!("192.0.2.{}:9", round % 5);
            decoder.decode(&datagram(&exporter, payload), "live", &mut rows);
            rows.clear();
        }
        let mut fresh = Vec::new();
        let report =
            Decoder::new(&config(4)).decode(&datagram("192.0.2.200:1", good), "live", &mut fresh);
        assert_eq!((report.flows, report.errors.len()), (1, 0));
    }
}
