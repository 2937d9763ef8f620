//! NetFlow v5: fixed records, sampling from the header.

use std::net::IpAddr;

use eastwest_clickhouse::schema::{addr_to_bytes, FlowRow};
use netflow_parser::static_versions::v5::V5;

use super::fields::{Clock, Fields};
use super::{Datagram, Decoder, Report};

impl Decoder {
    pub(super) fn v5(
        &mut self,
        p: &V5,
        dg: &Datagram,
        out: &mut Vec<FlowRow>,
        report: &mut Report,
    ) {
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
                src: Some(addr_to_bytes(IpAddr::V4(flow.src_addr))),
                dst: Some(addr_to_bytes(IpAddr::V4(flow.dst_addr))),
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
            self.emit(&fields, &clock, dg, source_id, out, report);
        }
        self.tally(dg.exporter, source_id, gap, before, out, report);
    }
}
