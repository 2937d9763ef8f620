//! The index of the open segment, in memory, and its grouping by key
//! when sealed.

use hashbrown::HashMap;

use super::format::FlowRef;
use super::{Entry, Index, SourceKind, StoreKey};
use crate::cache::FlowId;

/// The cache's flows as the open index knows them, by [`FlowId`] slot:
/// kept by the writer from one index to the next (a slot is learned
/// again in each index), so a frame of a flow already seen costs an
/// array access, not a key.
#[derive(Debug, Default)]
pub(super) struct FlowIds {
    /// By slot: the index (its number) that learned it, the generation of
    /// the flow that held it then and that flow's place in the index's
    /// keys.
    seen: Vec<(u32, u32, u32)>,
    /// The number of the open index (0: none yet).
    index: u32,
}

impl FlowIds {
    /// Look `flow`'s slot up without using the answer, ahead of its
    /// [`Builder::add_flow`] (as the cache's own look-ahead does): the
    /// array is as large as the cache and read in its order.
    #[inline]
    pub(super) fn touch(&self, flow: FlowId) {
        std::hint::black_box(self.seen.get(flow.slot as usize).map(|s| s.0));
    }

    /// The number of a new index: nothing is known in it yet.
    fn next_index(&mut self) -> u32 {
        self.index = self.index.wrapping_add(1);
        if self.index == 0 {
            // Numbers went round: forget them all.
            self.seen.clear();
            self.index = 1;
        }
        self.index
    }
}

/// The index of the open segment, in memory: one (flow, entry) per
/// frame, appended in capture order (sequential memory, no per-frame
/// lookup), each flow's key learned once; grouped by key when sealed, on
/// the sealer thread.
#[derive(Debug)]
pub(super) struct Builder {
    /// Each frame's place in `keys` and its entry.
    frames: Vec<(u32, Entry)>,
    /// The keys of the index's flows (a cache flow's, or a frame's when
    /// it came with its key), in the order of their first frame; a key
    /// can be there more than once (both directions of a conversation,
    /// the slices of a long flow), grouped when sealed.
    keys: Vec<StoreKey>,
    /// This index's number in [`FlowIds`].
    index: u32,
    unindexed: u32,
    pub(super) first_ns: Option<u64>,
}

/// The vectors of a sealed [`Builder`], emptied, for the next one: the
/// sealer hands them back to the writer, so an index is built in memory
/// already mapped (fresh pages cost a page fault each, kernel time).
#[derive(Debug, Default)]
pub(super) struct Spare {
    frames: Vec<(u32, Entry)>,
    keys: Vec<StoreKey>,
}

/// The sealer's working memory, kept from one index to the next (for the
/// same reason as [`Spare`]): the grouping's map and arrays, the index's
/// flows and entries, and the encoded file.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    ids: HashMap<StoreKey, u32, foldhash::fast::FixedState>,
    flow_of: Vec<u32>,
    next: Vec<usize>,
    flows: Vec<FlowRef>,
    entries: Vec<Entry>,
    /// The encoded index ([`Scratch::encode`]).
    pub(super) bytes: Vec<u8>,
}

impl Scratch {
    /// Encode `index` into [`Scratch::bytes`] and keep its vectors for
    /// the next.
    pub(super) fn encode(&mut self, index: Index) -> super::format::IndexHeader {
        index.encode_into(&mut self.bytes);
        self.flows = index.flows;
        self.entries = index.entries;
        index.header
    }
}

impl Builder {
    /// An empty index in `spare`'s memory with room for `frames` frames
    /// (the previous segment's count: the vector does not grow by
    /// copying), numbered in `ids`.
    pub(super) fn new(spare: Spare, frames: usize, ids: &mut FlowIds) -> Self {
        let Spare {
            frames: mut frame_vec,
            mut keys,
        } = spare;
        frame_vec.clear();
        frame_vec.reserve(frames);
        keys.clear();
        Builder {
            frames: frame_vec,
            keys,
            index: ids.next_index(),
            unindexed: 0,
            first_ns: None,
        }
    }

    /// Frames indexed so far.
    pub(super) fn len(&self) -> usize {
        self.frames.len()
    }

    /// Index a frame under `key` (`None`: not IP).
    #[inline]
    pub(super) fn add(&mut self, key: Option<StoreKey>, e: Entry) {
        self.first_ns.get_or_insert(e.ts_ns);
        match key {
            Some(k) => {
                self.frames.push((self.keys.len() as u32, e));
                self.keys.push(k);
            }
            None => self.unindexed = self.unindexed.saturating_add(1),
        }
    }

    /// Index a frame of the cache's flow `flow`, whose key `key` gives
    /// (asked only on the flow's first frame in this index).
    #[inline]
    pub(super) fn add_flow(
        &mut self,
        ids: &mut FlowIds,
        flow: FlowId,
        key: impl FnOnce() -> StoreKey,
        e: Entry,
    ) {
        self.first_ns.get_or_insert(e.ts_ns);
        let slot = flow.slot as usize;
        if ids.seen.len() <= slot {
            ids.seen.resize(slot + 1, (0, 0, 0));
        }
        let Some(seen) = ids.seen.get_mut(slot) else {
            return;
        };
        if (seen.0, seen.1) != (self.index, flow.generation) {
            *seen = (self.index, flow.generation, self.keys.len() as u32);
            self.keys.push(key());
        }
        self.frames.push((seen.2, e));
    }

