//! The index of the open segment, in memory, and its grouping by key
//! when sealed.

use std::hash::BuildHasher;

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
    #[inline]
    pub(super) fn add(&mut self, key: Option<StoreKey>, e: Entry) {
        self.first_ns.get_or_insert(e.ts_ns);
        match key {
            Some(k) => self.frames.push((k, e)),
            None => self.unindexed = self.unindexed.saturating_add(1),
        }
    }

    pub(super) fn finish(self, source: SourceKind, path: String, covered: u64) -> Index {
        // Sort (key hash, time, capture order) triples of integers rather
        // than the keys themselves (comparing two keys is a dozen field
        // compares): the frames of a flow come together, in time order. Two
        // keys of one hash interleaved in time would make two runs of the
        // same key, which the index allows.
        let hasher = foldhash::fast::FixedState::default();
        let mut order: Vec<(u64, u64, u32)> = self
            .frames
            .iter()
            .enumerate()
            .map(|(i, (k, e))| (hasher.hash_one(k), e.ts_ns, i as u32))
            .collect();
        order.sort_unstable();
        let mut flows: Vec<(StoreKey, Vec<Entry>)> = Vec::new();
        for (_, _, i) in order {
            let Some(&(k, e)) = self.frames.get(i as usize) else {
                continue;
            };
            match flows.last_mut() {
                Some((last, list)) if *last == k => list.push(e),
                _ => flows.push((k, vec![e])),
            }
        }
        Index::build(source, path, covered, self.unindexed, flows)
    }
}
