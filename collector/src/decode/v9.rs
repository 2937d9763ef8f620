//! NetFlow v9: the fast path straight from the bytes with a template's
//! [`Plan`], and `netflow_parser`'s parsed packets.

use std::sync::Arc;

use eastwest_clickhouse::schema::FlowRow;
use netflow_parser::variable_versions::v9::{self, V9};

use super::fields::{raw, Clock, Fields};
use super::templates::Plan;
use super::{emit, Datagram, Decoder, Report, V9_HEADER_LEN};

impl Decoder {
    /// The fast path: a v9 export packet made only of data flowsets whose
    /// templates this scope defined earlier (the steady state of every
    /// exporter between template refreshes) is read straight from the
    /// bytes with the templates' [`Plan`]s and the same field mapping
    /// ([`Fields::put`]). Anything else (templates, options, unknown
    /// templates, odd lengths, other versions) returns `false` and goes to
    /// `netflow_parser`, which stays the authority on templates: plans are
    /// learnt from the templates it parsed.
    pub(super) fn v9_fast(
        &mut self,
        dg: &Datagram,
        out: &mut Vec<FlowRow>,
        report: &mut Report,
    ) -> bool {
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
                for &(slot, offset, width) in &plan.fields {
                    fields.put(slot, &record[offset..offset + width]);
                }
                emit(&fields, &clock, &scope, out, report);
            }
        }
        self.tally(dg.exporter, source_id, gap, before, out, report);
        true
    }

    pub(super) fn v9(
        &mut self,
        p: &V9,
        dg: &Datagram,
        out: &mut Vec<FlowRow>,
        report: &mut Report,
    ) {
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
                        self.emit(&fields, &clock, dg, source_id, out, report);
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
}
