//! The plan of a capture: which observation point to ask for which
//! conversation, and what the capture's comment says of each.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::FlowRecord;
use eastwest_api::word::Word;

/// A conversation as its flow records show it: both ends, the server's
/// port, the protocol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Conversation {
    pub client: String,
    pub server: String,
    pub port: u16,
    pub proto: u8,
}

/// One observation point: an exporter's observation domain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Point {
    pub exporter: String,
    pub source_id: u32,
}

/// What the flows say of one (point, conversation): the time span and how
/// the point names itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub point: Point,
    pub conversation: Conversation,
    /// First and last packet, epoch ms (the window asked of the exporter:
    /// `[first, last + 1 ms)`).
    pub first_ms: u64,
    pub last_ms: u64,
}

/// What the capture's comment says of one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Judgement {
    pub client_vm: String,
    pub server_vm: String,
    pub verdict: String,
    pub rule: String,
    pub severity: String,
    pub policy_revision: String,
}

/// The flows grouped: what to fetch, the points' names, the conversations'
/// verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub fetches: Vec<Fetch>,
    /// Interface name of each point (`observer/encap`).
    pub names: BTreeMap<Point, String>,
    pub judgements: BTreeMap<Conversation, Judgement>,
}

/// Group flow records into fetches, one per (point, conversation).
pub fn plan(flows: &[FlowRecord]) -> Plan {
    let mut plan = Plan::default();
    let mut spans: BTreeMap<(Point, Conversation), (u64, u64)> = BTreeMap::new();
    let mut encaps: BTreeMap<Point, (String, BTreeSet<String>)> = BTreeMap::new();
    for f in flows {
        // The request direction names the client; a reply is turned round.
        let (client, server, port, client_vm, server_vm) = if f.reply {
            (&f.dst_addr, &f.src_addr, f.src_port, &f.dst_vm, &f.src_vm)
        } else {
            (&f.src_addr, &f.dst_addr, f.dst_port, &f.src_vm, &f.dst_vm)
        };
        let conversation = Conversation {
            client: client.clone(),
            server: server.clone(),
            port,
            proto: f.proto,
        };
        let point = Point {
            exporter: f.exporter.clone(),
            source_id: f.source_id,
        };
        let span = spans
            .entry((point.clone(), conversation.clone()))
            .or_insert((f.start_ms, f.end_ms));
        span.0 = span.0.min(f.start_ms);
        span.1 = span.1.max(f.end_ms);
        let name = encaps
            .entry(point)
            .or_insert_with(|| (f.observer.clone(), BTreeSet::new()));
        if let Some(encap) = f.encap {
            name.1.insert(encap.as_str().to_string());
        }
        plan.judgements
            .entry(conversation)
            .or_insert_with(|| Judgement {
                client_vm: client_vm.clone(),
                server_vm: server_vm.clone(),
                verdict: f.verdict.to_string(),
                rule: f.rule.clone(),
                severity: f.severity.word().to_string(),
                policy_revision: f.policy_revision.clone(),
            });
    }
    for (point, (observer, encaps)) in encaps {
        let host = if observer.is_empty() {
            point.exporter.clone()
        } else {
            observer
        };
        let name = if encaps.is_empty() {
            format!("{host}/domain-{}", point.source_id)
        } else {
            format!(
                "{host}/{}",
                encaps.into_iter().collect::<Vec<_>>().join("+")
            )
        };
        plan.names.insert(point, name);
    }
    plan.fetches = spans
        .into_iter()
        .map(|((point, conversation), (first_ms, last_ms))| Fetch {
            point,
            conversation,
            first_ms,
            last_ms,
        })
        .collect();
    plan
}

/// The section header's comment: one line per conversation.
pub fn comment(plan: &Plan) -> String {
    let mut lines = vec!["eastwest packet evidence".to_string()];
    for (c, j) in &plan.judgements {
        let vm = |vm: &str, addr: &str| {
            if vm.is_empty() {
                addr.to_string()
            } else {
                format!("{vm} ({addr})")
            }
        };
        lines.push(format!(
            "{} -> {} port {} proto {}: verdict {}, rule {}, severity {}, policy revision {}",
            vm(&j.client_vm, &c.client),
            vm(&j.server_vm, &c.server),
            c.port,
            c.proto,
            or_none(&j.verdict),
            or_none(&j.rule),
            or_none(&j.severity),
            or_none(&j.policy_revision),
        ));
    }
    lines.join("\n")
}

pub(super) fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// A file name for the capture of `plan`.
pub fn file_name(plan: &Plan) -> String {
    let mut conversations = plan.judgements.keys();
    let name = match (conversations.next(), conversations.next()) {
        (Some(c), None) => format!("{}-{}-{}-{}", c.client, c.server, c.port, c.proto),
        _ => format!("{}-conversations", plan.judgements.len()),
    };
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("eastwest-{name}.pcapng")
}
