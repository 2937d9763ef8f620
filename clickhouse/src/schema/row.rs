//! One row of the `flows` table ([`FlowRow`]) and its encoding in
//! ClickHouse's Native format ([`FlowsBlock`]), the bytes the collector
//! inserts and spools.
//!
//! A row allocates nothing of its own: its text columns are interned
//! names ([`Name`]: names of VMs, hosts, zones and rules are few and
//! repeat), its verdict, severity and encapsulation are enums. Their
//! words, as stored, are those of [`VerdictKind::as_str`],
//! [`Severity::as_str`] (`''` for none) and [`Encap::as_str`] (`''` for
//! none).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use eastwest_core::flow::Encap;
use eastwest_core::policy::VerdictKind;
use eastwest_core::severity::Severity;

use super::{names, FLOWS_COLUMNS};

/// One row of the `flows` table, field for field [`FLOWS_COLUMNS`].
#[derive(
    Default, Debug, Clone, PartialEq, Eq, clickhouse::Row, serde::Serialize, serde::Deserialize,
)]
pub struct FlowRow {
    pub date: u16,
    pub start: u32,
    pub start_ms: u64,
    pub end: u32,
    pub end_ms: u64,
    pub received: u32,
    pub dataset: Name,
    pub exporter: [u8; 16],
    pub source_id: u32,
    pub observer: Name,
    #[serde(with = "label")]
    pub encap: Option<Encap>,
    pub session: u16,
    pub vlan: u16,
    pub vni: u32,
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub tos: u8,
    pub tcp_flags: u8,
    pub icmp: u16,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub packets: u64,
    pub bytes: u64,
    pub sampling: u32,
    pub src_vm: Name,
    pub dst_vm: Name,
    pub src_host: Name,
    pub dst_host: Name,
    pub src_zone: Name,
    pub dst_zone: Name,
    pub same_host: u8,
    pub reply: u8,
    #[serde(with = "label")]
    pub verdict: VerdictKind,
    pub rule: Name,
    #[serde(with = "label")]
    pub severity: Option<Severity>,
    pub policy_revision: Name,
}

/// A column stored as a word: an enum of the row (`None`: `''`).
pub trait Label: Sized {
    fn label(&self) -> &'static str;
    /// A number per value, below 16: where the Native writer finds the
    /// value's dictionary position.
    fn code(&self) -> usize;
    /// Inverse of [`Label::label`]; `None` for any other text.
    fn from_label(text: &str) -> Option<Self>;
}

impl Label for VerdictKind {
    fn label(&self) -> &'static str {
        self.as_str()
    }
    fn code(&self) -> usize {
        *self as usize
    }
    fn from_label(text: &str) -> Option<VerdictKind> {
        VerdictKind::parse(text)
    }
}

impl Label for Option<Severity> {
    fn label(&self) -> &'static str {
        self.map_or("", Severity::as_str)
    }
    fn code(&self) -> usize {
        self.map_or(0, |s| 1 + s as usize)
    }
    fn from_label(text: &str) -> Option<Option<Severity>> {
        match text {
            "" => Some(None),
            _ => Severity::parse(text).map(Some),
        }
    }
}

impl Label for Option<Encap> {
    fn label(&self) -> &'static str {
        self.map_or("", Encap::as_str)
    }
    fn code(&self) -> usize {
        self.map_or(0, |e| 1 + e as usize)
    }
    fn from_label(text: &str) -> Option<Option<Encap>> {
        match text {
            "" => Some(None),
            _ => Encap::ALL
                .into_iter()
                .find(|e| e.as_str() == text)
                .map(Some),
        }
    }
}

/// Serde of a [`Label`] column: its word (RowBinary `String`, JSON string).
mod label {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Label;

    pub fn serialize<T: Label, S: Serializer>(value: &T, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(value.label())
    }

    pub fn deserialize<'de, T: Label, D: Deserializer<'de>>(from: D) -> Result<T, D::Error> {
        let text = String::deserialize(from)?;
        T::from_label(&text).ok_or_else(|| D::Error::custom(format!("unknown value {text:?}")))
    }
}

