//! Receive: UDP listeners feeding the decode queue.
//!
//! Sockets are made with `socket2` so the receive buffer (SO_RCVBUF) can be
//! raised before binding, and IPv6 listeners are IPv6-only (listen on
//! `0.0.0.0:P` and `[::]:P` for both). Each socket has one task that reads
//! datagrams and `try_send`s them into the bounded queue: when decode falls
//! behind, datagrams are dropped and counted, and receive never waits.
//!
//! An allow-list of exporter networks (`receive.allow`) is checked per
//! datagram before it is queued; datagrams from elsewhere are counted and
//! dropped, and the first few senders are logged.
//!
//! What the kernel dropped before we could read (socket buffer full) is not
//! visible to the socket; Linux counts it per socket in the `drops` column of
//! `/proc/net/udp` and `/proc/net/udp6`. [`Listener`] remembers each socket's
//! inode, and [`kernel_stats`] reads those files (at every `/metrics` scrape)
//! and picks our sockets' lines by inode.

use eastwest_core::clock;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use eastwest_core::policy::Cidr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::decode::Datagram;
use crate::metrics::Metrics;

/// Largest UDP payload accepted.
const MAX_DATAGRAM: usize = 65_535;

/// A socket that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on udp {addr}: {source}{hint}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
    hint: &'static str,
}

/// One bound UDP socket as the kernel knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    /// The address actually bound (port 0 resolved).
    pub addr: SocketAddr,
    /// The socket's inode (`/proc/self/fd/N` → `socket:[inode]`), the key of
    /// its line in `/proc/net/udp{,6}`; 0 when it could not be read.
    pub inode: u64,
}

impl Listener {
    /// Describe a bound socket.
    pub fn of(socket: &UdpSocket) -> Listener {
        let addr = socket
            .local_addr()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd()));
        let inode = link
            .ok()
            .and_then(|target| {
                let text = target.to_string_lossy().into_owned();
                text.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
        Listener { addr, inode }
    }
}

/// The kernel's counters of one of our sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelStats {
    pub listener: Listener,
    /// Datagrams the kernel dropped for this socket (buffer full), since it
    /// was opened.
    pub drops: u64,
    /// Bytes waiting in the socket's receive queue right now.
    pub queue_bytes: u64,
}

/// Our sockets' lines of `/proc/net/udp` and `/proc/net/udp6`, matched by
/// inode. Listeners whose line is missing (not Linux, no /proc) are left out.
pub fn kernel_stats(listeners: &[Listener]) -> Vec<KernelStats> {
    let mut tables = String::new();
    for (v6, path) in [(false, "/proc/net/udp"), (true, "/proc/net/udp6")] {
        if listeners.iter().any(|l| l.addr.is_ipv6() == v6) {
            if let Ok(text) = std::fs::read_to_string(path) {
                tables.push_str(&text);
            }
        }
    }
    let mut out = Vec::new();
    for line in tables.lines() {
        let Some((inode, drops, queue_bytes)) = parse_proc_udp_line(line) else {
            continue;
        };
        if let Some(listener) = listeners.iter().find(|l| l.inode != 0 && l.inode == inode) {
            out.push(KernelStats {
                listener: *listener,
                drops,
                queue_bytes,
            });
        }
    }
    out
}

/// (inode, drops, rx_queue bytes) of one line of `/proc/net/udp{,6}`;
/// `None` for the header or anything else that does not parse.
fn parse_proc_udp_line(line: &str) -> Option<(u64, u64, u64)> {
    let columns: Vec<&str> = line.split_whitespace().collect();
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    let (_, rx_queue) = columns.get(4)?.split_once(':')?;
    let queue_bytes = u64::from_str_radix(rx_queue, 16).ok()?;
    let inode = columns.get(9)?.parse().ok()?;
    let drops = columns.get(12)?.parse().ok()?;
    Some((inode, drops, queue_bytes))
}

/// The exporter networks datagrams are accepted from; empty accepts all.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    networks: Arc<[Cidr]>,
    /// Senders already logged as refused (bounded).
    logged: Arc<Mutex<HashSet<IpAddr>>>,
}

/// How many refused senders are named in the log.
const LOGGED_REFUSED: usize = 64;

impl AllowList {
    pub fn new(networks: Vec<Cidr>) -> AllowList {
        AllowList {
            networks: networks.into(),
            logged: Arc::default(),
        }
    }

    /// Whether `addr` (IPv4-mapped IPv6 counts as IPv4) may send.
    pub fn allows(&self, addr: IpAddr) -> bool {
        self.networks.is_empty() || self.networks.iter().any(|n| n.contains(addr))
    }

    /// Log a refused sender once (for the first few).
    fn refused(&self, exporter: SocketAddr) {
        let mut logged = match self.logged.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if logged.len() < LOGGED_REFUSED && logged.insert(exporter.ip()) {
            tracing::warn!(
                %exporter,
                "receive: datagram from outside receive.allow dropped (counted in eastwest_collector_receive_denied_total; logged once per sender)"
            );
        }
    }
}

/// Open a non-blocking UDP socket on `addr` with the receive buffer asked
/// for (`0` keeps the OS default). Must run inside a Tokio runtime.
pub fn bind(addr: SocketAddr, recv_buffer_bytes: usize) -> Result<UdpSocket, BindError> {
    let fail = |source: std::io::Error| {
        let hint = match source.kind() {
            std::io::ErrorKind::AddrInUse => {
                " (the port is taken: stop the other listener or pick another --listen)"
            }
            std::io::ErrorKind::AddrNotAvailable => " (no local interface has this address)",
            std::io::ErrorKind::PermissionDenied => " (ports below 1024 need privileges)",
            _ => "",
        };
        BindError { addr, source, hint }
    };
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(fail)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(fail)?;
    }
    if recv_buffer_bytes > 0 {
        // The kernel caps this at net.core.rmem_max; a smaller buffer is not
        // an error, the effective size is logged.
        if let Err(err) = socket.set_recv_buffer_size(recv_buffer_bytes) {
            tracing::warn!(%addr, %err, "cannot set SO_RCVBUF");
        }
    }
    socket.set_nonblocking(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    let effective = socket.recv_buffer_size().unwrap_or(0);
    let std_socket: std::net::UdpSocket = socket.into();
    let socket = UdpSocket::from_std(std_socket).map_err(fail)?;
    let local = socket.local_addr().unwrap_or(addr);
    tracing::info!(listen = %local, recv_buffer_bytes = effective, "receive: listening");
    Ok(socket)
}

/// Read datagrams from `socket` into `queue` until `stop` turns true;
/// datagrams from senders `allow` refuses are counted and dropped.
pub async fn run(
    socket: UdpSocket,
    allow: AllowList,
    queue: mpsc::Sender<Datagram>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.wait_for(|&s| s) => break,
            received = socket.recv_from(&mut buf) => received,
        };
        match received {
            Ok((len, exporter)) => {
                metrics.receive_packets.inc();
                metrics.receive_bytes.add(len as u64);
                if !allow.allows(exporter.ip()) {
                    metrics.receive_denied.inc();
                    allow.refused(exporter);
                    continue;
                }
                let datagram = Datagram {
                    exporter,
                    received_ms: clock::now_ms(),
                    payload: buf[..len].to_vec(),
                };
                match queue.try_send(datagram) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => metrics.receive_dropped.inc(),
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
            Err(err) => {
                // ICMP errors and the like: count, keep reading.
                metrics.receive_socket_errors.inc();
                tracing::debug!(%err, "receive: socket error");
            }
        }
    }
}
