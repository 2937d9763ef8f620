//! The dashboard's JSON API as this client sees it: the answers of the
//! endpoints the TUI reads, decoded as `eastwest-api`'s types (the
//! dashboard's own definitions), and the one row the TUI shows a
//! conversation or a violation as ([`Conversation`], made from them); what
//! to ask for ([`Request`], [`Query`]), and the [`Client`] trait with its
//! HTTP implementation [`HttpClient`]. Tests use a fake [`Client`].
//!
//! Where it lives: `bodies` (the answers), `request` (what to ask for and
//! its path and parameters), `client` (the [`Client`] trait and HTTP).

mod bodies;
mod client;
mod request;
#[cfg(test)]
mod tests;

pub use bodies::{
    service, Conversation, ConversationsPage, Exporters, HostDetail, Hosts, Policy, Timeseries,
    ViolationsPage, VmDetail, ZoneMatrix,
};
pub use client::{Client, Download, FetchError, HttpClient};
pub use eastwest_api::{
    ExporterStatus, HostSummary, MatrixCell, ObservationPoint, Placement, Point, Severity, Totals,
    VerdictKind,
};
pub use request::{Query, Range, Request, Response};
