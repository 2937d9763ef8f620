//! The Native encoding of [`FlowRow`]s ([`FlowsBlock`]): the bytes the
//! collector inserts and spools, one column after another, text columns
//! as `LowCardinality(String)` dictionaries.

use super::name::Repr;
use super::{FlowRow, Label, Name};
use crate::schema::{names, FLOWS_COLUMNS};

pub(super) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Write one `LowCardinality(String)` column as ClickHouse writes it
/// itself (18.16 and current servers alike): the key version (1), then one
/// granule of the block's rows: flags (index width, "has additional keys",
/// "update dictionary"), the dictionary (`keys`, the empty string first)
/// and the indexes, 1, 2 or 4 bytes wide.
fn put_low_cardinality<'a>(
    out: &mut Vec<u8>,
    keys: impl ExactSizeIterator<Item = &'a str> + Clone,
    indexes: &[u32],
) {
    const HAS_ADDITIONAL_KEYS: u64 = 1 << 9;
    const NEED_UPDATE_DICTIONARY: u64 = 1 << 10;
    let (width, code) = match keys.len() {
        0..=0x100 => (1, 0),
        0x101..=0x1_0000 => (2, 1),
        _ => (4, 2),
    };
    out.reserve(40 + keys.clone().map(|k| k.len() + 2).sum::<usize>());
    out.extend_from_slice(&1u64.to_le_bytes());
    out.extend_from_slice(&(code | HAS_ADDITIONAL_KEYS | NEED_UPDATE_DICTIONARY).to_le_bytes());
    out.extend_from_slice(&(keys.len() as u64).to_le_bytes());
    for key in keys {
        put_string(out, key);
    }
    out.extend_from_slice(&(indexes.len() as u64).to_le_bytes());
    out.reserve(indexes.len() * width);
    match width {
        1 => out.extend(indexes.iter().map(|&i| i as u8)),
        2 => out.extend(indexes.iter().flat_map(|&i| (i as u16).to_le_bytes())),
        _ => out.extend(indexes.iter().flat_map(|&i| i.to_le_bytes())),
    }
}

/// A `LowCardinality(String)` column of [`Name`]s being built: its
/// dictionary (the empty string first, then each distinct name in order of
/// appearance) and one index per row. A name's position is found by its
/// interned id in `slots` (an array lookup per row, no hashing, no text
/// compared); the slots are kept from block to block and only the entries a
/// block used are cleared.
#[derive(Debug)]
struct Names {
    keys: Vec<Name>,
    /// Position + 1 of each interned id in `keys` (0: not in this block).
    slots: Vec<u32>,
    /// Every key but the empty one by its text, to place shared names (and
    /// an interned name whose text a shared one already holds).
    by_text: foldhash::HashMap<Name, u32>,
    indexes: Vec<u32>,
}

impl Default for Names {
    fn default() -> Names {
        Names {
            keys: vec![Name::default()],
            slots: Vec::new(),
            by_text: foldhash::HashMap::default(),
            indexes: Vec::new(),
        }
    }
}

impl Names {
    #[inline]
    fn push(&mut self, name: &Name) {
        let index = match &name.0 {
            Repr::Empty => 0,
            Repr::Interned(entry) => match self.slots.get(entry.id as usize) {
                Some(&slot) if slot != 0 => slot - 1,
                _ => self.add(name),
            },
            Repr::Shared(_) => self.add(name),
        };
        self.indexes.push(index);
    }

    /// The position of a name not found by its id: by its text, else a
    /// new key.
    #[cold]
    fn add(&mut self, name: &Name) -> u32 {
        let position = match self.by_text.get(name) {
            Some(&position) => position,
            None => {
                let position = self.keys.len() as u32;
                self.keys.push(name.clone());
                self.by_text.insert(name.clone(), position);
                position
            }
        };
        if let Repr::Interned(entry) = name.0 {
            let id = entry.id as usize;
            if self.slots.len() <= id {
                self.slots.resize(id + 1, 0);
            }
            self.slots[id] = position + 1;
        }
        position
    }

    /// Write the column and start the next block's (keeping the slots).
    fn take(&mut self, out: &mut Vec<u8>) {
        put_low_cardinality(out, self.keys.iter().map(Name::as_str), &self.indexes);
        for key in self.keys.drain(1..) {
            if let Repr::Interned(entry) = key.0 {
                self.slots[entry.id as usize] = 0;
            }
        }
        self.by_text.clear();
        self.indexes = Vec::new();
    }
}

/// A `LowCardinality(String)` column of an enum of the row ([`Label`]):
/// positions by the variant's code, kept from block to block like
/// [`Names`].
#[derive(Debug)]
struct Codes {
    keys: Vec<&'static str>,
    /// Position + 1 of each code in `keys` (0: not in this block).
    slots: [u32; 16],
    indexes: Vec<u32>,
}

