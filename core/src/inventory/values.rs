//! The text forms of a MAC address, a time and an IP address.

use std::net::IpAddr;

use super::Mac;

/// Parse `00:50:56:00:01:11` (or with `-` separators, either case).
pub fn parse_mac(text: &str) -> Option<Mac> {
    let sep = if text.contains('-') { '-' } else { ':' };
    let mut mac = [0u8; 6];
    let mut parts = text.split(sep);
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Format a MAC the way the inventory writes it (`00:50:56:00:01:11`).
pub fn format_mac(mac: Mac) -> String {
    let [a, b, c, d, e, f] = mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

/// Parse an RFC 3339 time (`2026-11-02T09:01:00Z`, `...+01:00`, fractions
/// allowed) into epoch milliseconds; times before 1970 are refused.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let format = time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(text.trim(), &format)
        .map_err(|_| format!("{text:?} is not an RFC 3339 time (want 2026-11-02T09:01:00Z)"))?;
    u64::try_from(parsed.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("{text:?} is before 1970"))
}

/// Format epoch milliseconds as RFC 3339 UTC (`2026-11-02T09:01:00Z`,
/// milliseconds only when nonzero).
pub fn format_time(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    let format = time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Parse an address; IPv4-mapped IPv6 is kept as IPv4.
pub(super) fn parse_addr(text: &str) -> Option<IpAddr> {
    text.trim()
        .parse::<IpAddr>()
        .ok()
        .map(|addr| addr.to_canonical())
}
