//! Verdict: what the segmentation policy says about a flow.
//!
//! Zones come from the VM's placement when the inventory knew it (computed
//! once per placement, `Policy::vm_zone_index`), else from the address
//! (`Policy::endpoint_zone`); the verdict, deciding rule and severity from
//! `Policy::decide` — for a reply (`core::flow::direction`), the judgement
//! of the request it answers; every row carries the policy revision that
//! judged it. Without a policy, zones stay empty and the verdict is
//! `unknown`. Nothing here allocates per flow: the names of zones, rules
//! and the revision are made once ([`Name`]) and cloned into the rows,
//! verdict and severity are enums.

use std::path::Path;

use eastwest_clickhouse::schema::row::Name;
use eastwest_clickhouse::schema::{addr_from_bytes, FlowRow};
use eastwest_core::config::ConfigError;
use eastwest_core::flow::{direction, Direction};
use eastwest_core::inventory::Vm;
use eastwest_core::policy::{Policy, Verdict, VerdictKind};
use eastwest_core::severity::Severity;

use crate::enrich::Endpoints;
use crate::metrics::{labelled, Counter, Registry};

/// Verdict's counters (`eastwest_collector_verdict_*`): flows judged, by
/// verdict.
#[derive(Debug)]
pub struct VerdictMetrics {
    pub allowed: Counter,
    pub violation: Counter,
    pub unknown: Counter,
}

impl VerdictMetrics {
    /// The counters, registered in `registry`.
    pub fn new(registry: &mut Registry) -> VerdictMetrics {
        let kinds = [
            VerdictKind::Allowed,
            VerdictKind::Violation,
            VerdictKind::Unknown,
        ];
        let [allowed, violation, unknown] = labelled(
            registry,
            "verdict_flows",
            "Flows judged, by verdict",
            "verdict",
            kinds.map(VerdictKind::as_str),
        );
        VerdictMetrics {
            allowed,
            violation,
            unknown,
        }
    }

    /// Count one flow judged `verdict`.
    pub fn count(&self, verdict: VerdictKind) {
        match verdict {
            VerdictKind::Allowed => self.allowed.inc(),
            VerdictKind::Violation => self.violation.inc(),
            VerdictKind::Unknown => self.unknown.inc(),
        };
    }
}

/// The verdict stage.
#[derive(Debug, Default)]
pub struct Judge {
    policy: Option<Policy>,
    /// Zone index of each placement seen, by its index in
    /// `Inventory::vms` (`None`: not computed yet): name patterns are
    /// matched once per placement, not once per flow. Cleared with a new
    /// inventory.
    vm_zones: Vec<Option<Option<usize>>>,
    /// Name of each zone by index, then of the unzoned.
    zone_names: Vec<Name>,
    /// The rule's name and severity of each (rule, severity) text the
    /// policy decided with, keyed by where that text lives in the policy
    /// (it does not move while the policy is held).
    rules: foldhash::HashMap<[usize; 4], (Name, Option<Severity>)>,
    revision: Name,
}

impl Judge {
    pub fn new(policy: Option<Policy>) -> Judge {
        let (zone_names, revision) = match &policy {
            Some(policy) => (
                policy
                    .zone_names()
                    .chain([policy.zone_name(None)])
                    .map(Name::from)
                    .collect(),
                policy.revision().into(),
            ),
            None => (Vec::new(), Name::default()),
        };
        Judge {
            policy,
            vm_zones: Vec::new(),
            zone_names,
            rules: foldhash::HashMap::default(),
            revision,
        }
    }

    /// The name of zone index `zone` (`None`: unzoned).
    fn zone_name(&self, zone: Option<usize>) -> Name {
        let unzoned = self.zone_names.len().saturating_sub(1);
        let index = zone.filter(|&i| i < unzoned).unwrap_or(unzoned);
        self.zone_names.get(index).cloned().unwrap_or_default()
    }

    /// The rule's name and severity of `verdict`, made once per rule.
    fn rule(
        rules: &mut foldhash::HashMap<[usize; 4], (Name, Option<Severity>)>,
        verdict: &Verdict<'_>,
    ) -> (Name, Option<Severity>) {
        let key = [
            verdict.rule.as_ptr() as usize,
            verdict.rule.len(),
            verdict.severity.as_ptr() as usize,
            verdict.severity.len(),
        ];
        rules
            .entry(key)
            .or_insert_with(|| (verdict.rule.into(), Severity::parse(verdict.severity)))
            .clone()
    }

    /// Forget the zones of placements (the inventory changed).
    pub fn forget_placements(&mut self) {
        self.vm_zones.clear();
    }

