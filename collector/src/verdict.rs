//! Verdict: what the segmentation policy says about a flow.
//!
//! Zones come from `Policy::zone_of` (the VM when the inventory knew it,
//! else the address); the verdict, deciding rule and severity from
//! `Policy::judge`; every row carries the policy revision that judged it.
//! Without a policy, zones stay empty and the verdict is `unknown`.

use std::path::Path;

use eastwest_core::config::ConfigError;
use eastwest_core::policy::Policy;
use eastwest_core::schema::{addr_from_bytes, FlowRow};

use crate::enrich::Endpoints;

/// The verdict stage.
#[derive(Debug, Default)]
pub struct Judge {
    policy: Option<Policy>,
}

impl Judge {
    pub fn new(policy: Option<Policy>) -> Judge {
        Judge { policy }
    }

    /// Load the policy file, if one is configured.
    pub fn load(path: Option<&Path>) -> Result<Judge, ConfigError> {
        let policy = path.map(Policy::load).transpose()?;
        Ok(Judge::new(policy))
    }

    /// The loaded policy's revision, if any.
    pub fn revision(&self) -> Option<&str> {
        self.policy.as_ref().map(Policy::revision)
    }

    /// Fill the zone, verdict, rule, severity and revision columns.
    pub fn judge(&self, endpoints: Endpoints<'_>, row: &mut FlowRow) {
        let Some(policy) = &self.policy else {
            row.verdict = "unknown".to_string();
            return;
        };
        let src_zone = policy.zone_of(endpoints.src, addr_from_bytes(row.src_addr));
        let dst_zone = policy.zone_of(endpoints.dst, addr_from_bytes(row.dst_addr));
        let verdict = policy.judge(src_zone, dst_zone, row.proto, row.dst_port);
        row.src_zone = src_zone.to_string();
        row.dst_zone = dst_zone.to_string();
        row.verdict = verdict.kind.as_str().to_string();
        row.rule = verdict.rule;
        row.severity = verdict.severity;
        row.policy_revision = policy.revision().to_string();
    }
}
