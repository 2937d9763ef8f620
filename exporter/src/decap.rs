//! Stage `decap`: unwrap a captured frame with [`eastwest_core::decap`] and
//! attribute it to the hypervisor host whose mirror or tunnel carried it.
//!
//! Attribution, in order:
//!
//! * ERSPAN (I/II/III): the host whose `mirror_sources` holds the outer
//!   source address, else the host whose `erspan_sessions` holds the
//!   session id;
//! * VXLAN / Geneve / GRE carrying Ethernet (NVGRE, Open vSwitch GRE): the
//!   host whose `vteps` holds the outer source address;
//! * untunneled frames (a SPAN port, plain or VLAN-tagged): the exporter's
//!   own host.
//!
//! A tunneled frame that matches no host is still metered, under the
//! exporter's own domain, and counted as `unattributed`.

use eastwest_core::decap::{peel_and_meter_with, DecapError, Metered};
use eastwest_core::flow::Encap;
use eastwest_core::inventory::Inventory;

use crate::cache::Observation;

/// The exporter's own host: untunneled frames and unattributed frames are
/// metered under its domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnHost {
    pub name: String,
    pub domain: u32,
}

/// A frame ready for the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decapped {
    pub metered: Metered,
    pub observation: Observation,
    /// False when a tunneled frame matched no host of the inventory.
    pub attributed: bool,
}

/// Peels frames and attributes them to hosts.
#[derive(Debug, Clone)]
pub struct Decapper {
    inventory: Inventory,
    own: OwnHost,
    max_depth: usize,
}

impl Decapper {
    pub fn new(inventory: Inventory, own: OwnHost, max_depth: usize) -> Self {
        Decapper {
            inventory,
            own,
            max_depth,
        }
    }

    pub fn own(&self) -> &OwnHost {
        &self.own
    }

    /// Name of the host of `domain` (the exporter's own, or from the
    /// inventory).
    pub fn domain_name(&self, domain: u32) -> Option<&str> {
        if domain == self.own.domain {
            return Some(&self.own.name);
        }
        self.inventory
            .host_by_domain(domain)
            .map(|h| h.name.as_str())
    }

    /// Peel, meter and attribute one frame.
    pub fn decap(&self, frame: &[u8]) -> Result<Decapped, DecapError> {
        self.decap_with(frame, |metered, observation, attributed| Decapped {
            metered: *metered,
            observation,
            attributed,
        })
    }

    /// [`Decapper::decap`] handing the parts of a [`Decapped`] to `then`,
    /// the metered frame by reference (the exporter's per-frame path: the
    /// metered frame is not copied into a `Decapped` and moved through two
    /// `Result`s on its way to the cache). Always inlined: it has two
    /// callers on the per-frame path (one worker and `--workers`).
    #[inline(always)]
    pub fn decap_with<T>(
        &self,
        frame: &[u8],
        then: impl FnOnce(&Metered, Observation, bool) -> T,
    ) -> Result<T, DecapError> {
        peel_and_meter_with(frame, self.max_depth, |peeled, metered| {
            self.attribute(peeled, metered, then)
        })
    }

