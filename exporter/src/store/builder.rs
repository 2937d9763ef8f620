//! The index of the open segment, in memory, and its grouping by key
//! when sealed.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::durable::Aligned;
use super::format::{FlowRef, IndexHeader, INDEX_VERSION};
use super::{Entry, Index, SourceKind, StoreKey};
use crate::cache::{FlowId, StoreMark};

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

/// Where a frame written but not indexed (not IP) is in
/// [`Builder::places`].
const NO_KEY: u32 = u32::MAX;

/// The index of the open segment, in memory: each frame's entry,
/// appended when the frame is written, and its place among the index's
/// keys, appended when it is indexed (both in capture order: sequential
/// memory, no per-frame lookup), each flow's key learned once; grouped
/// by key when sealed, on the sealer thread.
#[derive(Debug)]
pub(super) struct Builder {
    /// Each frame's entry.
    entries: Vec<Entry>,
    /// Each indexed frame's place in `keys` ([`NO_KEY`]: not IP); as
    /// long as `entries` once every frame written is indexed.
    places: Vec<u32>,
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
    entries: Vec<Entry>,
    places: Vec<u32>,
    keys: Vec<StoreKey>,
}

/// The sealer's working memory, kept from one index to the next (for the
/// same reason as [`Spare`]): the grouping's table and arrays, the
/// index's flows, and the encoded file.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// The index's flows by the hash of their key: (hash, place in
    /// `flows`), 16 bytes a flow (the keys are in `flows`), so the table
    /// of a segment's flows stays in the CPU's cache.
    ids: HashTable<(u64, u32)>,
    flow_of: Vec<u32>,
    next: Vec<usize>,
    flows: Vec<FlowRef>,
    /// By place in the index: the builder's entry there.
    order: Vec<u32>,
    /// By flow: its newest capture time so far, and the flows whose
    /// frames were not captured in time order.
    last_ns: Vec<u64>,
    unsorted: Vec<u32>,
    /// The encoded index ([`Builder::finish`]).
    pub(super) index: Aligned,
}

impl Builder {
    /// An empty index in `spare`'s memory with room for `frames` frames
    /// (the previous segment's count: the vectors do not grow by
    /// copying), numbered in `ids`.
    pub(super) fn new(spare: Spare, frames: usize, ids: &mut FlowIds) -> Self {
        let Spare {
            mut entries,
            mut places,
            mut keys,
        } = spare;
        entries.clear();
        entries.reserve(frames);
        places.clear();
        places.reserve(frames);
        keys.clear();
        Builder {
            entries,
            places,
            keys,
            index: ids.next_index(),
            unindexed: 0,
            first_ns: None,
        }
    }

    /// Frames written so far.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// A frame written: its entry, indexed by the next [`Builder::place`]
    /// or [`Builder::place_flow`].
    #[inline]
    pub(super) fn push(&mut self, e: Entry) {
        self.first_ns.get_or_insert(e.ts_ns);
        self.entries.push(e);
    }

    /// Whether a frame written waits for its key (the one
    /// [`Builder::place`] would index).
    #[inline]
    fn waiting(&self) -> bool {
        self.places.len() < self.entries.len()
    }

    /// Index the oldest frame written and not indexed under `key`
    /// (`None`: not IP).
    #[inline]
    pub(super) fn place(&mut self, key: Option<StoreKey>) {
        if !self.waiting() {
            return;
        }
        match key {
            Some(k) => {
                self.places.push(self.keys.len() as u32);
                self.keys.push(k);
            }
            None => {
                self.places.push(NO_KEY);
                self.unindexed = self.unindexed.saturating_add(1);
            }
        }
    }

    /// [`Builder::push`] and [`Builder::place`] at once.
    pub(super) fn add(&mut self, key: Option<StoreKey>, e: Entry) {
        self.push(e);
        self.place(key);
    }

    /// The mark the next frame's flow takes if this index does not know
    /// it yet ([`FlowCache::ingest_marked`]); `None` when no frame waits
    /// for its key.
    ///
    /// [`FlowCache::ingest_marked`]: crate::cache::FlowCache::ingest_marked
    #[inline]
    pub(super) fn mark(&self) -> Option<StoreMark> {
        self.waiting().then_some(StoreMark {
            index: self.index,
            place: self.keys.len() as u32,
        })
    }

    /// Index the oldest frame written and not indexed, counted by the
    /// cache in a flow marked `mark` (what [`Builder::mark`] gave, or the
    /// flow's mark in this index), whose key `key` gives (asked only on
    /// the flow's first frame in this index).
    #[inline]
    pub(super) fn place_marked(&mut self, mark: StoreMark, key: impl FnOnce() -> StoreKey) {
        if !self.waiting() {
            return;
        }
        let place = mark.place as usize;
        if mark.index != self.index || place > self.keys.len() {
            // Not a mark of this index: the frame is not indexed.
            self.place(None);
            return;
        }
        if place == self.keys.len() {
            self.keys.push(key());
        }
        self.places.push(mark.place);
    }

