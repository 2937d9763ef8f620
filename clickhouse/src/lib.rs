//! eastwest's side of ClickHouse, shared by the collector (which writes)
//! and the dashboard (which reads); the exporter, which runs next to the
//! hypervisors, does not link it.
//!
//! * [`schema`] — the one schema definition: DDL, row structs, column
//!   names, migrations, server-version adaptation; [`schema::partitions`],
//!   what retention and the deletion of a dataset drop.
//! * [`http`] — the http/https client under every ClickHouse connection.

pub mod http;
pub mod schema;
