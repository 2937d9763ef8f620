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
//! What the kernel dropped before we could read is counted by the kernel
//! ([`crate::kernel`]); [`ReceiveMetrics`] shows it beside our counters.

use eastwest_core::clock;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};

use eastwest_core::policy::Cidr;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::decode::Datagram;
use crate::kernel::{kernel_stats, Listener};
use crate::metrics::{Counter, Registry};

/// Receive's counters (`eastwest_collector_receive_*`).
#[derive(Debug, Default)]
pub struct ReceiveMetrics {
    pub packets: Counter,
    pub bytes: Counter,
    /// Datagrams dropped because the receive → decode queue was full.
    pub dropped: Counter,
    /// Datagrams dropped because their sender is outside `receive.allow`.
    pub denied: Counter,
    pub socket_errors: Counter,
    /// Our UDP sockets, whose kernel drops each scrape reads from
    /// `/proc/net/udp{,6}`; set once they are bound.
    pub listeners: OnceLock<Vec<Listener>>,
}

impl ReceiveMetrics {
    /// The counters, registered in `registry` with the kernel's figures.
    pub fn new(registry: &mut Registry) -> Arc<ReceiveMetrics> {
        let metrics = Arc::new(ReceiveMetrics::default());
        for (name, help, counter) in [
            (
                "receive_packets",
                "UDP datagrams received",
                &metrics.packets,
            ),
            (
                "receive_bytes",
                "UDP payload bytes received",
                &metrics.bytes,
            ),
            (
                "receive_dropped",
                "Datagrams dropped because the decode queue was full",
                &metrics.dropped,
            ),
            (
                "receive_denied",
                "Datagrams dropped because their sender is outside receive.allow",
                &metrics.denied,
            ),
        ] {
            registry.register(name, help, counter.clone());
        }
        registry.register_collector(Box::new(KernelFigures(metrics.clone())));
        registry.register(
            "receive_socket_errors",
            "Errors reading the UDP sockets",
            metrics.socket_errors.clone(),
        );
        metrics
    }
}

/// The kernel's counters of our sockets, read from `/proc` at each scrape.
#[derive(Debug)]
struct KernelFigures(Arc<ReceiveMetrics>);

impl Collector for KernelFigures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let kernel = kernel_stats(self.0.listeners.get().map_or(&[], Vec::as_slice));
        let labels: Vec<[(&str, String); 1]> = kernel
            .iter()
            .map(|k| [("listen", k.listener.addr.to_string())])
            .collect();
        let mut drops = encoder.encode_descriptor(
            "receive_kernel_drops",
            "Datagrams the kernel dropped for our socket before we read them (its buffer was full), from /proc/net/udp{,6}.",
            None,
            MetricType::Counter,
        )?;
        for (k, label) in kernel.iter().zip(&labels) {
            drops
                .encode_family(label)?
                .encode_counter::<NoLabelSet, _, u64>(&k.drops, None)?;
        }
        let mut queued = encoder.encode_descriptor(
            "receive_kernel_queue_bytes",
            "Bytes waiting in our socket's kernel receive buffer.",
            None,
            MetricType::Gauge,
        )?;
        for (k, label) in kernel.iter().zip(&labels) {
            queued.encode_family(label)?.encode_gauge(&k.queue_bytes)?;
        }
        Ok(())
    }
}

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
    metrics: Arc<ReceiveMetrics>,
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
                metrics.packets.inc();
                metrics.bytes.inc_by(len as u64);
                if !allow.allows(exporter.ip()) {
                    metrics.denied.inc();
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
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        metrics.dropped.inc();
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
            Err(err) => {
                // ICMP errors and the like: count, keep reading.
                metrics.socket_errors.inc();
                tracing::debug!(%err, "receive: socket error");
            }
        }
    }
}
