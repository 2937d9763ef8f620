//! The index of the open segment, in memory, and its grouping by key
//! when sealed.

use hashbrown::HashMap;

use super::format::FlowRef;
use super::{Entry, Index, SourceKind, StoreKey};

/// The index of the open segment, in memory: one (key, entry) per frame,
/// appended in capture order (sequential memory, no per-frame lookup);
/// grouped by key when sealed, on the sealer thread.
#[derive(Debug, Default)]
pub(super) struct Builder {
    frames: Vec<(StoreKey, Entry)>,
    unindexed: u32,
    pub(super) first_ns: Option<u64>,
}

impl Builder {
    /// An empty index with room for `frames` frames (the previous
    /// segment's count: the vector does not grow by copying).
    pub(super) fn with_capacity(frames: usize) -> Self {
        Builder {
            frames: Vec::with_capacity(frames),
            unindexed: 0,
            first_ns: None,
        }
    }

    /// Frames indexed so far.
    pub(super) fn len(&self) -> usize {
        self.frames.len()
    }

    #[inline]
    pub(super) fn add(&mut self, key: Option<StoreKey>, e: Entry) {
        self.first_ns.get_or_insert(e.ts_ns);
        match key {
            Some(k) => self.frames.push((k, e)),
            None => self.unindexed = self.unindexed.saturating_add(1),
        }
    }

    /// Group the frames by key: one pass numbers the keys in the order
    /// of their first frame (a hash map of the segment's flows, not of
    /// its frames) and counts each flow's frames, a second puts every
    /// entry in its flow's place, in capture order (then in time order,
    /// sorted only where capture order was not).
    pub(super) fn finish(self, source: SourceKind, path: String, covered: u64) -> Index {
        let hasher = foldhash::fast::FixedState::default();
        // Sized for a few frames a flow: it seldom grows.
        let mut ids: HashMap<StoreKey, u32, _> =
            HashMap::with_capacity_and_hasher(self.frames.len() / 4, hasher);
        let mut flows: Vec<FlowRef> = Vec::new();
        let mut flow_of: Vec<u32> = Vec::with_capacity(self.frames.len());
        for (k, _) in &self.frames {
            let id = *ids.entry(*k).or_insert_with(|| {
                flows.push(FlowRef {
                    key: *k,
                    first: 0,
                    count: 0,
                });
                (flows.len() - 1) as u32
            });
            if let Some(f) = flows.get_mut(id as usize) {
                f.count += 1;
            }
            flow_of.push(id);
        }
        drop(ids);
        // Where each flow's next entry goes.
        let mut next = Vec::with_capacity(flows.len());
        let mut at = 0usize;
        for f in &mut flows {
            f.first = at as u64;
            next.push(at);
            at += f.count as usize;
        }
        let placeholder = Entry {
            pos: 0,
            ts_ns: 0,
            cap_len: 0,
            wire_len: 0,
        };
        let mut entries = vec![placeholder; at];
        for ((_, e), &id) in self.frames.iter().zip(&flow_of) {
            if let Some(slot) = next.get_mut(id as usize) {
                if let Some(place) = entries.get_mut(*slot) {
                    *place = *e;
                }
                *slot += 1;
            }
        }
        for f in &flows {
            let run = entries
                .get_mut(f.first as usize..f.first as usize + f.count as usize)
                .unwrap_or_default();
            if !run.is_sorted_by_key(|e| e.ts_ns) {
                // Stable: frames of one time keep their capture order.
                run.sort_by_key(|e| e.ts_ns);
            }
        }
        Index::from_flows(source, path, covered, self.unindexed, flows, entries)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn finish_groups_by_key_in_time_order() {
        let key = |port: u16| StoreKey {
            a: IpAddr::from([10, 0, 0, 1]),
            b: IpAddr::from([10, 0, 0, 2]),
            a_port: port,
            b_port: 80,
            proto: 6,
            vlan: 0,
            vni: 0,
            domain: 1,
        };
        let entry = |pos: u64, ts_ns: u64| Entry {
            pos,
            ts_ns,
            cap_len: 60,
            wire_len: 60,
        };
        let mut b = Builder::with_capacity(8);
        // Capture order is not time order for port 2's frames.
        b.add(Some(key(2)), entry(16, 30));
        b.add(Some(key(1)), entry(92, 10));
        b.add(None, entry(168, 11));
        b.add(Some(key(2)), entry(244, 20));
        b.add(Some(key(1)), entry(320, 40));
        b.add(Some(key(2)), entry(396, 30));
        let idx = b.finish(SourceKind::Segment, String::new(), 472);
        assert_eq!(idx.header.frames, 5);
        assert_eq!(idx.header.unindexed, 1);
        assert_eq!((idx.header.first_ns, idx.header.last_ns), (10, 40));
        let flows: Vec<_> = idx
            .flows
            .iter()
            .map(|f| (f.key.a_port, f.first, f.count))
            .collect();
        assert_eq!(
            flows,
            [(2, 0, 3), (1, 3, 2)],
            "in the order of their first frame"
        );
        let pos: Vec<_> = idx.entries.iter().map(|e| e.pos).collect();
        assert_eq!(pos, [244, 16, 396, 92, 320]);
        assert_eq!(Index::parse(&idx.encode()).expect("parses"), idx);
    }
}
