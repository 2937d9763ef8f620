//! What the kernel knows of our UDP sockets. A datagram the kernel dropped
//! before we could read it (socket buffer full) is not visible to the
//! socket; Linux counts it per socket in the `drops` column of
//! `/proc/net/udp` and `/proc/net/udp6`. [`Listener`] remembers each
//! socket's inode, and [`kernel_stats`] reads those files (at every
//! `/metrics` scrape) and picks our sockets' lines by inode. A leaf
//! module: receive makes the listeners, metrics reads their counters.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use tokio::net::UdpSocket;

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