    /// Group the frames by key, in `scratch`'s memory: one pass counts
    /// the frames of each of `keys` (an array), a walk of `keys` numbers
    /// the keys in the order of their first frame (a hash map of the
    /// segment's keys, looked up once for each of `keys`, not for each
    /// frame) and sums each flow's frames, a second pass puts every entry
    /// in its flow's place, in capture order (then in time order, sorted
    /// only where capture order was not). The builder's own vectors come
    /// back emptied, for the next.
    pub(super) fn finish(
        self,
        scratch: &mut Scratch,
        source: SourceKind,
        path: String,
        covered: u64,
    ) -> (Index, Spare) {
        let Scratch {
            ids,
            flow_of,
            next,
            flows,
            entries,
            ..
        } = scratch;
        ids.clear();
        ids.reserve(self.keys.len());
        let mut flows = std::mem::take(flows);
        flows.clear();
        // By place in `keys`: its frames, then its flow in `flows` (MAX:
        // none). A place is numbered on its first frame, so taking them
        // in order meets the keys in the order of their first frame.
        flow_of.clear();
        flow_of.resize(self.keys.len(), 0);
        for (k, _) in &self.frames {
            if let Some(n) = flow_of.get_mut(*k as usize) {
                *n += 1;
            }
        }
        for (n, key) in flow_of.iter_mut().zip(&self.keys) {
            let count = std::mem::replace(n, u32::MAX);
            if count == 0 {
                continue;
            }
            let id = *ids.entry(*key).or_insert_with(|| {
                flows.push(FlowRef {
                    key: *key,
                    first: 0,
                    count: 0,
                });
                (flows.len() - 1) as u32
            });
            *n = id;
            if let Some(f) = flows.get_mut(id as usize) {
                f.count += count;
            }
        }
        // Where each flow's next entry goes.
        next.clear();
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
        let mut entries = std::mem::take(entries);
        entries.clear();
        entries.resize(at, placeholder);
        for (k, e) in &self.frames {
            let id = flow_of.get(*k as usize).copied().unwrap_or(u32::MAX);
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
        let index = Index::from_flows(source, path, covered, self.unindexed, flows, entries);
        let spare = Spare {
            frames: self.frames,
            keys: self.keys,
        };
        (index, spare)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn key(port: u16) -> StoreKey {
        StoreKey {
            a: IpAddr::from([10, 0, 0, 1]),
            b: IpAddr::from([10, 0, 0, 2]),
            a_port: port,
            b_port: 80,
            proto: 6,
            vlan: 0,
            vni: 0,
            domain: 1,
        }
    }

    fn entry(pos: u64, ts_ns: u64) -> Entry {
        Entry {
            pos,
            ts_ns,
            cap_len: 60,
            wire_len: 60,
        }
    }

    #[test]
    fn finish_groups_by_key_in_time_order() {
        let mut b = Builder::new(Spare::default(), 8, &mut FlowIds::default());
        // Capture order is not time order for port 2's frames.
        b.add(Some(key(2)), entry(16, 30));
        b.add(Some(key(1)), entry(92, 10));
        b.add(None, entry(168, 11));
        b.add(Some(key(2)), entry(244, 20));
        b.add(Some(key(1)), entry(320, 40));
        b.add(Some(key(2)), entry(396, 30));
        let (idx, _) = b.finish(
            &mut Scratch::default(),
            SourceKind::Segment,
            String::new(),
            472,
        );
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

    #[test]
    fn a_flow_is_keyed_once_per_index_and_a_reused_slot_again() {
        let flow = |slot, generation| FlowId { slot, generation };
        let mut ids = FlowIds::default();
        let mut asked = Vec::new();
        let mut b = Builder::new(Spare::default(), 8, &mut ids);
        let mut add = |b: &mut Builder, ids: &mut FlowIds, id, port, pos| {
            b.add_flow(
                ids,
                id,
                || {
                    asked.push(pos);
                    key(port)
                },
                entry(pos, pos),
            );
        };
        add(&mut b, &mut ids, flow(0, 0), 1, 16);
        // The same flow: its key is not asked again.
        add(&mut b, &mut ids, flow(0, 0), 9, 92);
        // Slot 0 held by a later flow.
        add(&mut b, &mut ids, flow(0, 1), 2, 168);
        // The other direction of port 1's conversation.
        add(&mut b, &mut ids, flow(1, 2), 1, 244);
        add(&mut b, &mut ids, flow(0, 1), 9, 320);
        let (idx, _) = b.finish(
            &mut Scratch::default(),
            SourceKind::Segment,
            String::new(),
            400,
        );
        let flows: Vec<_> = idx
            .flows
            .iter()
            .map(|f| (f.key.a_port, f.first, f.count))
            .collect();
        assert_eq!(flows, [(1, 0, 3), (2, 3, 2)]);
        let pos: Vec<_> = idx.entries.iter().map(|e| e.pos).collect();
        assert_eq!(pos, [16, 92, 244, 168, 320]);
        // A new index learns its flows again.
        let mut c = Builder::new(Spare::default(), 8, &mut ids);
        add(&mut c, &mut ids, flow(0, 1), 2, 400);
        assert_eq!(asked, [16, 168, 244, 400]);
    }
}
