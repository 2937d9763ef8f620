//! `peel`: unwrap the layers a mirror wrapped a frame in, down to the inner
//! Ethernet frame that is metered, and `meter`: read what the flow cache
//! needs from that inner frame.
//!
//! CONTRACT (implemented by the decap work; signatures are shared with the
//! exporter): never panics on any input; every failure is a [`DecapError`]
//! whose [`DecapError::reason`] is a stable counter label.

use std::net::IpAddr;

use crate::flow::Encap;

/// Default bound on nested encapsulations.
pub const DEFAULT_MAX_DEPTH: usize = 4;

/// What `peel` found: the inner frame and the metadata peeled on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peeled<'a> {
    /// The innermost Ethernet frame (its own 802.1Q tags still in place).
    pub frame: &'a [u8],
    /// The outermost tunnel that carried the frame ([`Encap::Span`] if none).
    pub encap: Encap,
    /// ERSPAN session id (0 if none).
    pub session: u16,
    /// VLAN from the ERSPAN header or the outer frame's tag (0 if none).
    pub outer_vlan: u16,
    /// VXLAN / Geneve VNI (0 if none).
    pub vni: u32,
    /// Tunnel source / destination (ERSPAN mirror source, VXLAN VTEPs).
    pub tunnel_src: Option<IpAddr>,
    pub tunnel_dst: Option<IpAddr>,
    /// Number of tunnel layers removed.
    pub depth: u8,
}

/// The metered view of an inner frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metered {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    /// Innermost 802.1Q VLAN id (0 if untagged).
    pub vlan: u16,
    /// IP total length (IPv4 total length, IPv6 payload length + 40), as
    /// the IP header says, even when the capture was truncated.
    pub ip_len: u16,
    pub tos: u8,
    pub tcp_flags: u8,
    pub icmp_type_code: u16,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// IPv4 fragment: (identification, is first fragment). `None` if not a
    /// fragment.
    pub fragment: Option<(u32, bool)>,
}

/// Why a frame was not metered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecapError {
    #[error("truncated {layer} header")]
    Truncated { layer: &'static str },
    #[error("malformed {layer}: {what}")]
    Malformed { layer: &'static str, what: &'static str },
    #[error("more than the allowed number of nested encapsulations")]
    TooDeep,
    #[error("not IP (ethertype {0:#06x})")]
    NotIp(u16),
}

impl DecapError {
    /// Stable label for the `reason` of decode-error counters.
    pub fn reason(&self) -> &'static str {
        match self {
            DecapError::Truncated { .. } => "truncated",
            DecapError::Malformed { .. } => "malformed",
            DecapError::TooDeep => "too_deep",
            DecapError::NotIp(_) => "not_ip",
        }
    }
}

// To be implemented (decap work):
//   pub fn peel(frame: &[u8], max_depth: usize) -> Result<Peeled<'_>, DecapError>
//   pub fn meter(frame: &[u8]) -> Result<Metered, DecapError>
