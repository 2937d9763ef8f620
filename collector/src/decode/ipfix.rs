//! IPFIX: `netflow_parser`'s parsed messages, IANA elements mapped to the
//! field numbers v9 shares.

use eastwest_clickhouse::schema::FlowRow;
use netflow_parser::variable_versions::ipfix::lookup::IPFixField;
use netflow_parser::variable_versions::ipfix::{self, IPFix};
use netflow_parser::FieldValue;

use super::fields::{raw, Clock, Fields};
use super::{Datagram, Decoder, Report, IPFIX_HEADER_LEN};

impl Decoder {
    pub(super) fn ipfix(
        &mut self,
        p: &IPFix,
        dg: &Datagram,
        out: &mut Vec<FlowRow>,
        report: &mut Report,
    ) {
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
                        self.emit(&fields, &clock, dg, source_id, out, report);
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

    pub(super) fn ipfix_fields(&mut self, record: &[(IPFixField, FieldValue)]) -> Fields {
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
}
