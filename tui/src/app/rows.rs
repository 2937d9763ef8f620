//! The rows on screen: the current view's conversations or hosts,
//! filtered and sorted, and the rates shown for them.

use std::cmp::Ordering;

use super::{App, Column, Tab, View};
use crate::api::{Conversation, HostSummary, VerdictKind};

impl App {
    /// The conversations of the current list view, filtered and sorted.
    pub fn rows(&self) -> Vec<&Conversation> {
        let (list, window): (&[Conversation], Option<u64>) = match &self.frame().view {
            View::Tab(Tab::Conversations) => match &self.data.conversations {
                Some(p) => (&p.conversations, window_ms(p.from_ms, p.to_ms)),
                None => (&[], None),
            },
            View::Tab(Tab::Violations) => match &self.data.violations {
                Some(p) => (&p.violations, window_ms(p.from_ms, p.to_ms)),
                None => (&[], None),
            },
            View::Host(_) => match &self.data.host {
                Some(h) => (&h.conversations, None),
                None => (&[], None),
            },
            View::Vm(_) => match &self.data.vm {
                Some(v) => (&v.conversations, None),
                None => (&[], None),
            },
            View::ZonePair { .. } => match &self.data.conversations {
                Some(p) => (&p.conversations, window_ms(p.from_ms, p.to_ms)),
                None => (&[], None),
            },
            View::Tab(Tab::Zones | Tab::Hosts | Tab::Exporters) | View::Conversation(_) => {
                (&[], None)
            }
        };
        let pair = match &self.frame().view {
            View::ZonePair { client, server } => Some((client, server)),
            _ => None,
        };
        let mut rows: Vec<&Conversation> = list
            .iter()
            .filter(|c| self.filter.matches(c))
            .filter(|c| pair.is_none_or(|(cz, sz)| c.client_zone == *cz && c.server_zone == *sz))
            .collect();
        let sort = self.sort();
        rows.sort_by(|a, b| {
            let order = compare(sort.column, a, b, window);
            if sort.descending {
                order.reverse()
            } else {
                order
            }
        });
        rows
    }

    /// The rate window of the current list (see [`rate`]).
    pub fn window(&self) -> Option<u64> {
        match &self.frame().view {
            View::Tab(Tab::Violations) => self
                .data
                .violations
                .as_ref()
                .and_then(|p| window_ms(p.from_ms, p.to_ms)),
            View::Tab(Tab::Conversations) | View::ZonePair { .. } => self
                .data
                .conversations
                .as_ref()
                .and_then(|p| window_ms(p.from_ms, p.to_ms)),
            _ => None,
        }
    }

    /// The Hosts tab: hosts, most locally switched bytes first; the free
    /// words of the filter match host names.
    pub fn hosts(&self) -> Vec<&HostSummary> {
        let mut hosts: Vec<&HostSummary> = self
            .data
            .hosts
            .iter()
            .flat_map(|h| &h.hosts)
            .filter(|h| {
                self.filter
                    .words
                    .iter()
                    .all(|w| h.host.to_lowercase().contains(w))
            })
            .collect();
        hosts.sort_by(|a, b| {
            b.local_bytes
                .cmp(&a.local_bytes)
                .then(b.bytes.cmp(&a.bytes))
                .then(a.host.cmp(&b.host))
        });
        hosts
    }

    /// How many rows the current view has (for moving the selection).
    pub fn row_count(&self) -> usize {
        match &self.frame().view {
            View::Tab(Tab::Hosts) => self.hosts().len(),
            View::Tab(Tab::Exporters) => self
                .data
                .exporters
                .as_ref()
                .map_or(0, |e| e.exporters.len()),
            View::Tab(Tab::Zones) => 0,
            View::Conversation(_) => 2,
            _ => self.rows().len(),
        }
    }

    /// Zones of the matrix, in the server's order.
    pub fn zones(&self) -> &[String] {
        self.data.matrix.as_ref().map_or(&[], |m| &m.zones)
    }
}

fn window_ms(from: Option<u64>, to: Option<u64>) -> Option<u64> {
    match (from, to) {
        (Some(from), Some(to)) if to > from => Some(to - from),
        _ => None,
    }
}

/// Average rate of `amount` per second: over the query's window when it has
/// one (a live range), else over the conversation's own span, at least 1 s
/// (`all` over a replayed capture).
pub fn rate(amount: u64, c: &Conversation, window: Option<u64>) -> f64 {
    let ms = window.unwrap_or_else(|| c.end_ms.saturating_sub(c.start_ms).max(1000));
    // Display values: precision loss past 2^53 is irrelevant.
    #[allow(clippy::cast_precision_loss)]
    let value = amount as f64 * 1000.0 / ms as f64;
    value
}

fn compare(column: Column, a: &Conversation, b: &Conversation, window: Option<u64>) -> Ordering {
    let by_rate = |f: fn(&Conversation) -> u64| {
        rate(f(a), a, window)
            .partial_cmp(&rate(f(b), b, window))
            .unwrap_or(Ordering::Equal)
    };
    let primary = match column {
        Column::Client => a.client().cmp(b.client()),
        Column::Server => a.server().cmp(b.server()),
        Column::Zones => (&a.client_zone, &a.server_zone).cmp(&(&b.client_zone, &b.server_zone)),
        Column::Host => a.host().cmp(&b.host()),
        Column::Service => (a.proto, a.server_port).cmp(&(b.proto, b.server_port)),
        Column::BytesPerSec => by_rate(Conversation::bytes),
        Column::PacketsPerSec => by_rate(Conversation::packets),
        Column::Total => a.bytes().cmp(&b.bytes()),
        Column::Verdict => severity_rank(a).cmp(&severity_rank(b)),
        Column::LastSeen => a.end_ms.cmp(&b.end_ms),
    };
    // Ties in a stable, readable order.
    primary
        .then_with(|| a.client().cmp(b.client()))
        .then_with(|| a.server().cmp(b.server()))
        .then_with(|| a.server_port.cmp(&b.server_port))
}

/// Verdict order for sorting: violations (by severity, in
/// `eastwest_core::severity`'s order; `info` and an unknown severity alike)
/// above unknown endpoints above allowed.
fn severity_rank(c: &Conversation) -> u8 {
    match c.verdict {
        VerdictKind::Violation => 2 + c.severity.map_or(0, |s| s as u8),
        VerdictKind::Unknown => 1,
        VerdictKind::Allowed => 0,
    }
}
