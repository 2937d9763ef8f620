//! One row of the `flows` table ([`FlowRow`]) and its encoding in
//! ClickHouse's Native format ([`FlowsBlock`]), the bytes the collector
//! inserts and spools.
//!
//! A row allocates nothing of its own: its text columns are interned
//! names ([`Name`]: names of VMs, hosts, zones and rules are few and
//! repeat), its verdict, severity and encapsulation are enums. Their
//! words, as stored, are `eastwest-core`'s ([`eastwest_core::word`]: those
//! of the API too; `''` for no severity or encapsulation).
//!
//! Where it lives: this module (the row and its word-stored columns),
//! `name` (the interned [`Name`]), `native` (the Native encoding).

mod name;
mod native;
#[cfg(test)]
mod tests;

use eastwest_core::flow::Encap;
use eastwest_core::policy::VerdictKind;
use eastwest_core::severity::Severity;
use eastwest_core::word::Word;

pub use name::{Name, MAX_INTERNED_BYTES, MAX_INTERNED_NAMES};
pub use native::{flows_native_block, flows_native_insert, native_block_rows, FlowsBlock};

#[cfg(doc)]
use super::FLOWS_COLUMNS;

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
    #[serde(with = "eastwest_core::word")]
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
    #[serde(with = "eastwest_core::word")]
    pub verdict: VerdictKind,
    pub rule: Name,
    #[serde(with = "eastwest_core::word")]
    pub severity: Option<Severity>,
    pub policy_revision: Name,
}

/// A column stored as a word ([`Word`], `eastwest-core`'s table): an
/// enum of the row (`None`: `''`).
pub trait Label: Word {
    /// A number per value, below 16: where the Native writer finds the
    /// value's dictionary position.
    fn code(&self) -> usize;
}

impl Label for VerdictKind {
    fn code(&self) -> usize {
        *self as usize
    }
}

impl Label for Option<Severity> {
    fn code(&self) -> usize {
        self.map_or(0, |s| 1 + s as usize)
    }
}

impl Label for Option<Encap> {
    fn code(&self) -> usize {
        self.map_or(0, |e| 1 + e as usize)
    }
}