    /// The host of what `peeled` found, and `then` of it.
    #[inline(always)]
    fn attribute<T>(
        &self,
        peeled: &eastwest_core::decap::Peeled<'_>,
        metered: &Metered,
        then: impl FnOnce(&Metered, Observation, bool) -> T,
    ) -> T {
        let host = match peeled.encap {
            Encap::Span => None,
            Encap::ErspanI | Encap::ErspanII | Encap::ErspanIII => peeled
                .tunnel_src
                .and_then(|src| self.inventory.host_by_mirror_source(src))
                .or_else(|| self.inventory.host_by_session(peeled.session)),
            Encap::Vxlan | Encap::Geneve | Encap::Nvgre | Encap::Gre => peeled
                .tunnel_src
                .and_then(|src| self.inventory.host_by_vtep(src)),
        };
        // Routed GRE is traffic like any other when its source is no
        // host's tunnel endpoint: the exporter's own, not unattributed.
        let attributed = host.is_some() || matches!(peeled.encap, Encap::Span | Encap::Gre);
        let observation = Observation {
            domain: host.map_or(self.own.domain, |h| h.domain),
            encap: peeled.encap,
            session: peeled.session,
            vni: peeled.vni,
        };
        then(metered, observation, attributed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const INVENTORY: &str = r#"
[[host]]
name = "esx-02"
domain = 2
mirror_sources = ["198.18.0.2"]
erspan_sessions = []
vteps = ["172.16.0.2"]

[[host]]
name = "esx-03"
domain = 3
mirror_sources = []
erspan_sessions = [3]
vteps = []
"#;

    fn decapper() -> Decapper {
        let inv = Inventory::parse(INVENTORY, "test.toml").expect("inventory");
        let own = OwnHost {
            name: "probe".into(),
            domain: 100,
        };
        Decapper::new(inv, own, eastwest_core::decap::DEFAULT_MAX_DEPTH)
    }

    /// Ethernet + IPv4 + ICMP echo (28 bytes of IP).
    fn inner(vlan: Option<u16>) -> Vec<u8> {
        let mut f = vec![0x00, 0x50, 0x56, 0, 0, 2, 0x00, 0x50, 0x56, 0, 0, 1];
        if let Some(v) = vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&v.to_be_bytes());
        }
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ipv4_header(1, 28, [10, 0, 0, 1], [10, 0, 0, 2]));
        f.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
        f
    }

    fn ipv4_header(proto: u8, total: u16, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut h = vec![0x45, 0];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0]);
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        let sum = h
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum::<u32>();
        let sum = (sum & 0xffff) + (sum >> 16);
        let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h
    }

    /// Outer Ethernet + IPv4 + GRE (type II ERSPAN, sequence flag) around
    /// `inner`, ERSPAN session `session`.
    fn erspan2(outer_src: [u8; 4], session: u16, inner: &[u8]) -> Vec<u8> {
        let mut payload = vec![0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1];
        payload.extend_from_slice(&[0x10, 0x00]); // version 1, vlan 0
        payload.extend_from_slice(&session.to_be_bytes());
        payload.extend_from_slice(&[0, 0, 0, 0]);
        payload.extend_from_slice(inner);
        let mut f = vec![0, 1, 1, 1, 1, 1, 0, 2, 2, 2, 2, 2, 0x08, 0x00];
        let total = (20 + payload.len()) as u16;
        f.extend_from_slice(&ipv4_header(47, total, outer_src, [198, 18, 0, 100]));
        f.extend_from_slice(&payload);
        f
    }

    #[test]
    fn span_frames_belong_to_the_exporters_own_host() {
        let d = decapper().decap(&inner(Some(123))).expect("metered");
        assert!(d.attributed);
        assert_eq!(d.observation.domain, 100);
        assert_eq!(d.observation.encap, Encap::Span);
        assert_eq!(d.metered.vlan, 123);
        assert_eq!(d.metered.ip_len, 28);
        assert_eq!(d.metered.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    }

    #[test]
    fn erspan_by_mirror_source_then_session() {
        let dec = decapper();
        let by_source = dec
            .decap(&erspan2([198, 18, 0, 2], 9, &inner(None)))
            .expect("metered");
        assert!(by_source.attributed);
        assert_eq!(by_source.observation.domain, 2);
        assert_eq!(by_source.observation.encap, Encap::ErspanII);
        assert_eq!(by_source.observation.session, 9);
        let by_session = dec
            .decap(&erspan2([198, 18, 0, 77], 3, &inner(None)))
            .expect("metered");
        assert!(by_session.attributed);
        assert_eq!(by_session.observation.domain, 3);
        let unknown = dec
            .decap(&erspan2([198, 18, 0, 77], 8, &inner(None)))
            .expect("metered");
        assert!(!unknown.attributed);
        assert_eq!(unknown.observation.domain, 100);
        assert_eq!(unknown.metered.ip_len, 28);
    }

    /// Outer Ethernet + IPv4 + GRE 0x6558 with `key` around `inner`.
    fn nvgre(outer_src: [u8; 4], key: u32, inner: &[u8]) -> Vec<u8> {
        let mut payload = vec![0x20, 0x00, 0x65, 0x58];
        payload.extend_from_slice(&key.to_be_bytes());
        payload.extend_from_slice(inner);
        let mut f = vec![0, 1, 1, 1, 1, 1, 0, 2, 2, 2, 2, 2, 0x08, 0x00];
        let total = (20 + payload.len()) as u16;
        f.extend_from_slice(&ipv4_header(47, total, outer_src, [172, 16, 0, 9]));
        f.extend_from_slice(&payload);
        f
    }

    #[test]
    fn nvgre_by_vtep() {
        let dec = decapper();
        let d = dec
            .decap(&nvgre([172, 16, 0, 2], 0x0012_3401, &inner(Some(7))))
            .expect("metered");
        assert!(d.attributed);
        assert_eq!(d.observation.domain, 2);
        assert_eq!(d.observation.encap, Encap::Nvgre);
        assert_eq!(d.observation.vni, 0x0012_3401, "the whole GRE key");
        assert_eq!((d.metered.vlan, d.metered.ip_len), (7, 28));
        let unknown = dec
            .decap(&nvgre([172, 16, 0, 77], 1, &inner(None)))
            .expect("metered");
        assert!(!unknown.attributed);
        assert_eq!(unknown.observation.domain, 100);
    }

    #[test]
    fn routed_gre_is_the_exporters_own_unless_from_a_vtep() {
        let dec = decapper();
        // IPv4 in GRE (no key) around the inner ICMP packet.
        let ip_packet = &inner(None)[14..];
        let mut payload = vec![0x00, 0x00, 0x08, 0x00];
        payload.extend_from_slice(ip_packet);
        let routed = |outer_src: [u8; 4]| {
            let mut f = vec![0, 1, 1, 1, 1, 1, 0, 2, 2, 2, 2, 2, 0x08, 0x00];
            let total = (20 + payload.len()) as u16;
            f.extend_from_slice(&ipv4_header(47, total, outer_src, [198, 51, 100, 1]));
            f.extend_from_slice(&payload);
            f
        };
        let own = dec.decap(&routed([198, 51, 100, 2])).expect("metered");
        assert!(own.attributed, "routed GRE is not an unknown mirror");
        assert_eq!(own.observation.domain, 100);
        assert_eq!(own.observation.encap, Encap::Gre);
        assert_eq!(own.metered.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!((own.metered.proto, own.metered.ip_len), (1, 28));
        let vtep = dec.decap(&routed([172, 16, 0, 2])).expect("metered");
        assert_eq!((vtep.observation.domain, vtep.attributed), (2, true));
    }

    #[test]
    fn names_of_domains() {
        let dec = decapper();
        assert_eq!(dec.domain_name(100), Some("probe"));
        assert_eq!(dec.domain_name(3), Some("esx-03"));
        assert_eq!(dec.domain_name(5), None);
    }

    #[test]
    fn errors_have_reasons() {
        let dec = decapper();
        assert_eq!(
            dec.decap(&[0u8; 5]).map(|_| ()).map_err(|e| e.reason()),
            Err("truncated")
        );
        let mut arp = inner(None);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(
            dec.decap(&arp).map(|_| ()).map_err(|e| e.reason()),
            Err("not_ip")
        );
    }
}
