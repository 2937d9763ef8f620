//! What every stage counts with, and how `/metrics` writes it. A leaf
//! module: each stage owns a metrics struct of these types (`ReceiveMetrics`,
//! `DecodeMetrics`, …) and registers it; [`crate::http::Metrics`] assembles
//! them into one registry.
//!
//! Names follow the stages: `eastwest_collector_<stage>_<what>`. The
//! counters are plain atomics (no lock per packet); a counter labelled
//! with a small fixed set of values is created once per value and kept,
//! so the hot path never looks a label up.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::prometheus_text::encode;
use prometheus_client::metrics::family::Family;
pub use prometheus_client::registry::Registry;

/// A monotonic counter; clones share the value.
pub type Counter = prometheus_client::metrics::counter::Counter<u64, AtomicU64>;

/// A value that goes up and down; clones share the value.
pub type Gauge = prometheus_client::metrics::gauge::Gauge<u64, AtomicU64>;

/// Every series name starts with this and `_`.
pub const PREFIX: &str = "eastwest_collector";

/// The scrape's content type: the Prometheus text format 0.0.4.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A counter registered as `name` (the registry adds `_total`; `help`
/// without its final period, which the registry adds).
pub fn counter(registry: &mut Registry, name: &str, help: &str) -> Counter {
    let counter = Counter::default();
    registry.register(name, help, counter.clone());
    counter
}

/// A gauge registered as `name`.
pub fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauge {
    let gauge = Gauge::default();
    registry.register(name, help, gauge.clone());
    gauge
}

/// One label and its value (`reason="missing_template"`).
pub type Label = [(&'static str, &'static str); 1];

/// A counter family with one label, registered as `name`, and one counter
/// per value of `values` (in that order), created now so every value is
/// shown from the start.
pub fn labelled<const N: usize>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &'static str,
    values: [&'static str; N],
) -> [Counter; N] {
    let family = Family::<Label, Counter>::default();
    registry.register(name, help, family.clone());
    values.map(|value| family.get_or_create(&[(label, value)]).clone())
}

/// The exposition of `registry` in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; a metric's encoder can only fail
    // by the writer failing.
    let _ = encode(&mut out, registry);
    out
}
