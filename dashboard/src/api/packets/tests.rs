//! Unit tests of the capture plan, the merge and the client setup.

use std::collections::BTreeMap;

use axum::body::Bytes;
use eastwest_core::pcapfile::{NgWriter, Reader};
use tokio::sync::mpsc;

use super::merge::{merge, ChannelWriter};

use super::*;
use crate::model::FlowRecord;

fn flow(observer: &str, exporter: &str, reply: bool, start_ms: u64) -> FlowRecord {
    let (a, b) = ("10.10.1.11".to_string(), "10.10.2.11".to_string());
    FlowRecord {
        start_ms,
        end_ms: start_ms + 10,
        observer: observer.into(),
        encap: Some(eastwest_core::flow::Encap::ErspanIII),
        exporter: exporter.into(),
        source_id: 3,
        src_vm: if reply { "payroll-01" } else { "fin-fe-01" }.into(),
        src_addr: if reply { b.clone() } else { a.clone() },
        src_port: if reply { 8443 } else { 40000 },
        dst_vm: if reply { "fin-fe-01" } else { "payroll-01" }.into(),
        dst_addr: if reply { a } else { b },
        dst_port: if reply { 40000 } else { 8443 },
        proto: 6,
        reply,
        packets: 1,
        bytes: 100,
        tcp_flags: 0,
        verdict: eastwest_core::policy::VerdictKind::Violation,
        rule: "no-fin-payroll".into(),
        severity: Some(eastwest_core::severity::Severity::High),
        policy_revision: "r7".into(),
        dataset: "live".into(),
    }
}

/// A pcapng of `frames` (time ns, first byte) on one interface.
fn capture(frames: &[(u64, u8)]) -> Vec<u8> {
    let mut w = NgWriter::new(Vec::new()).unwrap();
    let i = w.add_interface(1, 65_535, 9).unwrap();
    for &(ts, b) in frames {
        w.write_packet(i, ts, &[b; 60], 60).unwrap();
    }
    w.into_inner().unwrap()
}

/// An input whose chunks are `parts`, then (`broken`) an error.
fn input(exporter: &str, parts: Vec<Vec<u8>>, broken: bool) -> Input {
    let (tx, rx) = mpsc::channel(parts.len() + 1);
    for part in parts {
        tx.try_send(Ok(Bytes::from(part))).unwrap();
    }
    if broken {
        tx.try_send(Err("the download broke off".into())).unwrap();
    }
    Input {
        point: Point {
            exporter: exporter.into(),
            source_id: 3,
        },
        url: format!("http://{exporter}:9181"),
        chunks: rx,
    }
}

#[test]
fn merge_orders_frames_by_time_and_marks_a_broken_download() {
    let a = capture(&[(10, 1), (30, 3), (50, 5)]);
    let b = capture(&[(20, 2), (40, 4), (60, 6)]);
    // The second answer breaks off after its second frame (32 + 60
    // padded to 92 bytes each).
    let cut = b.len() - 92 + 10;
    let inputs = vec![
        input(
            "192.0.2.3",
            a.chunks(7).map(<[u8]>::to_vec).collect(),
            false,
        ),
        input("192.0.2.4", vec![b[..cut].to_vec()], true),
    ];
    let names = two_names();
    let (tx, mut rx) = mpsc::channel(64);
    let out = ChannelWriter {
        tx,
        buf: Vec::new(),
        written: 0,
    };
    let merged = merge(inputs, &names, "verdict violation", u64::MAX, out).unwrap();
    let mut bytes = Vec::new();
    while let Ok(chunk) = rx.try_recv() {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(merged.frames, 5);
    assert_eq!(merged.broken.len(), 1);
    assert_eq!(merged.broken[0].point, "esx-04/vxlan");
    assert_eq!(merged.bytes, bytes.len() as u64);
    let mut reader = Reader::new(&bytes[..]).unwrap();
    let mut seen = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        seen.push((r.timestamp_ns, r.data[0], r.interface));
    }
    assert_eq!(
        seen,
        [(10, 1, 0), (20, 2, 1), (30, 3, 0), (40, 4, 1), (50, 5, 0)]
    );
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("esx-03/erspan2") && text.contains("esx-04/vxlan"));
    assert!(text.contains("partial capture: esx-04/vxlan: the capture broke off"));
}

/// The two points of the merge tests, named.
fn two_names() -> BTreeMap<Point, String> {
    BTreeMap::from([
        (
            Point {
                exporter: "192.0.2.3".into(),
                source_id: 3,
            },
            "esx-03/erspan2".to_string(),
        ),
        (
            Point {
                exporter: "192.0.2.4".into(),
                source_id: 3,
            },
            "esx-04/vxlan".to_string(),
        ),
    ])
}

/// A response served on a loopback socket, read as sent: its head, its
/// body dechunked and its trailer section (empty when none).
struct Raw {
    head: String,
    body: Vec<u8>,
    trailers: String,
}

