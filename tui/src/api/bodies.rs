//! The answers of the endpoints the TUI reads, decoded as `eastwest-api`'s
//! types and shown through [`Conversation`], the one row it shows a
//! conversation or a violation as, and the pages of those rows.

use eastwest_api::{self as api, answers};
use serde::Serialize;

use super::{ObservationPoint, Placement, Severity, Totals, VerdictKind};

/// One conversation, oriented: the client (initiator) and the server
/// (responder), with bytes and packets per direction: the one row the TUI
/// shows a conversation or a violation as. It is made from the rows of
/// `eastwest-api` ([`api::Conversation`] of `conversations`, `vms/{name}`
/// and `hosts/{name}`; [`api::Violation`] of `violations`, which has
/// first/last seen, totals only and its observation points), which also
/// decode the one-direction rows of older dashboards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Conversation {
    pub client_vm: String,
    pub client_addr: Option<String>,
    pub client_zone: String,
    pub client_host: String,
    pub server_vm: String,
    pub server_addr: Option<String>,
    pub server_zone: String,
    pub server_host: String,
    pub proto: u8,
    pub server_port: u16,
    #[serde(with = "eastwest_api::word")]
    pub verdict: VerdictKind,
    pub rule: String,
    #[serde(with = "eastwest_api::word")]
    pub severity: Option<Severity>,
    pub same_host: bool,
    pub observers: Vec<String>,
    pub flows: u64,
    /// Client → server.
    pub bytes_fwd: u64,
    pub packets_fwd: u64,
    /// Server → client.
    pub bytes_rev: u64,
    pub packets_rev: u64,
    /// Both directions.
    pub bytes: u64,
    pub packets: u64,
    /// First seen (`first_ms` of a violation).
    pub start_ms: u64,
    /// Last seen (`last_ms` of a violation).
    pub end_ms: u64,
    /// Violations only: where it was seen, and the policy that judged it.
    pub observation_points: Vec<ObservationPoint>,
    pub policy_revision: String,
}

impl From<api::Conversation> for Conversation {
    fn from(c: api::Conversation) -> Conversation {
        Conversation {
            client_vm: c.client_vm,
            client_addr: c.client_addr,
            client_zone: c.client_zone,
            client_host: c.client_host,
            server_vm: c.server_vm,
            server_addr: c.server_addr,
            server_zone: c.server_zone,
            server_host: c.server_host,
            proto: c.proto,
            server_port: c.server_port,
            verdict: c.verdict,
            rule: c.rule,
            severity: c.severity,
            same_host: c.same_host,
            observers: c.observers,
            flows: c.flows,
            bytes_fwd: c.bytes_fwd,
            packets_fwd: c.packets_fwd,
            bytes_rev: c.bytes_rev,
            packets_rev: c.packets_rev,
            bytes: c.bytes,
            packets: c.packets,
            start_ms: c.start_ms,
            end_ms: c.end_ms,
            observation_points: Vec::new(),
            policy_revision: String::new(),
        }
    }
}

/// A violation is a conversation judged `violation`; its hosts are those
/// of its observation points' (unknown per side).
impl From<api::Violation> for Conversation {
    fn from(v: api::Violation) -> Conversation {
        Conversation {
            client_vm: v.client_vm,
            client_addr: v.client_addr,
            client_zone: v.client_zone,
            server_vm: v.server_vm,
            server_addr: v.server_addr,
            server_zone: v.server_zone,
            proto: v.proto,
            server_port: v.server_port,
            verdict: VerdictKind::Violation,
            rule: v.rule,
            severity: v.severity,
            same_host: v.same_host,
            flows: v.flows,
            bytes: v.bytes,
            packets: v.packets,
            start_ms: v.first_ms,
            end_ms: v.last_ms,
            observation_points: v.observation_points,
            policy_revision: v.policy_revision,
            ..Conversation::default()
        }
    }
}

impl Conversation {
    pub fn is_violation(&self) -> bool {
        self.verdict == VerdictKind::Violation
    }

    /// The client's VM name, or its address when the VM is unknown.
    pub fn client(&self) -> &str {
        endpoint(&self.client_vm, &self.client_addr)
    }

    /// The server's VM name, or its address when the VM is unknown.
    pub fn server(&self) -> &str {
        endpoint(&self.server_vm, &self.server_addr)
    }

