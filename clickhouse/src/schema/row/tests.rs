//! Unit tests of the row: the Native layout against the schema, labels,
//! the interner's limits.

use super::name::Interner;
use super::native::{put_varint, Kind, FLOWS_NATIVE};
use super::*;
use crate::schema::FLOWS_COLUMNS;

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
    let word = |i: usize| u64::from_le_bytes(block[at + i * 8..at + i * 8 + 8].try_into().unwrap());
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
    assert_eq!(row.verdict.word(), "violation");
    for text in ["", "span", "erspan3", "gre"] {
        assert_eq!(
            Option::<Encap>::from_word(text).map(|e| e.word()),
            Some(text)
        );
    }
    for text in ["", "info", "critical"] {
        assert_eq!(
            Option::<Severity>::from_word(text).map(|s| s.word()),
            Some(text)
        );
    }
    assert_eq!(Option::<Severity>::from_word("urgent"), None);
    assert_eq!(VerdictKind::from_word(""), None);
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