/// `GET /` of a server answering with the capture of two points, the
/// second breaking off after its second frame when `broken`, cut at
/// `max_bytes`; the request says `TE: trailers` when `te`.
async fn download(broken: bool, max_bytes: u64, te: bool) -> Raw {
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let serve = move |headers: HeaderMap| async move {
        let a = capture(&[(10, 1), (30, 3), (50, 5)]);
        let b = capture(&[(20, 2), (40, 4), (60, 6)]);
        let b = if broken {
            input("192.0.2.4", vec![b[..b.len() - 92 + 10].to_vec()], true)
        } else {
            input("192.0.2.4", vec![b], false)
        };
        let capture = Capture {
            inputs: vec![input("192.0.2.3", vec![a], false), b],
            names: two_names(),
            comment: "verdict violation".into(),
            max_bytes,
        };
        capture.respond(&[], wants_trailers(&headers), |_| {})
    };
    let app = axum::Router::new().route("/", get(serve));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let te = if te { "TE: trailers\r\n" } else { "" };
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: x\r\n{te}Connection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let mut rest = &raw[split + 4..];
    let mut body = Vec::new();
    loop {
        let line = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = std::str::from_utf8(&rest[..line]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap(), 16).unwrap();
        rest = &rest[line + 2..];
        if size == 0 {
            break;
        }
        body.extend_from_slice(&rest[..size]);
        assert_eq!(&rest[size..size + 2], b"\r\n");
        rest = &rest[size + 2..];
    }
    let trailers = String::from_utf8(rest.to_vec()).unwrap();
    let trailers = trailers
        .strip_suffix("\r\n")
        .unwrap_or_else(|| panic!("{trailers:?}"))
        .to_string();
    Raw {
        head: head.to_ascii_lowercase(),
        body,
        trailers: trailers.to_ascii_lowercase(),
    }
}

/// The frames of a capture.
fn frames(capture: &[u8]) -> usize {
    let mut reader = Reader::new(capture).unwrap();
    let mut n = 0;
    while reader.next_record().unwrap().is_some() {
        n += 1;
    }
    n
}

#[tokio::test]
async fn a_download_that_broke_off_says_so_in_a_trailer() {
    let raw = download(true, u64::MAX, true).await;
    assert!(
        raw.head.contains("\r\nx-eastwest-partial: false"),
        "{}",
        raw.head
    );
    assert!(
        raw.head
            .contains("\r\ntrailer: x-eastwest-partial, x-eastwest-unavailable"),
        "{}",
        raw.head
    );
    assert_eq!(frames(&raw.body), 5);
    assert!(String::from_utf8_lossy(&raw.body).contains("partial capture: esx-04/vxlan"));
    assert!(
        raw.trailers.contains("x-eastwest-partial: true\r\n"),
        "{}",
        raw.trailers
    );
    assert!(
        raw.trailers
            .contains("x-eastwest-unavailable: esx-04/vxlan: the capture broke off"),
        "{}",
        raw.trailers
    );

    // Cut at the size limit: two frames of 92 bytes.
    let raw = download(false, 2 * 92, true).await;
    assert_eq!(frames(&raw.body), 2);
    assert!(
        raw.trailers.contains("x-eastwest-partial: true\r\n")
            && raw
                .trailers
                .contains("x-eastwest-unavailable: cut at the size limit of 184 bytes"),
        "{}",
        raw.trailers
    );

    // Whole: the trailer says so.
    let raw = download(false, u64::MAX, true).await;
    assert_eq!(frames(&raw.body), 6);
    assert_eq!(raw.trailers, "x-eastwest-partial: false\r\n");

    // Not asked for: no trailer, none announced.
    let raw = download(true, u64::MAX, false).await;
    assert_eq!(frames(&raw.body), 5);
    assert_eq!(raw.trailers, "");
    assert!(!raw.head.contains("\r\ntrailer:"), "{}", raw.head);
}

#[test]
fn a_ca_file_that_does_not_load_is_named() {
    let dir = std::env::temp_dir().join(format!("ew-packets-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    for (path, says) in [
        (dir.join("missing.pem"), "cannot read"),
        (empty, "no certificate in it"),
    ] {
        let config = PacketsConfig {
            ca: Some(path.clone()),
            ..PacketsConfig::default()
        };
        let err = config.client().unwrap_err();
        assert!(err.starts_with("packets.ca: "), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains(says), "{err}");
    }
    assert!(PacketsConfig::default().client().is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn merge_cuts_at_the_size_limit_and_says_so() {
    let a = capture(&[(10, 1), (30, 3), (50, 5)]);
    let (tx, mut rx) = mpsc::channel(64);
    let out = ChannelWriter {
        tx,
        buf: Vec::new(),
        written: 0,
    };
    let merged = merge(
        vec![input("192.0.2.3", vec![a], false)],
        &BTreeMap::new(),
        "",
        2 * 92,
        out,
    )
    .unwrap();
    assert_eq!((merged.frames, merged.cut), (2, true));
    let mut bytes = Vec::new();
    while let Ok(chunk) = rx.try_recv() {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    assert!(String::from_utf8_lossy(&bytes).contains("cut at the size limit of 184 bytes"));
}

#[test]
fn flows_group_into_one_fetch_per_point_and_conversation() {
    let flows = [
        flow("esx-03", "192.0.2.3", false, 1_000),
        flow("esx-03", "192.0.2.3", true, 900),
        flow("esx-04", "192.0.2.4", true, 1_200),
    ];
    let plan = plan(&flows);
    assert_eq!(plan.fetches.len(), 2, "{plan:?}");
    assert_eq!(
        (plan.fetches[0].first_ms, plan.fetches[0].last_ms),
        (900, 1_010)
    );
    assert_eq!(plan.fetches[0].conversation.client, "10.10.1.11");
    assert_eq!(plan.fetches[0].conversation.port, 8443);
    assert_eq!(plan.fetches[1].point.exporter, "192.0.2.4");
    let names: Vec<&str> = plan.names.values().map(String::as_str).collect();
    assert_eq!(names, ["esx-03/erspan3", "esx-04/erspan3"]);
    assert_eq!(plan.judgements.len(), 1);
    let comment = comment(&plan);
    assert!(
        comment.contains(
            "fin-fe-01 (10.10.1.11) -> payroll-01 (10.10.2.11) port 8443 proto 6: verdict violation, rule no-fin-payroll, severity high, policy revision r7"
        ),
        "{comment}"
    );
    assert_eq!(
        file_name(&plan),
        "eastwest-10.10.1.11-10.10.2.11-8443-6.pcapng"
    );
}
