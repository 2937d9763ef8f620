//! One row of the `flows` table ([`FlowRow`]) and its encoding in
//! ClickHouse's Native format ([`FlowsBlock`]), the bytes the collector
//! inserts and spools.
//!
//! A row allocates nothing of its own: its text columns are shared
//! (`Arc<str>`: names of VMs, hosts, zones and rules are few and repeat,
//! so the collector interns them once), its verdict, severity and
//! encapsulation are enums. Their words, as stored, are those of
//! [`VerdictKind::as_str`], [`Severity::as_str`] (`''` for none) and
//! [`Encap::as_str`] (`''` for none).

use std::sync::Arc;

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
    /// Inverse of [`Label::label`]; `None` for any other text.
    fn from_label(text: &str) -> Option<Self>;
}

impl Label for VerdictKind {
    fn label(&self) -> &'static str {
        self.as_str()
    }
    fn from_label(text: &str) -> Option<VerdictKind> {
        VerdictKind::parse(text)
    }
}

impl Label for Option<Severity> {
    fn label(&self) -> &'static str {
        self.map_or("", Severity::as_str)
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

/// A text column's value, shared: cloning it copies a pointer and counts
/// a reference, never the text, and the empty text (most columns of a flow
/// nobody named) is no allocation at all. Names of VMs, hosts, zones and
/// rules are few and repeat, so the collector makes each once and clones it
/// into every row.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Name(Option<Arc<str>>);

impl Name {
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
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
        Name((!text.is_empty()).then(|| text.into()))
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name((!text.is_empty()).then(|| text.into()))
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

/// How a `flows` column's value is taken from a [`FlowRow`] for Native.
#[derive(Clone, Copy)]
enum Native {
    /// Fixed-size values, written as they are (little-endian numbers,
    /// FixedString bytes).
    Bytes(fn(&FlowRow, &mut Vec<u8>)),
    /// Text, written as `String` or `LowCardinality(String)` as the column's
    /// type says.
    Text(fn(&FlowRow) -> &str),
}

use Native::{Bytes, Text};

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

/// A number, little-endian.
macro_rules! le {
    ($field:ident) => {
        Bytes(|r, o| o.extend_from_slice(&r.$field.to_le_bytes()))
    };
}

/// FixedString bytes as they are.
macro_rules! raw {
    ($field:ident) => {
        Bytes(|r, o| o.extend_from_slice(&r.$field))
    };
}

/// How each `flows` column of a [`FlowRow`] is written in Native format,
/// in [`FLOWS_COLUMNS`] order (a test checks both lists agree).
const FLOWS_NATIVE: &[(&str, Native)] = &[
    ("date", le!(date)),
    ("start", le!(start)),
    ("start_ms", le!(start_ms)),
    ("end", le!(end)),
    ("end_ms", le!(end_ms)),
    ("received", le!(received)),
    ("dataset", Text(|r| &r.dataset)),
    ("exporter", raw!(exporter)),
    ("source_id", le!(source_id)),
    ("observer", Text(|r| &r.observer)),
    ("encap", Text(|r| r.encap.map_or("", Encap::as_str))),
    ("session", le!(session)),
    ("vlan", le!(vlan)),
    ("vni", le!(vni)),
    ("src_addr", raw!(src_addr)),
    ("dst_addr", raw!(dst_addr)),
    ("src_port", le!(src_port)),
    ("dst_port", le!(dst_port)),
    ("proto", le!(proto)),
    ("tos", le!(tos)),
    ("tcp_flags", le!(tcp_flags)),
    ("icmp", le!(icmp)),
    ("src_mac", raw!(src_mac)),
    ("dst_mac", raw!(dst_mac)),
    ("packets", le!(packets)),
    ("bytes", le!(bytes)),
    ("sampling", le!(sampling)),
    ("src_vm", Text(|r| &r.src_vm)),
    ("dst_vm", Text(|r| &r.dst_vm)),
    ("src_host", Text(|r| &r.src_host)),
    ("dst_host", Text(|r| &r.dst_host)),
    ("src_zone", Text(|r| &r.src_zone)),
    ("dst_zone", Text(|r| &r.dst_zone)),
    ("same_host", le!(same_host)),
    ("reply", le!(reply)),
    ("verdict", Text(|r| r.verdict.as_str())),
    ("rule", Text(|r| &r.rule)),
    (
        "severity",
        Text(|r| r.severity.map_or("", Severity::as_str)),
    ),
    ("policy_revision", Text(|r| &r.policy_revision)),
];

/// One `LowCardinality(String)` column being built: its dictionary (the
/// empty string first, then each distinct value in order of appearance) and
/// one index per row. Written as ClickHouse writes it itself (18.16 and
/// current servers alike): the key version (1), then one granule of the
/// block's rows: flags (index width, "has additional keys", "update
/// dictionary"), the dictionary and the indexes, 1, 2 or 4 bytes wide.
#[derive(Debug, Default)]
struct Dictionary {
    keys: Vec<Box<str>>,
    positions: foldhash::HashMap<Box<str>, u32>,
    /// Index of the previous row's value: consecutive rows mostly repeat
    /// it (dataset, observer, verdict), so the map is not consulted.
    last: u32,
    indexes: Vec<u32>,
}

impl Dictionary {
    fn new() -> Dictionary {
        Dictionary {
            keys: vec!["".into()],
            positions: [("".into(), 0)].into_iter().collect(),
            ..Dictionary::default()
        }
    }

