//! Why a frame was not metered: [`DecapError`] and its stable counter
//! labels, and the mapping of [`wire`]'s errors onto it.

use crate::wire;

/// Why a frame was not metered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecapError {
    #[error("truncated {layer} header")]
    Truncated { layer: &'static str },
    #[error("malformed {layer}: {what}")]
    Malformed {
        layer: &'static str,
        what: &'static str,
    },
    #[error("more than the allowed number of nested encapsulations")]
    TooDeep,
    #[error("not IP (ethertype {0:#06x})")]
    NotIp(u16),
    #[error("GRE keepalive")]
    GreKeepalive,
    #[error("GRE carrying protocol {0:#06x}, not IP or Ethernet")]
    GreNotIp(u16),
}

impl DecapError {
    /// Stable label for the `reason` of decode-error counters.
    pub fn reason(&self) -> &'static str {
        match self {
            DecapError::Truncated { .. } => "truncated",
            DecapError::Malformed { .. } => "malformed",
            DecapError::TooDeep => "too_deep",
            DecapError::NotIp(_) => "not_ip",
            DecapError::GreKeepalive => "gre_keepalive",
            DecapError::GreNotIp(_) => "gre_not_ip",
        }
    }
}

/// The one error a broken IP header gives (version, IHL).
pub(super) const BAD_IP: DecapError = DecapError::Malformed {
    layer: "ip",
    what: "invalid IP header",
};

/// A [`wire`] view's error as the `layer`'s [`DecapError`].
pub(super) fn wire_error(layer: &'static str, error: wire::Error) -> DecapError {
    match error {
        wire::Error::Truncated => DecapError::Truncated { layer },
        wire::Error::Malformed(what) => DecapError::Malformed { layer, what },
    }
}
