//! The load generator over real loopback UDP: what it says it sent is what a
//! decoder reads from the socket, flow for flow, with no sequence gaps.

use std::net::UdpSocket;
use std::time::Duration;

use anyhow::Result;
use eastwest_collector::config::DecodeConfig;
use eastwest_collector::decode::{Datagram, Decoder};
use eastwest_loadgen::{self as loadgen, LoadConfig};

#[test]
fn what_the_load_generator_sends_is_what_decode_reads() -> Result<()> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    socket.set_recv_buffer_size(8 << 20)?;
    socket.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>()?.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(Duration::from_millis(500)))?;
    let target = socket.local_addr()?;
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_535];
        while let Ok((len, from)) = socket.recv_from(&mut buf) {
            got.push((from, buf[..len].to_vec()));
        }
        got
    });
    let config = LoadConfig {
        target,
        exporters: 3,
        rate: 50_000,
        flows: Some(10_000),
        duration: Duration::from_secs(10),
        mtu: 1400,
        dataset: "bench".to_string(),
        start_ms: 1_780_000_000_000,
    };
    let sent = loadgen::run(&config)?;
    assert!(sent.flows >= 10_000 && sent.send_errors == 0, "{sent:?}");
    // 10,000 flows at 50,000/s take 0.2 s.
    assert!(sent.elapsed >= Duration::from_millis(190), "{sent:?}");
    let got = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))?;
    assert_eq!(
        got.len() as u64,
        sent.datagrams,
        "datagrams lost on loopback"
    );

    let mut decoder = Decoder::new(&DecodeConfig::default());
    let (mut flows, mut packets, mut bytes, mut gaps) = (0, 0, 0, 0);
    let mut rows = Vec::new();
    for (exporter, payload) in got {
        rows.clear();
        let report = decoder.decode(
            &Datagram {
                exporter,
                received_ms: 1_780_000_001_000,
                payload,
            },
            "live",
            &mut rows,
        );
        assert_eq!(report.errors, []);
        gaps += report.sequence_gaps;
        flows += rows.len() as u64;
        packets += rows.iter().map(|r| r.packets).sum::<u64>();
        bytes += rows.iter().map(|r| r.bytes).sum::<u64>();
        assert!(rows.iter().all(|r| r.dataset == "bench"));
    }
    assert_eq!(
        (flows, packets, bytes, gaps),
        (sent.flows, sent.packets, sent.bytes, 0)
    );
    let stats = decoder.exporter_stats();
    assert_eq!(stats.len(), 3);
    assert!(stats
        .iter()
        .all(|s| s.name.starts_with("loadgen-") && s.templates == 3));
    Ok(())
}
