//! Receive over real loopback sockets, IPv4 and IPv6: several listeners, the
//! allow-list of exporter networks, and the kernel's drops for our sockets
//! read from /proc/net/udp{,6}.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use eastwest_collector::decode::Datagram;
use eastwest_collector::http::Metrics;
use eastwest_collector::kernel::{kernel_stats, Listener};
use eastwest_collector::receive::{self, AllowList};
use eastwest_core::policy::Cidr;
use tokio::sync::{mpsc, watch};

/// Send `payload` from a socket bound to `from` (port chosen by the kernel).
fn send_from(from: &str, to: SocketAddr, payload: &[u8]) -> Result<SocketAddr> {
    let socket = UdpSocket::bind(from).with_context(|| format!("binding {from}"))?;
    socket.send_to(payload, to)?;
    Ok(socket.local_addr()?)
}

async fn next(queue: &mut mpsc::Receiver<Datagram>) -> Result<Datagram> {
    tokio::time::timeout(Duration::from_secs(5), queue.recv())
        .await
        .context("no datagram within 5 s")?
        .context("queue closed")
}

#[tokio::test]
async fn ipv4_and_ipv6_listeners_with_an_allow_list() -> Result<()> {
    let v4 = receive::bind("127.0.0.1:0".parse()?, 1 << 20)?;
    let v6 = receive::bind("[::1]:0".parse()?, 1 << 20)?;
    let (v4_addr, v6_addr) = (v4.local_addr()?, v6.local_addr()?);
    let networks = ["127.0.0.1", "::1/128"].map(Cidr::parse);
    let allow = AllowList::new(
        networks
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)?,
    );
    let metrics = Arc::new(Metrics::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (queue_tx, mut queue) = mpsc::channel(16);
    let tasks: Vec<_> = [v4, v6]
        .into_iter()
        .map(|socket| {
            tokio::spawn(receive::run(
                socket,
                allow.clone(),
                queue_tx.clone(),
                metrics.receive.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    drop(queue_tx);

    // 127.0.0.2 is loopback too, but outside the allow-list: dropped first,
    // so the next datagram queued is the allowed one.
    send_from("127.0.0.2:0", v4_addr, b"refused")?;
    let from_v4 = send_from("127.0.0.1:0", v4_addr, b"over v4")?;
    let got = next(&mut queue).await?;
    assert_eq!(
        (got.exporter, got.payload.as_slice()),
        (from_v4, &b"over v4"[..])
    );
    let from_v6 = send_from("[::1]:0", v6_addr, b"over v6")?;
    let got = next(&mut queue).await?;
    assert_eq!(
        (got.exporter, got.payload.as_slice()),
        (from_v6, &b"over v6"[..])
    );
    assert!(got.exporter.is_ipv6());

    assert_eq!(metrics.receive.packets.get(), 3);
    assert_eq!(metrics.receive.denied.get(), 1);
    assert_eq!(metrics.receive.bytes.get(), 7 + 7 + 7);
    assert_eq!(metrics.queue_depth(), 2, "nothing decoded them yet");
    let text = metrics.render();
    assert!(
        text.contains("eastwest_collector_receive_denied_total 1\n"),
        "{text}"
    );

    stop_tx.send(true)?;
    for task in tasks {
        task.await?;
    }
    Ok(())
}

/// Flood a socket nobody reads through a small receive buffer: what the
/// kernel kept plus what it counted as dropped is what was sent, and the
/// metric names the listener.
fn kernel_drops_add_up(listen: &str, from: &str) -> Result<()> {
    const SENT: u64 = 500;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _guard = runtime.enter();
    let socket = receive::bind(listen.parse()?, 4096)?;
    let listener = Listener::of(&socket);
    assert_ne!(listener.inode, 0, "inode of our socket");
    let addr = listener.addr;
    let sender = UdpSocket::bind(from)?;
    let payload = [0x5a; 1000];
    for _ in 0..SENT {
        sender.send_to(&payload, addr)?;
    }
    let stats = kernel_stats(&[listener]);
    let [stats] = stats.as_slice() else {
        bail!("want one line for our socket, got {stats:?}");
    };
    assert_eq!(stats.listener, listener);
    assert!(
        stats.drops > 0,
        "a 4 KiB buffer cannot hold {SENT} datagrams"
    );
    assert!(stats.queue_bytes > 0);

    let metrics = Metrics::new();
    let _ = metrics.receive.listeners.set(vec![listener]);
    let text = metrics.render();
    let line = format!(
        "eastwest_collector_receive_kernel_drops_total{{listen=\"{addr}\"}} {}\n",
        stats.drops
    );
    assert!(text.contains(&line), "{line} missing in\n{text}");

    // Drain what the kernel kept: kept + dropped = sent.
    let socket = socket.into_std()?;
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut kept = 0u64;
    let mut buf = [0u8; 2048];
    let began = Instant::now();
    while socket.recv_from(&mut buf).is_ok() && began.elapsed() < Duration::from_secs(10) {
        kept += 1;
    }
    assert_eq!(
        kept + stats.drops,
        SENT,
        "kept {kept}, dropped {}",
        stats.drops
    );
    Ok(())
}

#[test]
fn kernel_drops_of_an_ipv4_socket() -> Result<()> {
    kernel_drops_add_up("127.0.0.1:0", "127.0.0.1:0")
}

#[test]
fn kernel_drops_of_an_ipv6_socket() -> Result<()> {
    kernel_drops_add_up("[::1]:0", "[::1]:0")
}
