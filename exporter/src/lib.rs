//! eastwest-exporter: mirrored traffic or capture files in, NetFlow v9 out.
//!
//! The pipeline is single-threaded and its stages are modules:
//! [`capture`] → [`decap`] → [`cache`] → [`encode`] → [`send`], with
//! [`stats`] counting along the way and [`config`] reading the settings.
//! Beside the cache, [`store`] keeps the frames themselves (`--packet-store`)
//! and [`serve`] hands them out as pcapng (`--evidence-listen`), its
//! `/metrics` assembled by [`metrics`].
//! [`Exporter`] holds the stages after capture and is driven frame by frame
//! with the time passed in, so tests and the file and live loops share it;
//! [`run`] is the whole program minus argument parsing.
//!
//! [`Exporter`] lives in `pipeline`; the program around it (start-up,
//! the live and replay loops, serving, Ctrl-C) in `program`.

pub mod blocks;
pub mod cache;
pub mod capture;
pub mod config;
pub mod decap;
pub mod direct;
pub mod encode;
mod error;
pub mod metrics;
mod pipeline;
mod program;
pub mod send;
pub mod serve;
mod startup;
pub mod stats;
pub mod store;
pub mod workers;

pub use error::RunError;
pub use pipeline::{Exporter, EXPORT_BATCH, EXPORT_INTERVAL_MS, LOOKAHEAD};
pub use program::{main_with, run, shutdown_on_ctrl_c};
pub use startup::{decapper, hostname, Outcome, LIVE_IDLE_MS};
pub(crate) use startup::{open_live, start_serving, wall_ms, KernelLog};