/// A text column's value: VM, host, zone, rule, observer, dataset and
/// revision names are few and repeat, so each distinct text is interned
/// once per process ([`Name::from`]) and a row holds a pointer to it:
/// cloning a name copies the pointer (no reference count, so rows made on
/// one thread and dropped on another share no counter), and the Native
/// writer finds a name's dictionary position by its interned id, not by
/// its text. The empty text is no allocation at all.
///
/// Interned texts are never freed. The interner holds at most
/// [`MAX_INTERNED_NAMES`] names and [`MAX_INTERNED_BYTES`] bytes of text
/// (names learnt from the network, such as an exporter's domain name,
/// cannot grow it without bound); beyond, a new text is a shared,
/// reference-counted name: correct, only slower.
#[derive(Clone, Default)]
pub struct Name(Repr);

#[derive(Clone, Default)]
enum Repr {
    #[default]
    Empty,
    Interned(&'static Entry),
    Shared(Arc<Entry>),
}

/// An interned (or shared) text and its id: interned ids count from 1,
/// shared texts have none ([`SHARED`]).
#[derive(Debug)]
struct Entry {
    id: u32,
    text: Box<str>,
}

/// The id of a text that is not interned.
const SHARED: u32 = u32::MAX;

/// Most names interned per process (see [`Name`]).
pub const MAX_INTERNED_NAMES: usize = 1 << 18;
/// Most bytes of text interned per process (see [`Name`]).
pub const MAX_INTERNED_BYTES: usize = 32 << 20;

/// The next interned id, shared by every interner so that ids never
/// collide.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// The process's interned names.
static NAMES: LazyLock<Mutex<Interner>> =
    LazyLock::new(|| Mutex::new(Interner::new(MAX_INTERNED_NAMES, MAX_INTERNED_BYTES)));

/// Interned texts, up to a count and a size.
#[derive(Debug)]
struct Interner {
    names: foldhash::HashMap<&'static str, &'static Entry>,
    bytes: usize,
    max_names: usize,
    max_bytes: usize,
}

impl Interner {
    fn new(max_names: usize, max_bytes: usize) -> Interner {
        Interner {
            names: foldhash::HashMap::default(),
            bytes: 0,
            max_names,
            max_bytes,
        }
    }

    /// The name of `text`: interned, or shared beyond the limits.
    fn name(&mut self, text: &str) -> Name {
        if text.is_empty() {
            return Name(Repr::Empty);
        }
        if let Some(&entry) = self.names.get(text) {
            return Name(Repr::Interned(entry));
        }
        if self.names.len() >= self.max_names || self.bytes + text.len() > self.max_bytes {
            return Name(Repr::Shared(Arc::new(Entry {
                id: SHARED,
                text: text.into(),
            })));
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let entry: &'static Entry = Box::leak(Box::new(Entry {
            id,
            text: text.into(),
        }));
        self.names.insert(&entry.text, entry);
        self.bytes += text.len();
        Name(Repr::Interned(entry))
    }
}

