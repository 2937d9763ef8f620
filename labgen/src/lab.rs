//! The lab's data center, in code: the twin of `lab/inventory.toml` (a
//! test checks they agree) and the conversations that run in it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use eastwest_core::flow::Encap;

/// How a host's vSwitch mirror reaches the monitoring host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mirror {
    /// A SPAN port: plain frames with the port group's 802.1Q tag.
    Span,
    /// ERSPAN type I from `source`.
    ErspanI { source: Ipv4Addr },
    /// ERSPAN type II from `source` with `session`.
    ErspanII { source: Ipv4Addr, session: u16 },
    /// ERSPAN type III from `source` with `session`.
    ErspanIII { source: Ipv4Addr, session: u16 },
    /// No mirror: the host's traffic is seen only on its overlay's underlay.
    None,
}

/// How a host's VMs reach VMs on other hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    /// VXLAN (UDP 4789), VNI of the destination VM's port group (vSphere/NSX).
    Vxlan,
    /// NVGRE (GRE 0x6558, RFC 7637; Hyper-V network virtualization): key =
    /// the destination VM's VSID (upper 24 bits) and a per-flow FlowID.
    Nvgre,
}

impl Overlay {
    pub fn encap(self) -> Encap {
        match self {
            Overlay::Vxlan => Encap::Vxlan,
            Overlay::Nvgre => Encap::Nvgre,
        }
    }
}

impl Mirror {
    /// The encapsulation of the mirror's frames (`None` without a mirror).
    pub fn encap(self) -> Option<Encap> {
        match self {
            Mirror::Span => Some(Encap::Span),
            Mirror::ErspanI { .. } => Some(Encap::ErspanI),
            Mirror::ErspanII { .. } => Some(Encap::ErspanII),
            Mirror::ErspanIII { .. } => Some(Encap::ErspanIII),
            Mirror::None => None,
        }
    }

    pub fn session(self) -> u16 {
        match self {
            Mirror::ErspanII { session, .. } | Mirror::ErspanIII { session, .. } => session,
            Mirror::Span | Mirror::ErspanI { .. } | Mirror::None => 0,
        }
    }

    pub fn source(self) -> Option<Ipv4Addr> {
        match self {
            Mirror::Span | Mirror::None => None,
            Mirror::ErspanI { source }
            | Mirror::ErspanII { source, .. }
            | Mirror::ErspanIII { source, .. } => Some(source),
        }
    }
}

/// A hypervisor host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    pub name: &'static str,
    pub domain: u32,
    pub mirror: Mirror,
    pub overlay: Overlay,
    /// VXLAN VTEP or NVGRE provider address of the host.
    pub vtep: Ipv4Addr,
    /// MAC of the host's uplink (outer source MAC of what it sends).
    pub uplink_mac: [u8; 6],
}

/// A virtual machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vm {
    pub name: &'static str,
    pub host: &'static str,
    pub mac: [u8; 6],
    pub ipv4: Ipv4Addr,
    pub ipv6: Option<Ipv6Addr>,
    /// Port group (vSphere) or VM network (Hyper-V).
    pub port_group: &'static str,
    /// 802.1Q tag of the port group (0: untagged, as NVGRE requires).
    pub vlan: u16,
    /// VXLAN VNI, or for a Hyper-V VM its virtual subnet's VSID.
    pub vni: u32,
}

/// The monitoring host ERSPAN is sent to.
pub const MONITOR_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
/// The monitoring host's capture MAC.
pub const MONITOR_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x64];
/// The underlay switch MAC the VTEPs send to.
pub const UNDERLAY_GW_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x00, 0xfe];

