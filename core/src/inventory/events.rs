//! Inventory events: placements posted to the dashboard, applied over
//! the inventory files.

use super::record::{At, RawRecord, EVENT_PREFIX};
use super::values::parse_time;
use super::{Inventory, InventoryEvent};
use crate::config::ConfigError;

impl InventoryEvent {
    /// The event as a raw record; `line` numbers it in errors.
    fn raw(&self, line: usize) -> RawRecord {
        let at = |value: &str| At {
            value: value.to_string(),
            line,
        };
        let list = |l: &Option<Vec<String>>| l.as_ref().map(|l| l.iter().map(|v| at(v)).collect());
        RawRecord {
            name: at(&self.vm),
            since: Some(at(&self.time)),
            removed: self.removed,
            host: self.host.as_deref().map(at),
            macs: list(&self.macs),
            ips: list(&self.ips),
            port_group: self.port_group.clone(),
            vlan: self.vlan.map(|v| At {
                value: u64::from(v),
                line,
            }),
            vni: self.vni.map(|v| At {
                value: u64::from(v),
                line,
            }),
            tags: self.tags.clone(),
        }
    }

    /// The time the event took effect, epoch milliseconds.
    pub fn time_ms(&self) -> Result<u64, String> {
        parse_time(&self.time)
    }
}

impl Inventory {
    /// This inventory with `events` applied, and the events refused, each
    /// with why (`origin:N: event.field: ...`, N = 1-based position in
    /// `events`). A refused event changes nothing; the others still apply.
    pub fn with_events(
        &self,
        events: &[InventoryEvent],
        origin: &str,
    ) -> (Inventory, Vec<ConfigError>) {
        let mut refused = Vec::new();
        let mut records = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            match event.raw(i + 1).check(origin, EVENT_PREFIX) {
                Ok(record) => records.push(record),
                Err(err) => refused.push(err),
            }
        }
        let mut all = self.clone();
        all.records.extend(records.iter().cloned());
        if all.place().is_ok() {
            return (all, refused);
        }
        // Some event conflicts: apply them one by one to find which.
        let mut inv = self.clone();
        for record in records {
            let mut next = inv.clone();
            next.records.push(record);
            match next.place() {
                Ok(()) => inv = next,
                Err(err) => refused.push(err),
            }
        }
        if inv.place().is_err() {
            // Unreachable: `inv` only ever holds placements that built.
            return (self.clone(), refused);
        }
        (inv, refused)
    }
}