impl Default for Codes {
    fn default() -> Codes {
        Codes {
            keys: vec![""],
            slots: [0; 16],
            indexes: Vec::new(),
        }
    }
}

impl Codes {
    #[inline]
    fn push<T: Label>(&mut self, value: &T) {
        let code = value.code() & 15;
        let index = match self.slots[code] {
            0 => self.add(code, value.word()),
            slot => slot - 1,
        };
        self.indexes.push(index);
    }

    #[cold]
    fn add(&mut self, code: usize, label: &'static str) -> u32 {
        let position = match self.keys.iter().position(|&k| k == label) {
            Some(position) => position as u32,
            None => {
                self.keys.push(label);
                self.keys.len() as u32 - 1
            }
        };
        self.slots[code] = position + 1;
        position
    }

    fn take(&mut self, out: &mut Vec<u8>) {
        put_low_cardinality(out, self.keys.iter().copied(), &self.indexes);
        self.keys.truncate(1);
        self.slots = [0; 16];
        self.indexes = Vec::new();
    }
}

/// How a column of a [`FlowRow`] is written in Native format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A number, little-endian.
    Number,
    /// FixedString bytes as they are.
    Fixed,
    /// `String`: length (varint) and bytes per row.
    Text,
    /// `LowCardinality(String)` of a [`Name`].
    Names,
    /// `LowCardinality(String)` of a [`Label`] enum.
    Codes,
}

/// The `flows` columns of a [`FlowRow`] as Native columns: the struct of
/// column buffers, a straight-line `push` (each column appended in turn,
/// no per-column dispatch) and `take` (the columns in order), from one
/// list in [`FLOWS_COLUMNS`] order (a test checks both lists agree).
macro_rules! native_columns {
    ($($column:ident: $kind:ident),* $(,)?) => {
        /// One buffer per column of the block being built.
        #[derive(Debug, Default)]
        struct Columns {
            $($column: native_columns!(@type $kind),)*
        }

        /// Each column's name and how it is written, in order.
        pub(super) const FLOWS_NATIVE: &[(&str, Kind)] = &[$((stringify!($column), Kind::$kind)),*];

        impl Columns {
            #[inline]
            fn push(&mut self, row: &FlowRow) {
                $(native_columns!(@push $kind, self.$column, row.$column);)*
            }

            /// Room for `more` rows like `row`.
            fn reserve(&mut self, row: &FlowRow, more: usize) {
                $(native_columns!(@reserve $kind, self.$column, row.$column, more);)*
            }

            /// The block's columns, each after its name and type, in
            /// pieces (see [`FlowsBlock::take`]); the columns start again.
            fn take(&mut self, head: &mut Vec<u8>, pieces: &mut Vec<Vec<u8>>) {
                let mut columns = FLOWS_COLUMNS.iter();
                $(
                    if let Some(column) = columns.next() {
                        put_string(head, column.name);
                        put_string(head, column.ch_type);
                    }
                    native_columns!(@take $kind, self.$column, head, pieces);
                )*
            }
        }
    };
    (@type Number) => { Vec<u8> };
    (@type Fixed) => { Vec<u8> };
    (@type Text) => { Vec<u8> };
    (@type Names) => { Names };
    (@type Codes) => { Codes };
    (@push Number, $out:expr, $value:expr) => { $out.extend_from_slice(&$value.to_le_bytes()) };
    (@push Fixed, $out:expr, $value:expr) => { $out.extend_from_slice(&$value) };
    (@push Text, $out:expr, $value:expr) => { put_string(&mut $out, &$value) };
    (@push Names, $out:expr, $value:expr) => { $out.push(&$value) };
    (@push Codes, $out:expr, $value:expr) => { $out.push(&$value) };
    (@reserve Number, $out:expr, $value:expr, $more:expr) => {
        $out.reserve(std::mem::size_of_val(&$value) * $more)
    };
    (@reserve Fixed, $out:expr, $value:expr, $more:expr) => {
        $out.reserve(std::mem::size_of_val(&$value) * $more)
    };
    // Text varies: twice the first row's, a guess.
    (@reserve Text, $out:expr, $value:expr, $more:expr) => {
        $out.reserve(($value.len() + 1) * 2 * $more)
    };
    (@reserve Names, $out:expr, $value:expr, $more:expr) => { $out.indexes.reserve($more) };
    (@reserve Codes, $out:expr, $value:expr, $more:expr) => { $out.indexes.reserve($more) };
    (@take Number, $out:expr, $head:expr, $pieces:expr) => { take_values(&mut $out, $head, $pieces) };
    (@take Fixed, $out:expr, $head:expr, $pieces:expr) => { take_values(&mut $out, $head, $pieces) };
    (@take Text, $out:expr, $head:expr, $pieces:expr) => { take_values(&mut $out, $head, $pieces) };
    (@take Names, $out:expr, $head:expr, $pieces:expr) => { $out.take($head) };
    (@take Codes, $out:expr, $head:expr, $pieces:expr) => { $out.take($head) };
}

