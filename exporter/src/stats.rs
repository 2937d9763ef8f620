//! The run's counters: the end-of-run summary (stderr), `--stats-json`
//! (one JSON object on stdout) and the progress line.

use std::collections::BTreeMap;

use eastwest_core::flow::Encap;
use serde::Serialize;

use crate::cache::ExpiryCounters;
use crate::capture::KernelCounters;
use crate::store::StoreStatus;

/// Counters of one run. Field names are the JSON keys of `--stats-json`
/// (documented in the crate README).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Frames read from the capture.
    pub packets_read: u64,
    /// Their lengths on the wire, summed.
    pub bytes_read: u64,
    /// Frames metered, by how they were captured (every encapsulation
    /// present, zeros included).
    pub encapsulations: BTreeMap<&'static str, u64>,
    /// Inner IP bytes metered (the sum of IP total lengths).
    pub ip_bytes_metered: u64,
    /// Later IP fragments whose first fragment was not seen: metered (in
    /// `encapsulations` and `ip_bytes_metered`) under the flow of their
    /// addresses and protocol with ports 0.
    pub fragment_unmatched: u64,
    /// Frames not metered, by reason (`truncated`, `malformed`,
    /// `too_deep`, `not_ip`).
    pub decode_errors: BTreeMap<&'static str, u64>,
    /// Tunneled frames that matched no inventory host (metered under the
    /// exporter's own domain).
    pub unattributed: u64,
    /// Flow records opened in the cache.
    pub flows_created: u64,
    /// Flow records encoded and sent.
    pub flows_exported: u64,
    /// Why flows left the cache.
    pub expired: ExpiryCounters,
    /// NetFlow export packets built (each sent to every target).
    pub export_packets_sent: u64,
    /// Datagrams that failed to send.
    pub send_errors: u64,
    /// Flow records exported, by observation domain (Source ID).
    pub records_per_domain: BTreeMap<u32, u64>,
    /// Capture read errors (a corrupt or truncated file), one line each.
    pub capture_errors: Vec<String>,
    /// Live capture only (`null` for files): the kernel's counters, read
    /// every `capture.stats_interval_secs` and at the end.
    pub kernel: Option<KernelCounters>,
    /// With `--packet-store` (else `null`): what the store holds.
    pub store: Option<StoreStatus>,
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            encapsulations: Encap::ALL.iter().map(|e| (e.as_str(), 0)).collect(),
            ..Stats::default()
        }
    }

    /// Count `n` frames metered through `encap`.
    pub fn count_encap_n(&mut self, encap: Encap, n: u64) {
        *self.encapsulations.entry(encap.as_str()).or_default() += n;
    }

    pub fn count_error(&mut self, reason: &'static str) {
        *self.decode_errors.entry(reason).or_default() += 1;
    }

    /// Frames metered.
    pub fn metered(&self) -> u64 {
        self.encapsulations.values().sum()
    }

    /// One-line progress report.
    pub fn progress_line(&self, open_flows: usize) -> String {
        let mut line = format!(
            "packets {} | metered {} | open flows {} | exported {} in {} packets",
            self.packets_read,
            self.metered(),
            open_flows,
            self.flows_exported,
            self.export_packets_sent
        );
        if let Some(k) = &self.kernel {
            line += &format!(
                " | kernel dropped {} + {} by interface",
                k.dropped, k.if_dropped
            );
        }
        line
    }

    /// The human summary printed on stderr at the end.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "read {} packets ({} bytes); metered {} ({} IP bytes)\n",
            self.packets_read,
            self.bytes_read,
            self.metered(),
            self.ip_bytes_metered
        );
        let encaps: Vec<String> = self
            .encapsulations
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(e, n)| format!("{e} {n}"))
            .collect();
        if !encaps.is_empty() {
            s += &format!("  by encapsulation: {}\n", encaps.join(", "));
        }
        if !self.decode_errors.is_empty() {
            let errors: Vec<String> = self
                .decode_errors
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            s += &format!("  not metered: {}\n", errors.join(", "));
        }
        if self.fragment_unmatched > 0 {
            s += &format!(
                "  later fragments without their first (metered with ports 0): {}\n",
                self.fragment_unmatched
            );
        }
        if self.unattributed > 0 {
            s += &format!(
                "  unattributed (metered under the exporter's own domain): {}\n",
                self.unattributed
            );
        }
        s += &format!(
            "exported {} flows in {} NetFlow packets",
            self.flows_exported, self.export_packets_sent
        );
        if self.send_errors > 0 {
            s += &format!(" ({} send errors)", self.send_errors);
        }
        s += "\n";
        for (domain, n) in &self.records_per_domain {
            s += &format!("  domain {domain}: {n} flows\n");
        }
        if let Some(k) = &self.kernel {
            s += &format!(
                "kernel: received {}, dropped {} (capture buffer full), dropped by interface {}\n",
                k.received, k.dropped, k.if_dropped
            );
        }
        if let Some(st) = &self.store {
            s += &format!(
                "packet store: {} frames stored this run; holds {} segments, {} bytes\n",
                st.frames_stored, st.segments, st.bytes
            );
            if let Some(why) = &st.stopped {
                s += &format!("packet store stopped: {why}\n");
            }
        }
        for e in &self.capture_errors {
            s += &format!("capture error: {e}\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_encapsulation_and_the_counters() {
        let mut stats = Stats::new();
        stats.count_encap_n(Encap::ErspanI, 1);
        stats.count_error("not_ip");
        stats.count_error("not_ip");
        stats.records_per_domain.insert(3, 7);
        let json = serde_json::to_value(&stats).expect("json");
        assert_eq!(json["encapsulations"]["erspan1"], 1);
        assert_eq!(json["encapsulations"]["geneve"], 0);
        assert_eq!(json["decode_errors"]["not_ip"], 2);
        assert_eq!(json["records_per_domain"]["3"], 7);
        assert_eq!(json["expired"]["inactive"], 0);
        assert_eq!(stats.metered(), 1);
        let text = stats.summary();
        assert!(text.contains("erspan1 1"), "{text}");
        assert!(text.contains("not_ip 2"), "{text}");
        assert!(json["kernel"].is_null(), "files have no kernel counters");
        stats.kernel = Some(KernelCounters {
            received: 9,
            dropped: 4,
            if_dropped: 1,
        });
        let json = serde_json::to_value(&stats).expect("json");
        assert_eq!(json["kernel"]["dropped"], 4);
        assert_eq!(json["kernel"]["if_dropped"], 1);
        assert!(stats.summary().contains("dropped 4"));
        assert!(stats.progress_line(0).contains("kernel dropped 4 + 1"));
    }
}
