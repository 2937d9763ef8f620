//! The flow cache's map key: a [`FlowKey`] packed into words, and the
//! hash that picks a frame's worker shard.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use foldhash::fast::RandomState;

use eastwest_core::decap::Metered;
use eastwest_core::flow::{Encap, FlowKey};

use super::Observation;

/// The map's key: a [`FlowKey`] packed into words, so hashing is five
/// word writes and equality five word compares on the per-packet path
/// (the key's own `Hash` is a dozen hasher calls, with enum tags and slice
/// lengths). Addresses are 128 bits; an IPv4 address is kept in the low 32
/// and the `V6` bit of `meta` tells the families apart (so an IPv4-mapped
/// IPv6 address is never the same flow as its IPv4 address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key {
    /// Source then destination address, high word first (u64 words, not
    /// u128: 8-byte alignment keeps the map's entry at 56 + 48 bytes).
    addrs: [u64; 4],
    /// src_port << 48 | dst_port << 32 | proto << 24 | encap << 16 |
    /// session.
    ports: u64,
    /// vni << 32 | domain.
    domain: u64,
    /// vlan, and [`Key::V6`] for IPv6 addresses.
    meta: u32,
}

impl Key {
    const V6: u32 = 1 << 16;

    /// The key of metered frame `m` observed as `obs`, with its ports
    /// (a later fragment's come from its first fragment).
    pub(super) fn new(m: &Metered, src_port: u16, dst_port: u16, obs: Observation) -> Key {
        let (src, dst, v6) = match (m.src, m.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (u128::from(s.to_bits()), u128::from(d.to_bits()), 0),
            (s, d) => (addr_bits(s), addr_bits(d), Key::V6),
        };
        Key {
            addrs: [
                (src >> 64) as u64,
                src as u64,
                (dst >> 64) as u64,
                dst as u64,
            ],
            ports: u64::from(src_port) << 48
                | u64::from(dst_port) << 32
                | u64::from(m.proto) << 24
                | u64::from(obs.encap.code()) << 16
                | u64::from(obs.session),
            domain: u64::from(obs.vni) << 32 | u64::from(obs.domain),
            meta: u32::from(m.vlan) | v6,
        }
    }

    /// The (source, destination) ports.
    pub(super) fn ports(&self) -> (u16, u16) {
        ((self.ports >> 48) as u16, (self.ports >> 32) as u16)
    }

    /// The [`FlowKey`] this key was packed from.
    pub(super) fn flow_key(&self) -> FlowKey {
        let addr = |hi: u64, lo: u64| {
            let bits = u128::from(hi) << 64 | u128::from(lo);
            if self.meta & Key::V6 == 0 {
                IpAddr::V4(Ipv4Addr::from_bits(bits as u32))
            } else {
                IpAddr::V6(Ipv6Addr::from_bits(bits))
            }
        };
        FlowKey {
            src: addr(self.addrs[0], self.addrs[1]),
            dst: addr(self.addrs[2], self.addrs[3]),
            src_port: (self.ports >> 48) as u16,
            dst_port: (self.ports >> 32) as u16,
            proto: (self.ports >> 24) as u8,
            vlan: self.meta as u16,
            vni: (self.domain >> 32) as u32,
            domain: self.domain as u32,
            encap: Encap::from_code((self.ports >> 16) as u8).unwrap_or_default(),
            session: self.ports as u16,
        }
    }
}

/// An address as 128 bits (an IPv4 address mapped into IPv6 when the
/// other end of the flow is IPv6, which a parsed packet never has).
fn addr_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
        IpAddr::V6(v6) => v6.to_bits(),
    }
}

impl Hash for Key {
    // Always: with a second caller (the shard hash of `--workers`) the
    // compiler stops inlining it into the per-packet lookup.
    #[inline(always)]
    fn hash<H: Hasher>(&self, h: &mut H) {
        let [a, b, c, d] = self.addrs;
        h.write_u64(a);
        h.write_u64(b);
        h.write_u64(c);
        h.write_u64(d);
        h.write_u64(self.ports);
        h.write_u64(self.domain);
        h.write_u32(self.meta);
    }
}

/// Which shard of a sharded flow table ([`crate::workers`]) a metered
/// frame's flow lives in: a hash of everything in its key but the ports
/// (so the later fragments of a datagram, which have none, meet their
/// first fragment), seeded once per process and shared by every worker.
#[derive(Debug, Clone, Default)]
pub struct ShardHasher(RandomState);

impl ShardHasher {
    /// The shard of `m` observed as `obs`, among `shards`.
    #[inline]
    pub fn shard_of(&self, m: &Metered, obs: &Observation, shards: usize) -> usize {
        if shards <= 1 {
            return 0;
        }
        let key = Key::new(m, 0, 0, *obs);
        let hash = self.0.hash_one(key);
        // The high bits: the low ones also pick the bucket within a shard.
        ((hash >> 32) as usize) % shards
    }
}