pub const HOSTS: [Host; 6] = [
    Host {
        name: "esx-01",
        domain: 1,
        overlay: Overlay::Vxlan,
        mirror: Mirror::Span,
        vtep: Ipv4Addr::new(172, 16, 0, 1),
        uplink_mac: [0x02, 0x00, 0x5e, 0x00, 0x00, 0x01],
    },
    Host {
        name: "esx-02",
        domain: 2,
        overlay: Overlay::Vxlan,
        mirror: Mirror::ErspanI {
            source: Ipv4Addr::new(198, 18, 0, 2),
        },
        vtep: Ipv4Addr::new(172, 16, 0, 2),
        uplink_mac: [0x02, 0x00, 0x5e, 0x00, 0x00, 0x02],
    },
    Host {
        name: "esx-03",
        domain: 3,
        overlay: Overlay::Vxlan,
        mirror: Mirror::ErspanII {
            source: Ipv4Addr::new(198, 18, 0, 3),
            session: 3,
        },
        vtep: Ipv4Addr::new(172, 16, 0, 3),
        uplink_mac: [0x02, 0x00, 0x5e, 0x00, 0x00, 0x03],
    },
    Host {
        name: "esx-04",
        domain: 4,
        overlay: Overlay::Vxlan,
        mirror: Mirror::ErspanIII {
            source: Ipv4Addr::new(198, 18, 0, 4),
            session: 4,
        },
        vtep: Ipv4Addr::new(172, 16, 0, 4),
        uplink_mac: [0x02, 0x00, 0x5e, 0x00, 0x00, 0x04],
    },
    Host {
        name: "hv-01",
        domain: 5,
        overlay: Overlay::Nvgre,
        // A vSwitch extension mirroring the VM ports (untagged frames).
        mirror: Mirror::ErspanII {
            source: Ipv4Addr::new(198, 18, 0, 5),
            session: 5,
        },
        vtep: Ipv4Addr::new(172, 16, 0, 5),
        uplink_mac: [0x02, 0x00, 0x5e, 0x00, 0x00, 0x05],
    },
    Host {
        name: "hv-02",
        domain: 6,
        overlay: Overlay::Nvgre,
        mirror: Mirror::None,
        vtep: Ipv4Addr::new(172, 16, 0, 6),
        uplink_mac: [0x02, 0x00, 0x5e, 0x00, 0x00, 0x06],
    },
];

const fn mac(a: u8, b: u8) -> [u8; 6] {
    [0x00, 0x50, 0x56, 0x00, a, b]
}

pub const VMS: [Vm; 11] = [
    Vm {
        name: "web-01",
        host: "esx-01",
        mac: mac(0x01, 0x11),
        ipv4: Ipv4Addr::new(10, 10, 1, 11),
        ipv6: Some(Ipv6Addr::new(0xfd00, 0x10, 0x1, 0, 0, 0, 0, 0x11)),
        port_group: "pg-dmz",
        vlan: 101,
        vni: 10101,
    },
    Vm {
        name: "jump-01",
        host: "esx-01",
        mac: mac(0x06, 0x11),
        ipv4: Ipv4Addr::new(10, 10, 6, 11),
        ipv6: None,
        port_group: "pg-mgmt",
        vlan: 106,
        vni: 10106,
    },
    Vm {
        name: "app-01",
        host: "esx-01",
        mac: mac(0x02, 0x11),
        ipv4: Ipv4Addr::new(10, 10, 2, 11),
        ipv6: None,
        port_group: "pg-app",
        vlan: 102,
        vni: 10102,
    },
    Vm {
        name: "web-02",
        host: "esx-02",
        mac: mac(0x01, 0x12),
        ipv4: Ipv4Addr::new(10, 10, 1, 12),
        ipv6: None,
        port_group: "pg-dmz",
        vlan: 101,
        vni: 10101,
    },
    Vm {
        name: "app-02",
        host: "esx-02",
        mac: mac(0x02, 0x12),
        ipv4: Ipv4Addr::new(10, 10, 2, 12),
        ipv6: None,
        port_group: "pg-app",
        vlan: 102,
        vni: 10102,
    },
    Vm {
        name: "payroll-01",
        host: "esx-03",
        mac: mac(0x04, 0x11),
        ipv4: Ipv4Addr::new(10, 10, 4, 11),
        ipv6: None,
        port_group: "pg-payroll",
        vlan: 104,
        vni: 10104,
    },
    Vm {
        name: "fin-fe-01",
        host: "esx-03",
        mac: mac(0x05, 0x11),
        ipv4: Ipv4Addr::new(10, 10, 5, 11),
        ipv6: None,
        port_group: "pg-finance-fe",
        vlan: 105,
        vni: 10105,
    },
    Vm {
        name: "db-01",
        host: "esx-04",
        mac: mac(0x03, 0x11),
        ipv4: Ipv4Addr::new(10, 10, 3, 11),
        ipv6: Some(Ipv6Addr::new(0xfd00, 0x10, 0x3, 0, 0, 0, 0, 0x11)),
        port_group: "pg-db",
        vlan: 103,
        vni: 10103,
    },
    Vm {
        name: "db-02",
        host: "esx-04",
        mac: mac(0x03, 0x12),
        ipv4: Ipv4Addr::new(10, 10, 3, 12),
        ipv6: None,
        port_group: "pg-db",
        vlan: 103,
        vni: 10103,
    },
    // Hyper-V VMs (Microsoft's 00:15:5d MAC prefix), one virtual subnet
    // (VSID) per tier, untagged.
    Vm {
        name: "erp-app-01",
        host: "hv-01",
        mac: [0x00, 0x15, 0x5d, 0x00, 0x02, 0x21],
        ipv4: Ipv4Addr::new(10, 20, 2, 21),
        ipv6: None,
        port_group: "vmnet-erp-app",
        vlan: 0,
        vni: 5002,
    },
    Vm {
        name: "erp-db-01",
        host: "hv-02",
        mac: [0x00, 0x15, 0x5d, 0x00, 0x03, 0x21],
        ipv4: Ipv4Addr::new(10, 20, 3, 21),
        ipv6: None,
        port_group: "vmnet-erp-db",
        vlan: 0,
        vni: 5003,
    },
];