/// A column of values as its own piece, after the head so far.
fn take_values(values: &mut Vec<u8>, head: &mut Vec<u8>, pieces: &mut Vec<Vec<u8>>) {
    pieces.push(std::mem::take(head));
    pieces.push(std::mem::take(values));
}

native_columns! {
    date: Number,
    start: Number,
    start_ms: Number,
    end: Number,
    end_ms: Number,
    received: Number,
    dataset: Names,
    exporter: Fixed,
    source_id: Number,
    observer: Names,
    encap: Codes,
    session: Number,
    vlan: Number,
    vni: Number,
    src_addr: Fixed,
    dst_addr: Fixed,
    src_port: Number,
    dst_port: Number,
    proto: Number,
    tos: Number,
    tcp_flags: Number,
    icmp: Number,
    src_mac: Fixed,
    dst_mac: Fixed,
    packets: Number,
    bytes: Number,
    sampling: Number,
    src_vm: Names,
    dst_vm: Names,
    src_host: Names,
    dst_host: Names,
    src_zone: Names,
    dst_zone: Names,
    same_host: Number,
    reply: Number,
    verdict: Codes,
    rule: Text,
    severity: Codes,
    policy_revision: Names,
}

/// The statement [`FlowsBlock`] is the body of.
pub fn flows_native_insert(table: &str) -> String {
    format!(
        "INSERT INTO {table} ({}) FORMAT Native",
        names(FLOWS_COLUMNS.iter().map(|c| c.name))
    )
}

/// A block of `flows` rows in ClickHouse's Native (columnar) format, built
/// a row at a time: each row's values are appended to their column as it
/// comes (a `LowCardinality` value becomes an index into its column's
/// dictionary), so a batch costs no more than its encoded size in memory
/// and the rows can be dropped at once. ClickHouse 18.16 parses Native
/// about twice as fast as RowBinary (collector/README.md). One block is
/// reused batch after batch ([`FlowsBlock::take`]), keeping its
/// dictionaries' lookup tables.
#[derive(Debug)]
pub struct FlowsBlock {
    rows: usize,
    /// Rows to make room for once the first row shows each column's width.
    capacity: usize,
    columns: Columns,
}

impl Default for FlowsBlock {
    fn default() -> FlowsBlock {
        FlowsBlock::new()
    }
}

impl FlowsBlock {
    pub fn new() -> FlowsBlock {
        FlowsBlock::with_capacity(0)
    }

    /// A block that makes room for `rows` rows at its first row, so the
    /// columns never grow by copying (memory is only touched as rows come).
    pub fn with_capacity(rows: usize) -> FlowsBlock {
        FlowsBlock {
            rows: 0,
            capacity: rows,
            columns: Columns::default(),
        }
    }

    /// Encode every row of `rows`.
    pub fn from_rows(rows: &[FlowRow]) -> FlowsBlock {
        let mut block = FlowsBlock::with_capacity(rows.len());
        rows.iter().for_each(|row| block.push(row));
        block
    }

    /// Rows in the block.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Append one row.
    #[inline]
    pub fn push(&mut self, row: &FlowRow) {
        if self.rows == 0 && self.capacity > 0 {
            self.columns.reserve(row, self.capacity);
        }
        self.rows += 1;
        self.columns.push(row);
    }

    /// The block so far, in pieces to be sent (or written) one after the
    /// other: the numbers of columns and rows (varints), then per column
    /// its name, type and values. The block is empty again after, ready
    /// for the next batch.
    pub fn take(&mut self) -> Vec<Vec<u8>> {
        let mut head = Vec::new();
        put_varint(&mut head, FLOWS_NATIVE.len() as u64);
        put_varint(&mut head, self.rows as u64);
        let mut pieces = Vec::with_capacity(2 * FLOWS_NATIVE.len() + 1);
        self.columns.take(&mut head, &mut pieces);
        pieces.push(head);
        pieces.retain(|piece| !piece.is_empty());
        self.rows = 0;
        pieces
    }

    /// The block, in pieces (see [`FlowsBlock::take`]).
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        self.take()
    }
}

/// The rows count of a Native block (its second varint), or `None` if
/// `block` does not start with two varints.
pub fn native_block_rows(block: &[u8]) -> Option<u64> {
    let mut bytes = block.iter();
    let mut varint = || {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *bytes.next()?;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(n);
            }
        }
        None
    };
    varint()?;
    varint()
}

/// `rows` as one block of Native format (see [`FlowsBlock`]).
pub fn flows_native_block(rows: &[FlowRow]) -> Vec<u8> {
    FlowsBlock::from_rows(rows).finish().concat()
}
