//! The report put together from what the store found: the policy
//! revisions, the coverage of each host and the summary's statement.

use super::{Coverage, LossRow, PointRow, Report, ReportData, Revision, Summary};

/// What was observed at a host (nothing: VMs ran there, no mirror saw them).
struct Observed {
    host: String,
    flows: u64,
    first_ms: u64,
    last_ms: u64,
}

/// The points summed per policy revision (in order of first flow), and per
/// observer with every host that ran a VM (in host order).
fn revisions_and_observed(
    points: &[PointRow],
    vm_hosts: &[String],
) -> (Vec<Revision>, Vec<Observed>) {
    use std::collections::BTreeMap;
    let mut revisions: BTreeMap<&str, Revision> = BTreeMap::new();
    let mut observed: BTreeMap<&str, Observed> = BTreeMap::new();
    for p in points {
        let r = revisions.entry(&p.revision).or_insert_with(|| Revision {
            revision: p.revision.clone(),
            first_ms: p.first_ms,
            last_ms: p.last_ms,
            flows: 0,
        });
        r.first_ms = r.first_ms.min(p.first_ms);
        r.last_ms = r.last_ms.max(p.last_ms);
        r.flows += p.flows;
        if p.observer.is_empty() {
            continue;
        }
        let o = observed.entry(&p.observer).or_insert_with(|| Observed {
            host: p.observer.clone(),
            flows: 0,
            first_ms: p.first_ms,
            last_ms: p.last_ms,
        });
        o.first_ms = o.first_ms.min(p.first_ms);
        o.last_ms = o.last_ms.max(p.last_ms);
        o.flows += p.flows;
    }
    for host in vm_hosts.iter().filter(|h| !h.is_empty()) {
        observed.entry(host).or_insert_with(|| Observed {
            host: host.clone(),
            flows: 0,
            first_ms: 0,
            last_ms: 0,
        });
    }
    let mut revisions: Vec<Revision> = revisions.into_values().collect();
    revisions.sort_by(|a, b| (a.first_ms, &a.revision).cmp(&(b.first_ms, &b.revision)));
    (revisions, observed.into_values().collect())
}

/// Coverage per host (every host that ran a VM or observed a flow) and the
/// summary; `resolution`: what answered the conversation sections.
pub fn assemble(
    data: ReportData,
    from_ms: Option<u64>,
    to_ms: Option<u64>,
    dataset: Option<String>,
    resolution: &str,
    generated_ms: u64,
) -> Report {
    let (revisions, observed) = revisions_and_observed(&data.points, &data.vm_hosts);
    let mut coverage: Vec<Coverage> = observed
        .iter()
        .map(|o| {
            let losses: Vec<&LossRow> = data.losses.iter().filter(|l| l.name == o.host).collect();
            let gaps: u64 = losses
                .iter()
                .map(|l| u64::try_from(l.sequence_gaps).unwrap_or(0))
                .sum();
            let drops: u64 = losses
                .iter()
                .map(|l| u64::try_from(l.drops).unwrap_or(0))
                .sum();
            let observed = o.flows > 0;
            Coverage {
                host: o.host.clone(),
                exporters: losses
                    .iter()
                    .map(|l| {
                        format!(
                            "{}/{}",
                            eastwest_clickhouse::schema::addr_from_bytes(l.exporter),
                            l.source_id
                        )
                    })
                    .collect(),
                flows: o.flows,
                first_ms: observed.then_some(o.first_ms),
                last_ms: observed.then_some(o.last_ms),
                sequence_gaps: gaps,
                drops,
                // Gaps and drops are only known from exporter snapshots:
                // without one, completeness is not claimed.
                complete: observed && !losses.is_empty() && gaps == 0 && drops == 0,
            }
        })
        .collect();
    coverage.sort_by(|a, b| a.host.cmp(&b.host));
    let violations: u64 = data.violations.iter().map(|v| v.conversations).sum();
    let (complete, incomplete): (Vec<&Coverage>, Vec<&Coverage>) =
        coverage.iter().partition(|c| c.complete);
    let hosts_complete: Vec<String> = complete.iter().map(|c| c.host.clone()).collect();
    let hosts_incomplete: Vec<String> = incomplete.iter().map(|c| c.host.clone()).collect();
    let coverage_text = format!(
        "Coverage complete on {} of {} hosts",
        hosts_complete.len(),
        coverage.len()
    );
    let statement = match (violations, hosts_incomplete.is_empty()) {
        (0, true) if !coverage.is_empty() => format!(
            "No violating conversations. {coverage_text}: the absence of violations holds for every host."
        ),
        (0, _) => format!(
            "No violating conversations observed. {coverage_text}; no claim is made for: {}.",
            if hosts_incomplete.is_empty() {
                "any host (no traffic observed)".to_string()
            } else {
                hosts_incomplete.join(", ")
            }
        ),
        (n, true) => format!("{n} violating conversation{}. {coverage_text}.", plural(n)),
        (n, false) => format!(
            "{n} violating conversation{}. {coverage_text}; traffic at {} may be missing.",
            plural(n),
            hosts_incomplete.join(", ")
        ),
    };
    Report {
        from_ms,
        to_ms,
        generated_ms,
        resolution: resolution.to_string(),
        first_flow_ms: revisions.iter().map(|r| r.first_ms).min(),
        last_flow_ms: revisions.iter().map(|r| r.last_ms).max(),
        dataset,
        policy_revisions: revisions,
        violations_by_zone_pair: data.violations,
        violating_conversations: Vec::new(),
        intra_host_cross_zone: data.intra_host,
        coresidency: None,
        coverage,
        summary: Summary {
            violations,
            hosts_complete,
            hosts_incomplete,
            statement,
        },
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
