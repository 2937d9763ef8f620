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
//!
//! Here: the [`Decoder`], its per-scope state and the rows' scope. By
//! responsibility: `v9` (the fast path and the parsed packets), `ipfix`,
//! `v5`, `templates` (plans of v9 templates, data held until its template
//! comes), `sequence` (gaps, late and duplicate packets) and `fields` (the
//! field mapping and the row).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use eastwest_clickhouse::schema::row::Name;
use eastwest_clickhouse::schema::{addr_to_bytes, datetime_of_ms, FlowRow};
use netflow_parser::variable_versions::ipfix::lookup::IANAIPFixField;
use netflow_parser::{AutoScopedParser, NetflowError, NetflowPacket, NetflowParser};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use tokio::sync::watch;

use crate::config::DecodeConfig;
use crate::metrics::{counter, gauge, labelled, Counter, Gauge, Registry};

mod fields;
mod ipfix;
mod sequence;
mod templates;
#[cfg(test)]
mod tests;
mod v5;
mod v9;

use fields::{Clock, Fields, MAPPED};
use sequence::Sequence;
use templates::{Held, Plan};

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
    /// The exporter's evidence server from an options record ("" = none).
    evidence_url: String,
    /// Sampling interval from an options record.
    sampling: Option<u32>,
    /// systemInitTimeMilliseconds (IPFIX) from an options record.
    sys_init_ms: Option<u64>,
    sequence: Sequence,
    /// Record layouts of this scope's v9 data templates, for the fast path.
    plans: foldhash::HashMap<u16, Arc<Plan>>,
    version: u16,
    first_seen_ms: u64,
    last_seen_ms: u64,
    packets: u64,
    flows: u64,
    sequence_gaps: u64,
    late: u64,
    errors: u64,
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
    /// The base URL of its evidence server (packets, `GET /packets`) its
    /// options record announces; empty when none.
    pub evidence_url: String,
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

/// Decode's counters (`eastwest_collector_decode_*`), and the latest
/// per-(exporter, source id) snapshot.
#[derive(Debug)]
pub struct DecodeMetrics {
    /// Datagrams taken off the queue by decode (queue depth = received -
    /// dropped - denied - decoded).
    pub packets: Counter,
    pub flows: Counter,
    /// Export packets that arrived after a later one of the same scope.
    pub late: Counter,
    /// Data flowsets put on hold until their template arrives.
    pub held: Counter,
    pub templates_evicted: Counter,
    /// Held flowsets (and their bytes) waiting for a template right now.
    pub held_flowsets: Gauge,
    pub held_bytes: Gauge,
    /// One per [`ErrorReason::ALL`], in that order.
    errors: [Counter; ErrorReason::ALL.len()],
    /// The latest per-(exporter, source id) snapshot, published by decode
    /// about once a second; the sink writes it to the `exporters` table and
    /// each scrape shows the per-exporter series from it.
    pub exporters: watch::Sender<Arc<[ExporterStats]>>,
}

impl DecodeMetrics {
    /// The counters, registered in `registry`.
    pub fn new(registry: &mut Registry) -> Arc<DecodeMetrics> {
        let packets = counter(registry, "decode_packets", "Datagrams decoded");
        let flows = counter(registry, "decode_flows", "Flow records decoded");
        let late = counter(
            registry,
            "decode_late_packets",
            "Export packets that arrived after a later one of the same (exporter, source id); their units were counted in decode_sequence_gaps_total",
        );
        let held = counter(
            registry,
            "decode_held_flowsets",
            "Data flowsets that arrived before their template and were held for it",
        );
        let templates_evicted = counter(
            registry,
            "decode_templates_evicted",
            "v9 data templates forgotten because their (exporter, source id) already held decode.max_templates",
        );
        let held_flowsets = gauge(
            registry,
            "decode_held_flowsets",
            "Data flowsets waiting for their template now",
        );
        let held_bytes = gauge(
            registry,
            "decode_held_bytes",
            "Bytes of data flowsets waiting for their template now",
        );
        let errors = labelled(
            registry,
            "decode_errors",
            "Datagrams, flowsets or records that could not be decoded, by reason",
            "reason",
            ErrorReason::ALL.map(ErrorReason::as_str),
        );
        let metrics = Arc::new(DecodeMetrics {
            packets,
            flows,
            late,
            held,
            templates_evicted,
            held_flowsets,
            held_bytes,
            errors,
            exporters: watch::Sender::default(),
        });
        registry.register_collector(Box::new(ExporterFigures(metrics.clone())));
        metrics
    }

    pub fn error(&self, reason: ErrorReason) {
        self.errors[reason as usize].inc();
    }

    pub fn errors(&self, reason: ErrorReason) -> u64 {
        self.errors[reason as usize].get()
    }
}

/// The per-(exporter, source id) series, from decode's latest snapshot.
#[derive(Debug)]
struct ExporterFigures(Arc<DecodeMetrics>);

impl Collector for ExporterFigures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let exporters = self.0.exporters.borrow().clone();
        encoder
            .encode_descriptor(
                "decode_exporters",
                "(exporter, source id) scopes heard and remembered.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&(exporters.len() as u64))?;
        let labels: Vec<[(&str, String); 2]> = exporters
            .iter()
            .map(|e| {
                [
                    ("exporter", e.exporter.to_string()),
                    ("source_id", e.source_id.to_string()),
                ]
            })
            .collect();
        type Series = (&'static str, &'static str, fn(&ExporterStats) -> u64);
        let series: [Series; 2] = [
            (
                "decode_sequence_gaps",
                "Export packets (v9) or records (IPFIX, v5) the sequence numbers say were missed, per (exporter, source id).",
                |e| e.sequence_gaps,
            ),
            (
                "decode_exporter_flows",
                "Flow records decoded, per (exporter, source id).",
                |e| e.flows,
            ),
        ];
        for (name, help, value) in series {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (e, label) in exporters.iter().zip(&labels) {
                family
                    .encode_family(label)?
                    .encode_counter::<NoLabelSet, _, u64>(&value(e), None)?;
            }
        }
        Ok(())
    }
}

/// The decode stage: template-scoped parser plus per-domain state.
#[derive(Debug)]
pub struct Decoder {
    parser: AutoScopedParser,
    domains: foldhash::HashMap<(SocketAddr, u32), Domain>,
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
            domains: foldhash::HashMap::default(),
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
                evidence_url: d.evidence_url.clone(),
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

    fn learn_options(&mut self, dg: &Datagram, source_id: u32, fields: Fields) {
        let domain = self.domain(dg.exporter, source_id, dg.received_ms);
        if let Some(name) = fields.domain_name.filter(|n| !n.is_empty()) {
            domain.name = Some(name.into());
        }
        // An empty dataset name means live traffic: the default applies.
        if let Some(dataset) = fields.dataset {
            domain.dataset = (!dataset.is_empty()).then(|| dataset.into());
        }
        if let Some(url) = fields.evidence_url {
            domain.evidence_url = url;
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
        fields: &Fields,
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
fn emit(
    fields: &Fields,
    clock: &Clock,
    scope: &Scope,
    out: &mut Vec<FlowRow>,
    report: &mut Report,
) {
    let sampling = fields
        .sampling
        .filter(|&s| s > 0)
        .or(scope.sampling)
        .unwrap_or(1);
    if !fields.push_row(clock, sampling, scope, out) {
        report.errors.push(ErrorReason::MissingAddress);
    }
}

/// Length of a v9 export packet header.
pub(super) const V9_HEADER_LEN: usize = 20;
/// Length of an IPFIX message header.
pub(super) const IPFIX_HEADER_LEN: usize = 16;
