//! The answers of the policy endpoints: `GET /api/v1/policy` ([`PolicyView`]
//! with its [`ZoneView`]s and [`RuleView`]s) and `GET /api/v1/coresidency`
//! ([`CoResidencyReport`] of [`CoResidencyView`]s, which the compliance
//! report lists too). Every field decodes to its default when missing.

use serde::{Deserialize, Serialize};

/// A zone as `GET /api/v1/policy` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ZoneView {
    pub name: String,
    /// Its line in the policy file.
    pub line: usize,
    pub vm_names: Vec<String>,
    pub tags: Vec<String>,
    pub port_groups: Vec<String>,
    pub vlans: Vec<u16>,
    pub vnis: Vec<u32>,
    pub cidrs: Vec<String>,
}

/// A rule as `GET /api/v1/policy` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RuleView {
    pub description: String,
    /// Its line in the policy file.
    pub line: usize,
    pub from: Vec<String>,
    pub to: Vec<String>,
    /// IP protocol numbers; null = any.
    pub protos: Option<Vec<u8>>,
    /// `"22"` or `"8000-8999"`; null = any port.
    pub ports: Option<Vec<String>>,
    /// `allow` or `deny`.
    pub action: String,
    pub severity: String,
}

/// The answer of `GET /api/v1/policy`: the policy in use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PolicyView {
    /// The policy file.
    pub path: String,
    /// Why the file on disk does not load (the rest is the last good
    /// version, null if none loaded since the dashboard started).
    pub error: Option<String>,
    /// The revision in force; null when none loaded.
    pub revision: Option<String>,
    pub warnings: Vec<String>,
    /// Findings against the inventory (zones no VM is in).
    pub inventory_warnings: Vec<String>,
    /// `allow` or `deny`: what the policy does between zones no rule names.
    pub default_cross_zone: Option<String>,
    pub default_severity: Option<String>,
    pub zones: Vec<ZoneView>,
    pub rules: Vec<RuleView>,
    /// The zone pairs that must never share a host.
    pub separate: Vec<[String; 2]>,
}

/// Two VMs of separated zones on one host, and since / until when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct CoResidencyView {
    pub host: String,
    pub zones: [String; 2],
    pub vms: [String; 2],
    /// Epoch ms; 0 = since the inventory's beginning.
    pub since_ms: u64,
    /// Epoch ms (exclusive); null while they still share the host.
    pub until_ms: Option<u64>,
}

/// The answer of `GET /api/v1/coresidency`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct CoResidencyReport {
    pub now_ms: u64,
    pub policy_revision: Option<String>,
    /// The `separate` pairs checked.
    pub separate: Vec<[String; 2]>,
    /// Sharing a host now.
    pub current: Vec<CoResidencyView>,
    /// Every period, past and current, host by host.
    pub history: Vec<CoResidencyView>,
}
