//! Shared core of eastwest.
//!
//! * [`wire`] — zero-copy views of every header on the packet path, smoltcp
//!   style: Ethernet, 802.1Q/QinQ, IPv4, IPv6 (extension headers), and the
//!   tunnels a mirror wraps frames in (MPLS, GRE, ERSPAN I/II/III, VXLAN,
//!   Geneve).
//! * [`decap`] — `peel` unwraps those layers down to the metered inner frame.
//! * [`flow`] — the flow key and record the exporter meters and exports.
//! * [`netflow`] — the NetFlow v9 templates this project speaks.
//! * [`pcapfile`] — reader and writer of classic pcap and pcapng files: the
//!   exporter's default file reader, the tests' reader of real captures and
//!   the lab generator's writer.
//! * [`inventory`] and [`policy`] — the VM inventory and segmentation policy;
//!   [`config`] — the located errors their files report; [`severity`] —
//!   the one order of a violation's severities.
//! * [`clock`] — "now", the one wall clock (settable for tests).
//! * [`token`] — bearer tokens kept as SHA-256 digests (dashboard, exporter).
//! * [`error`] — an error and its causes on one line.
//! * [`word`] — verdict, severity and encapsulation as the words the API
//!   and the `flows` table write.
//!
//! The ClickHouse schema and client are the `eastwest-clickhouse` crate
//! (the exporter links neither).

pub mod clock;
pub mod config;
pub mod decap;
pub mod error;
pub mod flow;
pub mod inventory;
pub mod netflow;
pub mod pcapfile;
pub mod policy;
pub mod severity;
pub mod token;
pub mod wire;
pub mod word;
