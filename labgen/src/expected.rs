//! The truth written to `lab/expected.json`.

use serde::Serialize;

/// Everything the end-to-end tests assert against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    /// RFC 3339 time of the lab's start.
    pub start: String,
    /// Capture time of the first and last frame, ms since the Unix epoch.
    pub first_ms: u64,
    pub last_ms: u64,
    /// Frames in lab.pcap.
    pub frames: usize,
    pub observation_points: Vec<ObservationPoint>,
    pub conversations: Vec<ConversationTruth>,
    /// Frames that are not IP (ARP, LLDP), per observation point.
    pub non_ip: Vec<NonIp>,
}

/// A place where the lab's traffic is seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservationPoint {
    /// `host/encap` (e.g. `esx-03/erspan2`), or `underlay/vxlan`.
    pub name: String,
    pub encap: &'static str,
    /// The mirroring host; empty for the VXLAN underlay (whose frames are
    /// attributed to the host of the outer source VTEP).
    pub host: &'static str,
    /// Outer source of ERSPAN frames (empty otherwise).
    pub mirror_source: String,
    /// ERSPAN session id (0 if none).
    pub session: u16,
    /// Frames captured at this point (IP and non-IP).
    pub frames: u64,
}

/// One conversation and what every observation point saw of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversationTruth {
    /// `client->server proto/port`.
    pub name: String,
    pub client_vm: &'static str,
    pub server_vm: &'static str,
    pub client_ip: String,
    pub server_ip: String,
    /// IP protocol number.
    pub proto: u8,
    pub client_port: u16,
    pub server_port: u16,
    pub same_host: bool,
    /// `allowed` or `violation`.
    pub verdict: &'static str,
    /// Description of the deciding rule of a violation (empty if allowed).
    pub rule: &'static str,
    /// Logical packets and IP bytes per direction, counted once.
    pub forward: Counters,
    pub reverse: Counters,
    /// The unidirectional flows per observation point.
    pub flows: Vec<FlowTruth>,
}

/// Packets and bytes (sum of IP total lengths; IPv6 payload + 40).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

/// One direction of a conversation at one observation point: the flow a
/// correct exporter reports (fragments that are not first have ports 0 in
/// the packet but belong to this flow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowTruth {
    pub observation: String,
    /// `forward` (client → server) or `reverse`.
    pub direction: &'static str,
    pub encap: &'static str,
    /// Host the frames are attributed to and its observation domain.
    pub host: &'static str,
    pub domain: u32,
    /// Outer addresses of the tunnel (empty for SPAN).
    pub tunnel_src: String,
    pub tunnel_dst: String,
    /// 802.1Q tag of the metered (inner) frame, 0 if untagged.
    pub vlan: u16,
    /// VLAN field of the ERSPAN II/III header (0 if none).
    pub erspan_vlan: u16,
    /// VXLAN VNI (0 if none).
    pub vni: u32,
    pub session: u16,
    pub src_ip: String,
    pub dst_ip: String,
    pub src_port: u16,
    pub dst_port: u16,
    pub packets: u64,
    pub bytes: u64,
    /// IPv4 fragments among the packets (0 if none).
    pub fragments: u64,
    pub first_ms: u64,
    pub last_ms: u64,
}

/// Non-IP frames at an observation point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NonIp {
    pub observation: String,
    /// Ethertype of the metered frame, e.g. `0x0806`.
    pub ethertype: String,
    pub frames: u64,
}