    /// Index the oldest frame written and not indexed, of the cache's
    /// flow `flow`, whose key `key` gives (asked only on the flow's first
    /// frame in this index).
    #[inline]
    pub(super) fn place_flow(
        &mut self,
        ids: &mut FlowIds,
        flow: FlowId,
        key: impl FnOnce() -> StoreKey,
    ) {
        if !self.waiting() {
            return;
        }
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
        self.places.push(seen.2);
    }

    /// Group the frames by key and encode the index into
    /// `scratch.index`, in `scratch`'s memory: one pass counts the frames
    /// of each of `keys` (an array), a walk of `keys` numbers the keys in
    /// the order of their first frame (a hash table of the segment's
    /// keys, looked up once for each of `keys`, not for each frame) and sums
    /// each flow's frames, a second pass puts every entry's number in its
    /// flow's place, in capture order (then in time order, sorted only
    /// where a flow's times went back), and the entries are encoded in
    /// that order. Gives the index's header; the builder's own vectors
    /// come back emptied, for the next.
    pub(super) fn finish(
        self,
        scratch: &mut Scratch,
        source: SourceKind,
        path: String,
        covered: u64,
    ) -> (IndexHeader, Spare) {
        let Scratch {
            ids,
            flow_of,
            next,
            flows,
            order,
            last_ns,
            unsorted,
            index,
        } = scratch;
        ids.clear();
        ids.reserve(self.keys.len(), |&(h, _)| h);
        flows.clear();
        let hasher = foldhash::fast::FixedState::default();
        // By place in `keys`: its frames, then its flow in `flows` (MAX:
        // none). A place is numbered on its first frame, so taking them
        // in order meets the keys in the order of their first frame.
        flow_of.clear();
        flow_of.resize(self.keys.len(), 0);
        for &k in &self.places {
            if let Some(n) = flow_of.get_mut(k as usize) {
                *n += 1;
            }
        }
        for (n, key) in flow_of.iter_mut().zip(&self.keys) {
            let count = std::mem::replace(n, u32::MAX);
            if count == 0 {
                continue;
            }
            let hash = hasher.hash_one(key);
            let known = ids.find(hash, |&(h, id)| {
                h == hash && flows.get(id as usize).is_some_and(|f| f.key == *key)
            });
            let id = match known {
                Some(&(_, id)) => id,
                None => {
                    let id = flows.len() as u32;
                    flows.push(FlowRef {
                        key: *key,
                        first: 0,
                        count: 0,
                    });
                    ids.insert_unique(hash, (hash, id), |&(h, _)| h);
                    id
                }
            };
            *n = id;
            if let Some(f) = flows.get_mut(id as usize) {
                f.count += count;
            }
        }
        // Where each flow's next entry goes.
        next.clear();
        let mut at = 0usize;
        for f in flows.iter_mut() {
            f.first = at as u64;
            next.push(at);
            at += f.count as usize;
        }
        // Each entry's place: its number in `order` (four bytes a frame,
        // so the scattered writes stay in the CPU's cache), in capture
        // order within each flow; a flow whose times go back is noted.
        order.clear();
        order.resize(at, 0);
        last_ns.clear();
        last_ns.resize(flows.len(), 0);
        unsorted.clear();
        let (mut first, mut last) = (u64::MAX, 0);
        for (i, (&k, e)) in self.places.iter().zip(&self.entries).enumerate() {
            let id = flow_of.get(k as usize).copied().unwrap_or(u32::MAX) as usize;
            if let (Some(slot), Some(flow_last)) = (next.get_mut(id), last_ns.get_mut(id)) {
                if let Some(o) = order.get_mut(*slot) {
                    *o = i as u32;
                }
                *slot += 1;
                if e.ts_ns < *flow_last {
                    unsorted.push(id as u32);
                }
                *flow_last = (*flow_last).max(e.ts_ns);
                first = first.min(e.ts_ns);
                last = last.max(e.ts_ns);
            }
        }
        unsorted.sort_unstable();
        unsorted.dedup();
        for &id in unsorted.iter() {
            if let Some(f) = flows.get(id as usize) {
                let ts = |&i: &u32| self.entries.get(i as usize).map_or(0, |e| e.ts_ns);
                // Stable: frames of one time keep their capture order.
                let run = f.first as usize..f.first as usize + f.count as usize;
                order.get_mut(run).unwrap_or_default().sort_by_key(ts);
            }
        }
        let header = IndexHeader {
            version: INDEX_VERSION,
            source,
            first_ns: if at == 0 { 0 } else { first },
            last_ns: last,
            frames: at as u64,
            flows: flows.len() as u64,
            covered,
            unindexed: self.unindexed,
            path,
        };
        let len = Index::encoded_len(&header, flows.len(), at);
        let entries = order.iter().filter_map(|&i| self.entries.get(i as usize));
        Index::encode_parts(&header, flows, entries, index.start(len));
        let spare = Spare {
            entries: self.entries,
            places: self.places,
            keys: self.keys,
        };
        (header, spare)
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

    /// `b` sealed as a segment's index: per flow (port, first entry,
    /// entries), the entries' positions in index order, and the index.
    type Sealed = (Vec<(u16, u64, u32)>, Vec<u64>, Index);

    fn sealed(b: Builder) -> Sealed {
        let mut scratch = Scratch::default();
        b.finish(&mut scratch, SourceKind::Segment, String::new(), 400);
        let idx = Index::parse(scratch.index.bytes()).expect("parses");
        let flows = idx
            .flows
            .iter()
            .map(|f| (f.key.a_port, f.first, f.count))
            .collect();
        let pos = idx.entries.iter().map(|e| e.pos).collect();
        (flows, pos, idx)
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
        let mut scratch = Scratch::default();
        let (header, _) = b.finish(&mut scratch, SourceKind::Segment, String::new(), 472);
        let idx = Index::parse(scratch.index.bytes()).expect("parses");
        assert_eq!(idx.header, header);
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
        assert_eq!(idx.encode(), scratch.index.bytes());
    }

    #[test]
    fn a_flow_is_keyed_once_per_index_and_a_reused_slot_again() {
        let flow = |slot, generation| FlowId { slot, generation };
        let mut ids = FlowIds::default();
        let mut asked = Vec::new();
        let mut b = Builder::new(Spare::default(), 8, &mut ids);
        let mut add = |b: &mut Builder, ids: &mut FlowIds, id, port, pos| {
            b.push(entry(pos, pos));
            b.place_flow(ids, id, || {
                asked.push(pos);
                key(port)
            });
        };
        add(&mut b, &mut ids, flow(0, 0), 1, 16);
        // The same flow: its key is not asked again.
        add(&mut b, &mut ids, flow(0, 0), 9, 92);
        // Slot 0 held by a later flow.
        add(&mut b, &mut ids, flow(0, 1), 2, 168);
        // The other direction of port 1's conversation.
        add(&mut b, &mut ids, flow(1, 2), 1, 244);
        add(&mut b, &mut ids, flow(0, 1), 9, 320);
        let (flows, pos, _) = sealed(b);
        assert_eq!(flows, [(1, 0, 3), (2, 3, 2)]);
        assert_eq!(pos, [16, 92, 244, 168, 320]);
        // A new index learns its flows again.
        let mut c = Builder::new(Spare::default(), 8, &mut ids);
        add(&mut c, &mut ids, flow(0, 1), 2, 400);
        assert_eq!(asked, [16, 168, 244, 400]);
    }

    #[test]
    fn a_marked_flow_is_keyed_once_per_index() {
        let mut ids = FlowIds::default();
        let mut asked = Vec::new();
        let mut b = Builder::new(Spare::default(), 8, &mut ids);
        // Nothing written: nothing to mark.
        assert_eq!(b.mark(), None);
        // What the cache does with a flow's mark: kept within an index,
        // replaced by the next index's.
        let mut flows = [StoreMark::default(); 3];
        let mut add = |b: &mut Builder, flow: usize, port, pos| {
            b.push(entry(pos, pos));
            let mark = b.mark().expect("a frame waits");
            if flows[flow].index != mark.index {
                flows[flow] = mark;
            }
            b.place_marked(flows[flow], || {
                asked.push(pos);
                key(port)
            });
        };
        add(&mut b, 0, 1, 16);
        add(&mut b, 0, 9, 92);
        add(&mut b, 1, 2, 168);
        // A frame not IP.
        b.push(entry(200, 200));
        b.place(None);
        // The other direction of port 1's conversation: another flow.
        add(&mut b, 2, 1, 244);
        assert_eq!(b.mark(), None, "every frame written is indexed");
        // A mark of another index, or beyond this one's keys: not
        // indexed rather than misfiled.
        b.push(entry(300, 300));
        b.place_marked(
            StoreMark {
                index: 77,
                place: 0,
            },
            || key(5),
        );
        b.push(entry(310, 310));
        b.place_marked(
            StoreMark {
                index: b.index,
                place: 9,
            },
            || key(5),
        );
        let (flows, pos, idx) = sealed(b);
        assert_eq!(flows, [(1, 0, 3), (2, 3, 1)]);
        assert_eq!(pos, [16, 92, 244, 168]);
        assert_eq!(idx.header.unindexed, 3);
        // A new index learns its flows again.
        let mut c = Builder::new(Spare::default(), 8, &mut ids);
        add(&mut c, 1, 2, 400);
        add(&mut c, 1, 2, 410);
        assert_eq!(asked, [16, 168, 244, 400]);
    }
}
