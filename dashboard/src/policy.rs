//! The policy, inventory and co-residency endpoints:
//!
//! * `GET /api/v1/policy` — the policy file in use: revision, zones, rules,
//!   `separate` pairs, warnings; when the file on disk no longer loads, the
//!   last good version and the `error` (file, line, field).
//! * `POST /api/v1/policy/whatif` — a draft policy judged against the stored
//!   conversations of a window (from `flows_1m` when the rollups exist, else
//!   from raw `flows`), per zone pair: new violations and violations that
//!   disappear. Stored verdicts are not touched.
//! * `GET /api/v1/coresidency` — VMs of zones that must never share a host
//!   that share one now, and every period they did, from the inventory
//!   file's placement history and the stored inventory events.
//! * `POST /api/v1/inventory/events` — placement changes (a vMotion, a new
//!   VM, a removal) checked against the inventory and stored in ClickHouse's
//!   `inventory_events`, which the collector polls.
//!
//! The dashboard reads the same inventory and policy files as the collector
//! (`[policy]` in its configuration). Storage goes through [`PolicyStore`],
//! implemented over ClickHouse by [`ClickHousePolicyStore`].

use std::path::PathBuf;

use serde::Deserialize;

mod api;
mod sql;
mod store;
mod whatif;

pub use api::{coresidency_periods, router, EventsStored, Paths, PolicyApi, WhatIfRequest};
pub use store::{ClickHousePolicyStore, PolicyStore, StoredConversation};
pub use whatif::{whatif, Change, Judgement, WhatIf, ZonePairChanges};

/// Where the report's co-residency periods come from (the policy module,
/// over the `[policy]` files and the stored inventory events): the
/// periods that share time with `[from_ms, to_ms)`.
pub trait CoResidencySource: Send + Sync + 'static {
    fn periods(
        &self,
        from_ms: Option<u64>,
        to_ms: Option<u64>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<
                        Vec<eastwest_api::policy::CoResidencyView>,
                        crate::error::ApiError,
                    >,
                > + Send
                + '_,
        >,
    >;
}

/// A [`CoResidencySource`] in the API's state.
#[derive(Clone)]
pub struct CoResidency(pub std::sync::Arc<dyn CoResidencySource>);

impl std::fmt::Debug for CoResidency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoResidency")
    }
}

/// `[policy]` of the dashboard's configuration: the files the collector
/// judges with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The inventory file (TOML, may import CSV files).
    pub inventory: Option<PathBuf>,
    /// The segmentation policy file.
    pub policy: Option<PathBuf>,
}

#[cfg(test)]
mod tests;