impl Name {
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Empty => "",
            Repr::Interned(entry) => &entry.text,
            Repr::Shared(entry) => &entry.text,
        }
    }

    /// Whether the text is interned (the empty text counts as interned).
    pub fn is_interned(&self) -> bool {
        !matches!(self.0, Repr::Shared(_))
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        if text.is_empty() {
            return Name(Repr::Empty);
        }
        NAMES.lock().unwrap_or_else(|e| e.into_inner()).name(text)
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name::from(text.as_str())
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        match (&self.0, &other.0) {
            (Repr::Interned(a), Repr::Interned(b)) => std::ptr::eq(*a, *b),
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(from: D) -> Result<Name, D::Error> {
        String::deserialize(from).map(Name::from)
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
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
            0 => self.add(code, value.label()),
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
enum Kind {
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
        const FLOWS_NATIVE: &[(&str, Kind)] = &[$((stringify!($column), Kind::$kind)),*];

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_columns_follow_the_schema() {
        let native: Vec<&str> = FLOWS_NATIVE.iter().map(|(name, _)| *name).collect();
        let names: Vec<&str> = FLOWS_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(native, names);
        // Each column written as its type says, fixed widths included.
        let block = flows_native_block(&[FlowRow::default()]);
        let mut at = 2;
        for (column, (_, kind)) in FLOWS_COLUMNS.iter().zip(FLOWS_NATIVE) {
            at += 2 + column.name.len() + column.ch_type.len();
            let width = match column.ch_type {
                "UInt8" => 1,
                "UInt16" | "Date" => 2,
                "UInt32" | "DateTime" => 4,
                "UInt64" => 8,
                "String" => 1,
                // Version, flags, one key (""), one row, its index.
                "LowCardinality(String)" => 8 + 8 + 8 + 1 + 8 + 1,
                fixed => fixed
                    .strip_prefix("FixedString(")
                    .and_then(|n| n.strip_suffix(')'))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
            };
            let expected = match column.ch_type {
                "String" => Kind::Text,
                "LowCardinality(String)" if *kind == Kind::Codes => Kind::Codes,
                "LowCardinality(String)" => Kind::Names,
                t if t.starts_with("FixedString") => Kind::Fixed,
                _ => Kind::Number,
            };
            assert_eq!((column.name, *kind), (column.name, expected));
            assert!(width > 0, "{}", column.ch_type);
            // The verdict has no empty word: a second key.
            let unknown = if column.name == "verdict" { 8 } else { 0 };
            at += width + unknown;
        }
        assert_eq!(at, block.len());
        let insert = flows_native_insert("flows");
        assert!(
            insert.starts_with("INSERT INTO flows (`date`, `start`, "),
            "{insert}"
        );
        assert!(
            insert.ends_with(", `policy_revision`) FORMAT Native"),
            "{insert}"
        );
    }

    #[test]
    fn native_block_layout() {
        let mut varint = Vec::new();
        put_varint(&mut varint, 300);
        assert_eq!(varint, [0xac, 0x02]);
        let row = FlowRow {
            date: 0x0102,
            dataset: "live".into(),
            exporter: [7; 16],
            proto: 6,
            ..FlowRow::default()
        };
        let block = flows_native_block(&[row.clone(), row]);
        assert_eq!(&block[..2], [FLOWS_COLUMNS.len() as u8, 2]);
        // First column: name, type, two UInt16 values.
        assert_eq!(&block[2..16], b"\x04date\x04Date\x02\x01\x02\x01");
        let find = |needle: &[u8]| block.windows(needle.len()).position(|w| w == needle);
        // LowCardinality: version 1, flags 0x600 (UInt8 indexes), keys "" and
        // "live", 2 rows, indexes 1 1 (the layout 18.16 itself writes).
        let dataset = find(b"\x07dataset\x16LowCardinality(String)").map(|at| at + 31);
        let mut expected = Vec::new();
        for n in [1u64, 0x600, 2] {
            expected.extend_from_slice(&n.to_le_bytes());
        }
        expected.extend_from_slice(b"\x00\x04live");
        expected.extend_from_slice(&2u64.to_le_bytes());
        expected.extend_from_slice(&[1, 1]);
        assert_eq!(
            dataset.map(|at| &block[at..at + expected.len()]),
            Some(expected.as_slice())
        );
        let exporter = find(b"\x08exporter\x0fFixedString(16)").map(|at| at + 25);
        assert_eq!(exporter.map(|at| &block[at..at + 32]), Some(&[7u8; 32][..]));
    }

    #[test]
    fn native_dictionaries_widen_their_indexes() {
        // 300 distinct VMs: 301 keys with "", so 2-byte indexes (flags
        // 0x601), in order of first appearance, a repeat reusing its key.
        let rows: Vec<FlowRow> = (0..300)
            .chain([7])
            .map(|n| FlowRow {
                src_vm: format!("vm-{n}").into(),
                ..FlowRow::default()
            })
            .collect();
        let block = flows_native_block(&rows);
        assert_eq!(native_block_rows(&block), Some(301));
        let at = block
            .windows(7)
            .position(|w| w == b"\x06src_vm")
            .map(|at| at + 7 + 23)
            .unwrap();
        let word =
            |i: usize| u64::from_le_bytes(block[at + i * 8..at + i * 8 + 8].try_into().unwrap());
        assert_eq!((word(0), word(1), word(2)), (1, 0x601, 301));
        let keys: usize = 1 + (0..300).map(|n| 1 + format!("vm-{n}").len()).sum::<usize>();
        let indexes = at + 24 + keys;
        assert_eq!(block[indexes..indexes + 8], 301u64.to_le_bytes());
        let index =
            |i: usize| u16::from_le_bytes([block[indexes + 8 + 2 * i], block[indexes + 9 + 2 * i]]);
        assert_eq!((index(0), index(299), index(300)), (1, 300, 8));
        assert_eq!(native_block_rows(&[0x80]), None);
    }

    #[test]
    fn enums_and_names_are_stored_as_their_words() {
        let row = FlowRow {
            encap: Some(Encap::ErspanII),
            verdict: VerdictKind::Violation,
            severity: Some(Severity::High),
            rule: "web to db".into(),
            ..FlowRow::default()
        };
        let block = flows_native_block(std::slice::from_ref(&row));
        for word in [
            &b"\x07erspan2"[..],
            b"\x09violation",
            b"\x04high",
            b"\x09web to db",
        ] {
            assert!(block.windows(word.len()).any(|w| w == word), "{word:?}");
        }
        assert_eq!(row.verdict.label(), "violation");
        for text in ["", "span", "erspan3", "gre"] {
            assert_eq!(
                Option::<Encap>::from_label(text).map(|e| e.label()),
                Some(text)
            );
        }
        for text in ["", "info", "critical"] {
            assert_eq!(
                Option::<Severity>::from_label(text).map(|s| s.label()),
                Some(text)
            );
        }
        assert_eq!(Option::<Severity>::from_label("urgent"), None);
        assert_eq!(VerdictKind::from_label(""), None);
        assert_eq!(FlowRow::default().verdict, VerdictKind::Unknown);
        // The empty text is no allocation, and equal however it was made.
        assert_eq!(Name::from(""), Name::default());
        assert_eq!(Name::from(String::from("vm-1")), "vm-1");
    }

    fn varied(i: u64) -> FlowRow {
        FlowRow {
            start_ms: i,
            dataset: if i.is_multiple_of(50) {
                "replay"
            } else {
                "live"
            }
            .into(),
            observer: format!("esx-{}", i % 9).into(),
            encap: [None, Some(Encap::Vxlan), Some(Encap::Span)][(i % 3) as usize],
            src_vm: format!("vm-{}", i % 400).into(),
            dst_vm: if i.is_multiple_of(3) {
                Name::default()
            } else {
                format!("vm-{}", i % 7).into()
            },
            verdict: [VerdictKind::Unknown, VerdictKind::Violation][(i % 2) as usize],
            rule: if i.is_multiple_of(2) {
                Name::default()
            } else {
                format!("rule {}", i % 5).into()
            },
            severity: [None, Some(Severity::Low)][(i % 2) as usize],
            ..FlowRow::default()
        }
    }

    #[test]
    fn a_reused_block_writes_what_a_new_one_does() {
        // The dictionaries' tables outlive each block: the second block
        // holds only its own keys, in its own order.
        let rows: Vec<FlowRow> = (0..1200).map(varied).collect();
        let mut block = FlowsBlock::with_capacity(500);
        for chunk in rows.chunks(500).chain(rows[..300].chunks(300)) {
            chunk.iter().for_each(|row| block.push(row));
            assert_eq!(block.take().concat(), flows_native_block(chunk));
            assert_eq!(block.rows(), 0);
        }
        assert_eq!(native_block_rows(&block.take().concat()), Some(0));
    }

    #[test]
    fn names_beyond_the_interner_limits_are_shared_and_stored_alike() {
        let mut interner = Interner::new(2, 12);
        let (a, b) = (interner.name("vm-a"), interner.name("vm-b"));
        assert!(a.is_interned() && b.is_interned());
        // Two names: the third is shared, as is any beyond the bytes.
        let c = interner.name("vm-c");
        assert!(!c.is_interned());
        assert_eq!(interner.name("vm-a"), a);
        assert!(!Interner::new(9, 5).name("vm-long").is_interned());
        assert!(interner.name("").is_interned());
        // Shared or interned, equal texts are one dictionary key; the
        // block reads as if every name were interned.
        let shared_a = Interner::new(0, 0).name("vm-a");
        assert!(!shared_a.is_interned());
        assert_eq!(shared_a, a);
        let with = |names: [&Name; 4]| {
            let rows: Vec<FlowRow> = names
                .iter()
                .map(|&name| FlowRow {
                    src_vm: name.clone(),
                    ..FlowRow::default()
                })
                .collect();
            flows_native_block(&rows)
        };
        let interned_c = Name::from("vm-c");
        assert_eq!(
            with([&shared_a, &c, &a, &c]),
            with([&a, &interned_c, &a, &interned_c])
        );
    }
}