    /// Both directions' bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
            .max(self.bytes_fwd.saturating_add(self.bytes_rev))
    }

    /// Both directions' packets.
    pub fn packets(&self) -> u64 {
        self.packets
            .max(self.packets_fwd.saturating_add(self.packets_rev))
    }

    /// The hosts that saw it (`observers`, or a violation's observation
    /// points).
    pub fn seen_by(&self) -> Vec<&str> {
        if self.observers.is_empty() {
            self.observation_points
                .iter()
                .map(|p| p.observer.as_str())
                .collect()
        } else {
            self.observers.iter().map(String::as_str).collect()
        }
    }

    /// The host the conversation is switched on when both VMs share one,
    /// else `client host → server host` (`?` for an unknown one).
    pub fn host(&self) -> String {
        let name = |h: &str| {
            if h.is_empty() {
                "?".to_string()
            } else {
                h.to_string()
            }
        };
        if self.same_host || self.client_host == self.server_host {
            name(&self.client_host)
        } else {
            format!("{}→{}", name(&self.client_host), name(&self.server_host))
        }
    }

    /// `TCP/443`, `UDP/53`, `ICMP`, `proto 89`.
    pub fn service(&self) -> String {
        service(self.proto, self.server_port)
    }
}

/// `TCP/443`, `UDP/53`, `ICMP`, `proto 89`.
pub fn service(proto: u8, port: u16) -> String {
    let name = match proto {
        1 => "ICMP",
        6 => "TCP",
        17 => "UDP",
        47 => "GRE",
        50 => "ESP",
        58 => "ICMPv6",
        132 => "SCTP",
        other => return format!("proto {other}"),
    };
    if matches!(proto, 6 | 17 | 132) {
        format!("{name}/{port}")
    } else {
        name.to_string()
    }
}

fn endpoint<'a>(vm: &'a str, addr: &'a Option<String>) -> &'a str {
    if vm.is_empty() {
        addr.as_deref().unwrap_or("?")
    } else {
        vm
    }
}

fn rows<R: Into<Conversation>>(rows: Vec<R>) -> Vec<Conversation> {
    rows.into_iter().map(Into::into).collect()
}

/// `GET /api/v1/conversations` as the TUI shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConversationsPage {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

impl From<answers::ConversationsResponse> for ConversationsPage {
    fn from(a: answers::ConversationsResponse) -> ConversationsPage {
        ConversationsPage {
            from_ms: a.from_ms,
            to_ms: a.to_ms,
            totals: a.totals,
            conversations: rows(a.conversations),
        }
    }
}

/// `GET /api/v1/violations` as the TUI shows it: violating conversations,
/// newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ViolationsPage {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    pub total: u64,
    pub violations: Vec<Conversation>,
}

impl From<answers::ViolationsResponse> for ViolationsPage {
    fn from(a: answers::ViolationsResponse) -> ViolationsPage {
        ViolationsPage {
            from_ms: a.from_ms,
            to_ms: a.to_ms,
            total: a.total,
            violations: rows(a.violations),
        }
    }
}

/// The body of `GET /api/v1/zones/matrix`.
pub type ZoneMatrix = answers::MatrixResponse;

/// The body of `GET /api/v1/hosts`.
pub type Hosts = answers::HostsResponse;

/// `GET /api/v1/hosts/{name}` as the TUI shows it: the conversations
/// switched locally on one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostDetail {
    pub host: String,
    pub vms: Vec<String>,
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

impl From<answers::HostResponse> for HostDetail {
    fn from(a: answers::HostResponse) -> HostDetail {
        HostDetail {
            host: a.host,
            vms: a.vms,
            totals: a.totals,
            conversations: rows(a.conversations),
        }
    }
}

/// `GET /api/v1/vms/{name}` as the TUI shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmDetail {
    pub name: String,
    pub zones: Vec<String>,
    pub placements: Vec<Placement>,
    pub totals: Totals,
    /// Its conversations, as client or as server.
    pub conversations: Vec<Conversation>,
}

impl From<answers::VmResponse> for VmDetail {
    fn from(a: answers::VmResponse) -> VmDetail {
        VmDetail {
            name: a.name,
            zones: a.zones,
            placements: a.placements,
            totals: a.totals,
            conversations: rows(a.conversations),
        }
    }
}

/// The body of `GET /api/v1/timeseries`.
pub type Timeseries = answers::TimeseriesResponse;

/// The body of `GET /api/v1/exporters`.
pub type Exporters = answers::ExportersResponse;

/// The body of `GET /api/v1/policy`; the header shows its revision in
/// force (`None` when none loaded) and why the file on disk does not load,
/// if it does not.
pub type Policy = api::policy::PolicyView;
