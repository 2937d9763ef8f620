//! The flow key of an index ([`StoreKey`]) and its 48 bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use eastwest_core::decap::Metered;

use super::{u32_at, KEY_LEN};
use crate::cache::Observation;

/// The flow key of the index: the cache's inner 5-tuple, VLAN, VNI and
/// observation domain, with the two ends in a fixed order so both
/// directions of a conversation share it. Encoded in 48 bytes: end A's
/// address (16, IPv4 in the first 4), end B's address (16), A's port u16,
/// B's port u16, protocol u8, 1 for IPv6 u8, VLAN u16, VNI u32, domain u32.
/// End A is the lower (address, port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoreKey {
    pub a: IpAddr,
    pub b: IpAddr,
    pub a_port: u16,
    pub b_port: u16,
    pub proto: u8,
    pub vlan: u16,
    pub vni: u32,
    pub domain: u32,
}

fn addr_bytes(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => {
            let mut b = [0; 16];
            b[..4].copy_from_slice(&v4.octets());
            b
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Hashed as a few integers (the sealer hashes a key per flow): the
/// addresses as 128-bit numbers (IPv4 `a.b.c.d` hashes as IPv6
/// `::a.b.c.d`, which equality tells apart), the rest in two words.
impl std::hash::Hash for StoreKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let addr = |a: IpAddr| match a {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        state.write_u128(addr(self.a));
        state.write_u128(addr(self.b));
        state.write_u64(
            u64::from(self.a_port) << 48 | u64::from(self.b_port) << 32 | u64::from(self.vni),
        );
        state.write_u64(
            u64::from(self.proto) << 48 | u64::from(self.vlan) << 32 | u64::from(self.domain),
        );
    }
}

impl StoreKey {
    /// The key of a metered frame as the cache counted it: `ports` are
    /// the (source, destination) ports the cache used (a later IPv4
    /// fragment's are its first fragment's, see
    /// [`FlowCache::last_ports`](crate::cache::FlowCache::last_ports)).
    pub fn new(m: &Metered, obs: &Observation, ports: (u16, u16)) -> StoreKey {
        let (a, b) = ((m.src, ports.0), (m.dst, ports.1));
        // IPv4 (most frames) compared as integers, not through `IpAddr`.
        let swap = match (m.src, m.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (u32::from(d), ports.1) < (u32::from(s), ports.0),
            _ => b < a,
        };
        let ((a, a_port), (b, b_port)) = if swap { (b, a) } else { (a, b) };
        StoreKey {
            a,
            b,
            a_port,
            b_port,
            proto: m.proto,
            vlan: m.vlan,
            vni: obs.vni,
            domain: obs.domain,
        }
    }

    pub fn encode(&self) -> [u8; KEY_LEN] {
        let mut k = [0u8; KEY_LEN];
        k[0..16].copy_from_slice(&addr_bytes(self.a));
        k[16..32].copy_from_slice(&addr_bytes(self.b));
        k[32..34].copy_from_slice(&self.a_port.to_le_bytes());
        k[34..36].copy_from_slice(&self.b_port.to_le_bytes());
        k[36] = self.proto;
        k[37] = u8::from(self.a.is_ipv6());
        k[38..40].copy_from_slice(&self.vlan.to_le_bytes());
        k[40..44].copy_from_slice(&self.vni.to_le_bytes());
        k[44..48].copy_from_slice(&self.domain.to_le_bytes());
        k
    }

    pub fn decode(k: &[u8; KEY_LEN]) -> StoreKey {
        let v6 = k[37] != 0;
        let addr = |at: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&k[at..at + 16]);
            if v6 {
                IpAddr::V6(Ipv6Addr::from(b))
            } else {
                IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
        };
        StoreKey {
            a: addr(0),
            b: addr(16),
            a_port: u16::from_le_bytes([k[32], k[33]]),
            b_port: u16::from_le_bytes([k[34], k[35]]),
            proto: k[36],
            vlan: u16::from_le_bytes([k[38], k[39]]),
            vni: u32_at(k, 40),
            domain: u32_at(k, 44),
        }
    }
}