/// What a conversation carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A TCP session: handshake, `exchanges` request/response pairs,
    /// FIN from the client.
    Tcp {
        request: usize,
        response: usize,
        exchanges: usize,
    },
    /// UDP request/response pairs; a response larger than the MTU leaves
    /// as IPv4 fragments.
    Udp {
        request: usize,
        response: usize,
        exchanges: usize,
    },
    /// ICMP (or ICMPv6) echo request/reply pairs.
    Echo { payload: usize, exchanges: usize },
}

/// What the policy says about a conversation (checked against
/// `lab/policy.toml` by a test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Allowed,
    /// A violation, with the description of the deciding rule (or
    /// `default_cross_zone`).
    Violation(&'static str),
}

/// One conversation between two VMs (client first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversation {
    pub client: &'static str,
    pub server: &'static str,
    pub ipv6: bool,
    pub client_port: u16,
    pub server_port: u16,
    pub kind: Kind,
    /// Start, milliseconds after the lab's start.
    pub start_ms: u64,
    /// Time between exchanges, milliseconds.
    pub interval_ms: u64,
    pub expect: Expect,
}

pub const PAYROLL_RULE: &str = "payroll must never talk to the finance front end";
pub const DMZ_DB_RULE: &str = "the DMZ must never reach the database tier";

