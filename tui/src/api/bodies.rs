//! The bodies of the endpoints the TUI reads, and [`Conversation`], the
//! one row it shows a conversation or a violation as.

use serde::{Deserialize, Serialize};

use super::{ObservationPoint, Placement, Severity, Totals, VerdictKind};

/// One conversation, oriented: the client (initiator) and the server
/// (responder), with bytes and packets per direction. Rows of
/// `conversations`, `vms/{name}`, `hosts/{name}` and `violations` all
/// decode into it (a violation has first/last seen, totals only and its
/// observation points). The one-direction rows of dashboards before the
/// bidirectional API (`src_*`/`dst_*`, `dst_port`) decode too, through
/// aliases, with their totals in `bytes`/`packets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conversation {
    #[serde(alias = "src_vm")]
    pub client_vm: String,
    #[serde(alias = "src_addr")]
    pub client_addr: Option<String>,
    #[serde(alias = "src_zone")]
    pub client_zone: String,
    #[serde(alias = "src_host")]
    pub client_host: String,
    #[serde(alias = "dst_vm")]
    pub server_vm: String,
    #[serde(alias = "dst_addr")]
    pub server_addr: Option<String>,
    #[serde(alias = "dst_zone")]
    pub server_zone: String,
    #[serde(alias = "dst_host")]
    pub server_host: String,
    pub proto: u8,
    #[serde(alias = "dst_port")]
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
    /// First seen (`first_ms` in a violation).
    #[serde(alias = "first_ms")]
    pub start_ms: u64,
    /// Last seen (`last_ms` in a violation).
    #[serde(alias = "last_ms")]
    pub end_ms: u64,
    /// Violations only: where it was seen, and the policy that judged it.
    pub observation_points: Vec<ObservationPoint>,
    pub policy_revision: String,
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

/// The body of `GET /api/v1/conversations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationsPage {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

/// The body of `GET /api/v1/violations`: violating conversations, newest
/// first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationsPage {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    #[serde(default)]
    pub total: u64,
    pub violations: Vec<Conversation>,
}

/// The body of `GET /api/v1/zones/matrix`.
pub type ZoneMatrix = eastwest_api::answers::MatrixResponse;

/// The body of `GET /api/v1/hosts`.
pub type Hosts = eastwest_api::answers::HostsResponse;

/// The body of `GET /api/v1/hosts/{name}`: the conversations switched
/// locally on one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDetail {
    pub host: String,
    #[serde(default)]
    pub vms: Vec<String>,
    #[serde(default)]
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

/// The body of `GET /api/v1/vms/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmDetail {
    pub name: String,
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub placements: Vec<Placement>,
    #[serde(default)]
    pub totals: Totals,
    /// Its conversations, as client or as server.
    pub conversations: Vec<Conversation>,
}

/// The body of `GET /api/v1/timeseries`.
pub type Timeseries = eastwest_api::answers::TimeseriesResponse;

/// The body of `GET /api/v1/exporters`.
pub type Exporters = eastwest_api::answers::ExportersResponse;

/// The part of `GET /api/v1/policy` the header shows: the revision in
/// force (`null` when none loaded) and why the file on disk does not load,
/// if it does not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub revision: Option<String>,
    pub error: Option<String>,
}