    /// The placement's zone index, from the cache or computed once.
    fn vm_zone(&mut self, placement: Option<(usize, &Vm)>) -> Option<usize> {
        let ((index, vm), policy) = (placement?, self.policy.as_ref()?);
        if let Some(&Some(zone)) = self.vm_zones.get(index) {
            return zone;
        }
        let zone = policy.vm_zone_index(vm);
        if self.vm_zones.len() <= index {
            self.vm_zones.resize(index + 1, None);
        }
        self.vm_zones[index] = Some(zone);
        zone
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
    pub fn judge(&mut self, endpoints: Endpoints<'_>, row: &mut FlowRow) {
        let (src_vm_zone, dst_vm_zone) = (self.vm_zone(endpoints.src), self.vm_zone(endpoints.dst));
        let Some(policy) = &self.policy else {
            // Decode leaves every row `unknown`.
            return;
        };
        let src_zone = policy.endpoint_zone(src_vm_zone, addr_from_bytes(row.src_addr));
        let dst_zone = policy.endpoint_zone(dst_vm_zone, addr_from_bytes(row.dst_addr));
        // A reply is judged as the request it answers: the reply of an
        // allowed web → app:8443 call is allowed by that rule, and the reply
        // of a forbidden call carries the violation of the call.
        let verdict = match direction(row.proto, row.src_port, row.dst_port, row.icmp) {
            Direction::Request => policy.decide(src_zone, dst_zone, row.proto, row.dst_port),
            Direction::Reply => policy.decide(dst_zone, src_zone, row.proto, row.src_port),
        };
        (row.rule, row.severity) = Judge::rule(&mut self.rules, &verdict);
        row.verdict = verdict.kind;
        row.src_zone = self.zone_name(src_zone);
        row.dst_zone = self.zone_name(dst_zone);
        row.policy_revision = self.revision.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eastwest_clickhouse::schema::addr_to_bytes;
    use eastwest_core::inventory::Inventory;
    use eastwest_core::policy::VerdictKind;

    fn lab(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../lab")
            .join(name)
    }

    fn judged(src: &str, dst: &str, proto: u8, src_port: u16, dst_port: u16, icmp: u16) -> FlowRow {
        let inventory = Inventory::load(&lab("inventory.toml")).unwrap();
        let mut judge = Judge::load(Some(&lab("policy.toml"))).unwrap();
        let vm = |name: &str| {
            let i = inventory.vms.iter().position(|v| v.name == name).unwrap();
            (i, &inventory.vms[i])
        };
        let ((si, s), (di, d)) = (vm(src), vm(dst));
        let mut row = FlowRow {
            src_addr: addr_to_bytes(s.ips[0]),
            dst_addr: addr_to_bytes(d.ips[0]),
            proto,
            src_port,
            dst_port,
            icmp,
            ..FlowRow::default()
        };
        judge.judge(
            Endpoints {
                src: Some((si, s)),
                dst: Some((di, d)),
            },
            &mut row,
        );
        row
    }

    #[test]
    fn requests_are_judged_as_they_go() {
        let row = judged("web-01", "app-01", 6, 41001, 8443, 0);
        assert_eq!(
            (row.verdict.as_str(), row.src_zone.as_str()),
            ("allowed", "dmz")
        );
        let row = judged("fin-fe-01", "payroll-01", 6, 43003, 443, 0);
        assert_eq!(
            (
                row.verdict.as_str(),
                row.severity.map(Severity::as_str).unwrap_or_default()
            ),
            ("violation", "critical")
        );
    }

    #[test]
    fn replies_carry_the_verdict_of_their_request() {
        // app-01:8443 → web-01 answers web-01 → app-01:8443 (allowed), not
        // an app → dmz call the default would deny.
        let row = judged("app-01", "web-01", 6, 8443, 41001, 0);
        assert_eq!(row.verdict, VerdictKind::Allowed);
        assert_eq!(row.rule, "DMZ web servers call the app tier on 8443");
        assert_eq!(
            (row.src_zone.as_str(), row.dst_zone.as_str()),
            ("app", "dmz")
        );
        // db-02:5432 → web-01 answers the DMZ reaching the database tier.
        let row = judged("db-02", "web-01", 6, 5432, 45005, 0);
        assert_eq!(
            (
                row.verdict.as_str(),
                row.severity.map(Severity::as_str).unwrap_or_default()
            ),
            ("violation", "critical")
        );
        assert_eq!(row.rule, "the DMZ must never reach the database tier");
        // An ICMP echo reply from the app tier to the DMZ.
        let row = judged("app-01", "web-01", 1, 0, 0, 0);
        assert_eq!(row.rule, "default cross-zone");
        assert_eq!(row.verdict, VerdictKind::Violation);
    }

    #[test]
    fn zones_are_cached_per_placement() {
        // app-01 was tagged db until 09:00, then app: one judge, both
        // placements, each with its own zone.
        let text = std::fs::read_to_string(lab("inventory.toml")).unwrap();
        let text = text.replacen(
            "name = \"app-01\"\nhost = \"esx-01\"",
            "name = \"app-01\"\nhost = \"esx-01\"\ntags = [\"db\"]\n\n[[vm]]\nname = \"app-01\"\n\
             since = \"2026-11-02T09:00:00Z\"\nhost = \"esx-01\"",
            1,
        );
        let inventory = Inventory::parse(&text, "history.toml").unwrap();
        let mut judge = Judge::load(Some(&lab("policy.toml"))).unwrap();
        let placement = |name: &str, at_ms: u64| {
            let i = inventory
                .vms
                .iter()
                .position(|v| v.name == name && v.holds_at(at_ms))
                .unwrap();
            (i, &inventory.vms[i])
        };
        let web = placement("web-01", 1_793_610_000_000);
        let zone_at = |judge: &mut Judge, at_ms: u64| {
            let app = placement("app-01", at_ms);
            let mut row = FlowRow {
                src_addr: addr_to_bytes(web.1.ips[0]),
                dst_addr: addr_to_bytes("10.10.2.11".parse().unwrap()),
                proto: 6,
                src_port: 41001,
                dst_port: 8443,
                ..FlowRow::default()
            };
            let endpoints = Endpoints {
                src: Some(web),
                dst: Some(app),
            };
            judge.judge(endpoints, &mut row);
            (row.dst_zone.to_string(), row.verdict.as_str())
        };
        let before = 1_793_609_999_000;
        let after = 1_793_610_000_000;
        for _ in 0..2 {
            assert_eq!(zone_at(&mut judge, before), ("db".to_string(), "violation"));
            assert_eq!(zone_at(&mut judge, after), ("app".to_string(), "allowed"));
        }
        judge.forget_placements();
        assert_eq!(zone_at(&mut judge, after).0, "app");
    }
}