pub const CONVERSATIONS: [Conversation; 10] = [
    // DMZ web server calls the app tier on the same host (allowed).
    Conversation {
        client: "web-01",
        server: "app-01",
        ipv6: false,
        client_port: 41001,
        server_port: 8443,
        kind: Kind::Tcp {
            request: 420,
            response: 1800,
            exchanges: 40,
        },
        start_ms: 1_000,
        interval_ms: 4_000,
        expect: Expect::Allowed,
    },
    // The jump host administers app-01 over SSH (allowed).
    Conversation {
        client: "jump-01",
        server: "app-01",
        ipv6: false,
        client_port: 50022,
        server_port: 22,
        kind: Kind::Tcp {
            request: 96,
            response: 240,
            exchanges: 120,
        },
        start_ms: 5_000,
        interval_ms: 1_400,
        expect: Expect::Allowed,
    },
    // DMZ to app on esx-02 (allowed).
    Conversation {
        client: "web-02",
        server: "app-02",
        ipv6: false,
        client_port: 42002,
        server_port: 8443,
        kind: Kind::Tcp {
            request: 380,
            response: 1500,
            exchanges: 30,
        },
        start_ms: 2_000,
        interval_ms: 5_000,
        expect: Expect::Allowed,
    },
    // THE violation: the finance front end talks straight to payroll on
    // the host they share (co-resident, cross-zone, locally switched).
    Conversation {
        client: "fin-fe-01",
        server: "payroll-01",
        ipv6: false,
        client_port: 43003,
        server_port: 443,
        kind: Kind::Tcp {
            request: 520,
            response: 2600,
            exchanges: 24,
        },
        start_ms: 30_000,
        interval_ms: 5_000,
        expect: Expect::Violation(PAYROLL_RULE),
    },
    // App tier to PostgreSQL across hosts esx-02 → esx-04 (allowed): seen
    // by ERSPAN I at esx-02, on the VXLAN underlay and by ERSPAN III at
    // esx-04.
    Conversation {
        client: "app-02",
        server: "db-01",
        ipv6: false,
        client_port: 44004,
        server_port: 5432,
        kind: Kind::Tcp {
            request: 180,
            response: 900,
            exchanges: 60,
        },
        start_ms: 3_000,
        interval_ms: 2_800,
        expect: Expect::Allowed,
    },
    // A DMZ web server reaches a database across hosts (violation).
    Conversation {
        client: "web-01",
        server: "db-02",
        ipv6: false,
        client_port: 45005,
        server_port: 5432,
        kind: Kind::Tcp {
            request: 150,
            response: 700,
            exchanges: 12,
        },
        start_ms: 60_000,
        interval_ms: 7_000,
        expect: Expect::Violation(DMZ_DB_RULE),
    },
    // Two web servers share a cache over UDP across hosts (intra-zone,
    // allowed); one response is larger than the MTU and is fragmented.
    Conversation {
        client: "web-01",
        server: "web-02",
        ipv6: false,
        client_port: 46006,
        server_port: 11211,
        kind: Kind::Udp {
            request: 64,
            response: 400,
            exchanges: 20,
        },
        start_ms: 10_000,
        interval_ms: 8_000,
        expect: Expect::Allowed,
    },
    // The app tier pings itself across hosts (intra-zone, allowed).
    Conversation {
        client: "app-01",
        server: "app-02",
        ipv6: false,
        client_port: 0,
        server_port: 0,
        kind: Kind::Echo {
            payload: 56,
            exchanges: 30,
        },
        start_ms: 4_000,
        interval_ms: 5_000,
        expect: Expect::Allowed,
    },
    // A DMZ web server pings a database over IPv6 (violation).
    Conversation {
        client: "web-01",
        server: "db-01",
        ipv6: true,
        client_port: 0,
        server_port: 0,
        kind: Kind::Echo {
            payload: 56,
            exchanges: 10,
        },
        start_ms: 90_000,
        interval_ms: 6_000,
        expect: Expect::Violation(DMZ_DB_RULE),
    },
    // The ERP app tier on Hyper-V host hv-01 queries its database on hv-02
    // (allowed): seen by hv-01's ERSPAN II and on the NVGRE underlay (hv-02
    // has no mirror).
    Conversation {
        client: "erp-app-01",
        server: "erp-db-01",
        ipv6: false,
        client_port: 47007,
        server_port: 5432,
        kind: Kind::Tcp {
            request: 240,
            response: 2_000,
            exchanges: 25,
        },
        start_ms: 20_000,
        interval_ms: 6_000,
        expect: Expect::Allowed,
    },
];

/// The index of the UDP exchange whose response is sent large enough to
/// be fragmented, and that response's size.
pub const FRAGMENTED_EXCHANGE: usize = 7;
pub const FRAGMENTED_RESPONSE: usize = 3_000;

pub fn host(name: &str) -> Option<&'static Host> {
    HOSTS.iter().find(|h| h.name == name)
}

pub fn vm(name: &str) -> Option<&'static Vm> {
    VMS.iter().find(|v| v.name == name)
}

impl Vm {
    /// The VM's address of the requested family.
    pub fn ip(&self, v6: bool) -> Option<IpAddr> {
        if v6 {
            self.ipv6.map(IpAddr::V6)
        } else {
            Some(IpAddr::V4(self.ipv4))
        }
    }
}