    fn push(&mut self, value: &str) {
        if *self.keys[self.last as usize] != *value {
            self.last = match self.positions.get(value) {
                Some(&index) => index,
                None => {
                    let index = self.keys.len() as u32;
                    self.keys.push(value.into());
                    self.positions.insert(value.into(), index);
                    index
                }
            };
        }
        self.indexes.push(self.last);
    }

    fn write(&self, out: &mut Vec<u8>) {
        const HAS_ADDITIONAL_KEYS: u64 = 1 << 9;
        const NEED_UPDATE_DICTIONARY: u64 = 1 << 10;
        let (width, code) = match self.keys.len() {
            0..=0x100 => (1, 0),
            0x101..=0x1_0000 => (2, 1),
            _ => (4, 2),
        };
        out.reserve(40 + self.keys.iter().map(|k| k.len() + 2).sum::<usize>());
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(&(code | HAS_ADDITIONAL_KEYS | NEED_UPDATE_DICTIONARY).to_le_bytes());
        out.extend_from_slice(&(self.keys.len() as u64).to_le_bytes());
        for key in &self.keys {
            put_string(out, key);
        }
        out.extend_from_slice(&(self.indexes.len() as u64).to_le_bytes());
        out.reserve(self.indexes.len() * width);
        match width {
            1 => out.extend(self.indexes.iter().map(|&i| i as u8)),
            2 => self
                .indexes
                .iter()
                .for_each(|i| out.extend_from_slice(&(*i as u16).to_le_bytes())),
            _ => self
                .indexes
                .iter()
                .for_each(|i| out.extend_from_slice(&i.to_le_bytes())),
        }
    }
}

/// One column of a block being built, with how its value is taken from a
/// row.
#[derive(Debug)]
enum Values {
    /// Fixed-size values, already in Native layout.
    Fixed(Vec<u8>, fn(&FlowRow, &mut Vec<u8>)),
    /// `String`: length (varint) and bytes per row.
    Text(Vec<u8>, fn(&FlowRow) -> &str),
    LowCardinality(Dictionary, fn(&FlowRow) -> &str),
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
/// about twice as fast as RowBinary (collector/README.md).
#[derive(Debug)]
pub struct FlowsBlock {
    rows: usize,
    /// Rows to make room for once the first row shows each column's width.
    capacity: usize,
    columns: Vec<Values>,
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
        let columns = FLOWS_COLUMNS
            .iter()
            .zip(FLOWS_NATIVE)
            .map(|(column, (_, native))| match *native {
                Bytes(put) => Values::Fixed(Vec::new(), put),
                Text(text) if column.ch_type.starts_with("LowCardinality") => {
                    Values::LowCardinality(Dictionary::new(), text)
                }
                Text(text) => Values::Text(Vec::new(), text),
            })
            .collect();
        FlowsBlock {
            rows: 0,
            capacity: rows,
            columns,
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
    pub fn push(&mut self, row: &FlowRow) {
        self.rows += 1;
        for values in &mut self.columns {
            match values {
                Values::Fixed(out, put) => put(row, out),
                Values::Text(out, text) => put_string(out, text(row)),
                Values::LowCardinality(dictionary, text) => dictionary.push(text(row)),
            }
        }
        if self.rows == 1 && self.capacity > 1 {
            let more = self.capacity - 1;
            for values in &mut self.columns {
                match values {
                    Values::Fixed(out, _) => out.reserve(out.len() * more),
                    // Text varies: twice the first row's, a guess.
                    Values::Text(out, _) => out.reserve(out.len() * 2 * more),
                    Values::LowCardinality(dictionary, _) => dictionary.indexes.reserve(more),
                }
            }
        }
    }

    /// The block, in pieces to be sent (or written) one after the other:
    /// the numbers of columns and rows (varints), then per column its name,
    /// type and values.
    pub fn finish(self) -> Vec<Vec<u8>> {
        let mut head = Vec::new();
        put_varint(&mut head, FLOWS_NATIVE.len() as u64);
        put_varint(&mut head, self.rows as u64);
        let mut pieces = Vec::with_capacity(self.columns.len() + 1);
        for (column, values) in FLOWS_COLUMNS.iter().zip(self.columns) {
            put_string(&mut head, column.name);
            put_string(&mut head, column.ch_type);
            match values {
                Values::Fixed(values, _) | Values::Text(values, _) => {
                    pieces.push(head);
                    pieces.push(values);
                    head = Vec::new();
                }
                Values::LowCardinality(dictionary, _) => dictionary.write(&mut head),
            }
        }
        pieces.push(head);
        pieces.retain(|piece| !piece.is_empty());
        pieces
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
}
