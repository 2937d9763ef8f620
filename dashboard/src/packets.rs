//! `GET /api/v1/packets`: a conversation's packets from every observation
//! point that saw it, merged into one pcapng.
//!
//! The filters are those of `/api/v1/flows` (window, `vm`, `peer`, `proto`,
//! `port`, `verdict`, `rule`). The matching flow records name the
//! observation points (exporter address, source id, observer) and the
//! conversations (addresses, server port, protocol, time span); the
//! `exporters` table names each exporter's evidence server (its options
//! record's `evidence_url`), so no address is configured twice. Every
//! (observation point, conversation) is fetched from its exporter's
//! `GET /packets` with the `[packets] token`, and the answers are merged by
//! capture time into one pcapng section: one interface per observation
//! point (`esx-03/erspan3`), the section header's comment naming each
//! conversation with its verdict, rule, severity and policy revision.
//!
//! The merge runs on a blocking thread with the core pcapng reader and
//! writer, a few 64 KiB chunks ahead of the response body: the capture is
//! never held in memory. Past `[packets] max_bytes` the capture is cut.
//!
//! What could not be fetched is reported per observation point: in the
//! `x-eastwest-unavailable` header (and `x-eastwest-partial: true`) when
//! the others answered, in a trailing section whose comment says so when a
//! download broke off midway, and as a JSON error (`sources`, with the
//! exporter's own reason and its store's oldest time) when none answered.
//! Only `responder` (and `admin`) tokens may download; every download is
//! logged with who asked, what and how many bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use eastwest_core::pcapfile::{NgWriter, Reader};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::api::{params, AppState, RawQuery};
use crate::auth::Responder;
use crate::error::ApiError;
use crate::model::FlowRecord;
use crate::query::allowed;
use crate::store::Store;
use eastwest_api::word::Word;

/// `[packets]`: fetching packets from the exporters' evidence servers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PacketsConfig {
    /// The bearer token the exporters' evidence servers accept (they keep
    /// its SHA-256 in `evidence.token_sha256`).
    pub token: String,
    /// Largest merged capture in bytes; past it the capture is cut.
    pub max_bytes: u64,
    /// Longest wait for an exporter's answer to start, and between two of
    /// its chunks.
    pub timeout_seconds: u64,
    /// Most flow records a request may gather its observation points and
    /// conversations from.
    pub max_flows: u64,
    /// PEM file of the certificate authorities that sign the exporters'
    /// HTTPS certificates (`https://` evidence URLs); when set, only they
    /// are trusted, else the system's.
    pub ca: Option<PathBuf>,
}

impl Default for PacketsConfig {
    fn default() -> Self {
        PacketsConfig {
            token: String::new(),
            max_bytes: 1 << 30,
            timeout_seconds: 10,
            max_flows: 10_000,
            ca: None,
        }
    }
}

impl PacketsConfig {
    /// The HTTP client that fetches from the exporters: `ca` read and
    /// trusted. Checked at start-up, so a bad file stops the dashboard.
    pub fn client(&self) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(self.timeout_seconds.max(1)));
        if let Some(ca) = &self.ca {
            builder = builder.tls_built_in_root_certs(false);
            for der in eastwest_tls::load_ca(ca).map_err(|e| format!("packets.ca: {e}"))? {
                let cert = reqwest::Certificate::from_der(&der)
                    .map_err(|e| format!("packets.ca: {}: {e}", ca.display()))?;
                builder = builder.add_root_certificate(cert);
            }
        }
        builder
            .build()
            .map_err(|e| format!("packets: http client: {e}"))
    }
}

/// Most conversations one capture gathers.
const MAX_CONVERSATIONS: usize = 64;
/// Bytes of a chunk of the answer.
const CHUNK: usize = 64 << 10;

/// A conversation as its flow records show it: both ends, the server's
/// port, the protocol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Conversation {
    pub client: String,
    pub server: String,
    pub port: u16,
    pub proto: u8,
}

/// One observation point: an exporter's observation domain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Point {
    pub exporter: String,
    pub source_id: u32,
}

/// What the flows say of one (point, conversation): the time span and how
/// the point names itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub point: Point,
    pub conversation: Conversation,
    /// First and last packet, epoch ms (the window asked of the exporter:
    /// `[first, last + 1 ms)`).
    pub first_ms: u64,
    pub last_ms: u64,
}

/// What the capture's comment says of one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Judgement {
    pub client_vm: String,
    pub server_vm: String,
    pub verdict: String,
    pub rule: String,
    pub severity: String,
    pub policy_revision: String,
}

/// The flows grouped: what to fetch, the points' names, the conversations'
/// verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub fetches: Vec<Fetch>,
    /// Interface name of each point (`observer/encap`).
    pub names: BTreeMap<Point, String>,
    pub judgements: BTreeMap<Conversation, Judgement>,
}

/// Group flow records into fetches, one per (point, conversation).
pub fn plan(flows: &[FlowRecord]) -> Plan {
    let mut plan = Plan::default();
    let mut spans: BTreeMap<(Point, Conversation), (u64, u64)> = BTreeMap::new();
    let mut encaps: BTreeMap<Point, (String, BTreeSet<String>)> = BTreeMap::new();
    for f in flows {
        // The request direction names the client; a reply is turned round.
        let (client, server, port, client_vm, server_vm) = if f.reply {
            (&f.dst_addr, &f.src_addr, f.src_port, &f.dst_vm, &f.src_vm)
        } else {
            (&f.src_addr, &f.dst_addr, f.dst_port, &f.src_vm, &f.dst_vm)
        };
        let conversation = Conversation {
            client: client.clone(),
            server: server.clone(),
            port,
            proto: f.proto,
        };
        let point = Point {
            exporter: f.exporter.clone(),
            source_id: f.source_id,
        };
        let span = spans
            .entry((point.clone(), conversation.clone()))
            .or_insert((f.start_ms, f.end_ms));
        span.0 = span.0.min(f.start_ms);
        span.1 = span.1.max(f.end_ms);
        let name = encaps
            .entry(point)
            .or_insert_with(|| (f.observer.clone(), BTreeSet::new()));
        if let Some(encap) = f.encap {
            name.1.insert(encap.as_str().to_string());
        }
        plan.judgements
            .entry(conversation)
            .or_insert_with(|| Judgement {
                client_vm: client_vm.clone(),
                server_vm: server_vm.clone(),
                verdict: f.verdict.to_string(),
                rule: f.rule.clone(),
                severity: f.severity.word().to_string(),
                policy_revision: f.policy_revision.clone(),
            });
    }
    for (point, (observer, encaps)) in encaps {
        let host = if observer.is_empty() {
            point.exporter.clone()
        } else {
            observer
        };
        let name = if encaps.is_empty() {
            format!("{host}/domain-{}", point.source_id)
        } else {
            format!(
                "{host}/{}",
                encaps.into_iter().collect::<Vec<_>>().join("+")
            )
        };
        plan.names.insert(point, name);
    }
    plan.fetches = spans
        .into_iter()
        .map(|((point, conversation), (first_ms, last_ms))| Fetch {
            point,
            conversation,
            first_ms,
            last_ms,
        })
        .collect();
    plan
}

/// The section header's comment: one line per conversation.
pub fn comment(plan: &Plan) -> String {
    let mut lines = vec!["eastwest packet evidence".to_string()];
    for (c, j) in &plan.judgements {
        let vm = |vm: &str, addr: &str| {
            if vm.is_empty() {
                addr.to_string()
            } else {
                format!("{vm} ({addr})")
            }
        };
        lines.push(format!(
            "{} -> {} port {} proto {}: verdict {}, rule {}, severity {}, policy revision {}",
            vm(&j.client_vm, &c.client),
            vm(&j.server_vm, &c.server),
            c.port,
            c.proto,
            or_none(&j.verdict),
            or_none(&j.rule),
            or_none(&j.severity),
            or_none(&j.policy_revision),
        ));
    }
    lines.join("\n")
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// Why one observation point's packets are missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unavailable {
    /// The point's interface name (`esx-03/erspan3`).
    pub point: String,
    /// Its evidence server ("" when it announced none).
    pub url: String,
    /// The exporter's HTTP status (0: no answer).
    pub status: u16,
    pub error: String,
    /// The oldest frame its store holds (RFC 3339), when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest: Option<String>,
}

impl Unavailable {
    fn line(&self) -> String {
        let oldest = self
            .oldest
            .as_ref()
            .map(|o| format!(" (oldest frame held {o})"))
            .unwrap_or_default();
        format!("{}: {}{oldest}", self.point, self.error)
    }
}

/// The JSON error when no observation point answered.
#[derive(Debug, Serialize, Deserialize)]
pub struct NoPackets {
    pub error: String,
    pub sources: Vec<Unavailable>,
}

/// The body of an exporter's error answer.
#[derive(Debug, Deserialize)]
struct ExporterError {
    error: String,
    oldest: Option<String>,
}

/// One exporter's answer being read: its point and its chunks.
struct Input {
    point: Point,
    url: String,
    chunks: mpsc::Receiver<Result<Bytes, String>>,
}

/// `Read` over the chunks a task pulls from an exporter's answer.
struct ChunkReader {
    chunks: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Chunks of the merged capture into the response body's channel.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
    written: u64,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.written += data.len() as u64;
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Ask `url` for `fetch`'s frames; on success a task feeds its body's
/// chunks to the returned receiver.
async fn start_fetch(
    client: &reqwest::Client,
    config: &PacketsConfig,
    url: &str,
    fetch: &Fetch,
    name: &str,
) -> Result<mpsc::Receiver<Result<Bytes, String>>, Unavailable> {
    let unavailable = |status: u16, error: String, oldest: Option<String>| Unavailable {
        point: name.to_string(),
        url: url.to_string(),
        status,
        error,
        oldest,
    };
    let c = &fetch.conversation;
    let from_ns = u128::from(fetch.first_ms) * 1_000_000;
    let to_ns = (u128::from(fetch.last_ms) + 1) * 1_000_000;
    let query = [
        ("from", from_ns.to_string()),
        ("to", to_ns.to_string()),
        ("host", c.client.clone()),
        ("peer", c.server.clone()),
        ("port", c.port.to_string()),
        ("proto", c.proto.to_string()),
        ("domain", fetch.point.source_id.to_string()),
        ("max_bytes", config.max_bytes.to_string()),
    ];
    let timeout = Duration::from_secs(config.timeout_seconds.max(1));
    let request = client
        .get(format!("{}/packets", url.trim_end_matches('/')))
        .query(&query)
        .bearer_auth(&config.token)
        .send();
    let mut response = match tokio::time::timeout(timeout, request).await {
        Err(_) => return Err(unavailable(0, "no answer in time".into(), None)),
        Ok(Err(e)) => {
            tracing::warn!(%url, error = %e, "packets: exporter unreachable");
            return Err(unavailable(0, "exporter unreachable".into(), None));
        }
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    if !status.is_success() {
        let body = tokio::time::timeout(timeout, response.text())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let (error, oldest) = match serde_json::from_str::<ExporterError>(&body) {
            Ok(e) => (e.error, e.oldest),
            Err(_) => (format!("exporter answered {status}"), None),
        };
        return Err(unavailable(status.as_u16(), error, oldest));
    }
    let (tx, rx) = mpsc::channel(4);
    let url = url.to_string();
    tokio::spawn(async move {
        loop {
            let chunk = match tokio::time::timeout(timeout, response.chunk()).await {
                Err(_) => Err("the exporter stopped sending".to_string()),
                Ok(Err(e)) => {
                    tracing::warn!(%url, error = %e, "packets: download broke off");
                    Err("the download broke off".to_string())
                }
                Ok(Ok(None)) => return,
                Ok(Ok(Some(chunk))) => Ok(chunk),
            };
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    Ok(rx)
}

/// What the merge wrote.
#[derive(Debug, Default)]
struct Merged {
    frames: u64,
    bytes: u64,
    broken: Vec<Unavailable>,
    cut: bool,
}

/// Merge `inputs` by capture time into `out`: one interface per point.
fn merge(
    inputs: Vec<Input>,
    names: &BTreeMap<Point, String>,
    comment: &str,
    max_bytes: u64,
    out: ChannelWriter,
) -> std::io::Result<Merged> {
    let mut merged = Merged::default();
    let mut w = NgWriter::with_comment(out, comment)?;
    let mut readers = Vec::new();
    for input in inputs {
        let name = names.get(&input.point).cloned().unwrap_or_default();
        let reader = ChunkReader {
            chunks: input.chunks,
            current: Bytes::new(),
        };
        match Reader::new(reader) {
            Ok(r) => readers.push((input.point, name, r)),
            Err(e) => merged.broken.push(Unavailable {
                point: name,
                url: input.url,
                status: 200,
                error: format!("not a capture: {e}"),
                oldest: None,
            }),
        }
    }
    let mut interfaces: HashMap<(Point, u32), u32> = HashMap::new();
    let mut heads: Vec<Option<eastwest_core::pcapfile::Record>> = Vec::new();
    let next = |i: usize,
                readers: &mut Vec<(Point, String, Reader<ChunkReader>)>,
                broken: &mut Vec<Unavailable>| {
        let (_, name, reader) = &mut readers[i];
        match reader.next_record() {
            Ok(r) => r,
            Err(e) => {
                broken.push(Unavailable {
                    point: name.clone(),
                    url: String::new(),
                    status: 200,
                    error: format!("the capture broke off: {e}"),
                    oldest: None,
                });
                None
            }
        }
    };
    for i in 0..readers.len() {
        let head = next(i, &mut readers, &mut merged.broken);
        heads.push(head);
    }
    while let Some(i) = heads
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.as_ref().map(|h| (h.timestamp_ns, i)))
        .min()
        .map(|(_, i)| i)
    {
        let Some(record) = heads[i].take() else {
            break;
        };
        let (point, name, reader) = &readers[i];
        let key = (point.clone(), record.linktype);
        let interface = match interfaces.get(&key) {
            Some(&id) => id,
            None => {
                let snaplen = reader
                    .interfaces()
                    .get(record.interface as usize)
                    .map_or(262_144, |i| i.snaplen);
                let linktype = u16::try_from(record.linktype).unwrap_or(1);
                let id = w.add_named_interface(linktype, snaplen, 9, name)?;
                interfaces.insert(key, id);
                id
            }
        };
        let block = 32 + record.data.len().next_multiple_of(4) as u64;
        if merged.bytes + block > max_bytes {
            merged.cut = true;
            break;
        }
        w.write_packet(
            interface,
            record.timestamp_ns,
            &record.data,
            record.orig_len,
        )?;
        merged.bytes += block;
        merged.frames += 1;
        heads[i] = next(i, &mut readers, &mut merged.broken);
    }
    let mut notes: Vec<String> = merged.broken.iter().map(Unavailable::line).collect();
    if merged.cut {
        notes.push(format!("cut at the size limit of {max_bytes} bytes"));
    }
    if !notes.is_empty() {
        w.new_section(&format!("partial capture: {}", notes.join("; ")))?;
    }
    let out = w.into_inner()?;
    merged.bytes = out.written;
    Ok(merged)
}

/// A header value of `text`: visible ASCII only.
fn header_value(text: &str) -> HeaderValue {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("?"))
}

/// A file name for the capture of `plan`.
pub fn file_name(plan: &Plan) -> String {
    let mut conversations = plan.judgements.keys();
    let name = match (conversations.next(), conversations.next()) {
        (Some(c), None) => format!("{}-{}-{}-{}", c.client, c.server, c.port, c.proto),
        _ => format!("{}-conversations", plan.judgements.len()),
    };
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("eastwest-{name}.pcapng")
}

/// `GET /api/v1/packets`.
pub async fn packets<S: Store>(
    State(state): State<AppState<S>>,
    Responder(who): Responder,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let mut p = params(&state, raw, &allowed::FLOWS)?;
    let config = state.packets.clone();
    p.limit = config.max_flows.max(1);
    p.offset = 0;
    let (flows, total) = state.store.flows(&p).await?;
    if flows.is_empty() {
        return Err(ApiError::NotFoundWhat(
            "no flow matches the filter in the window".into(),
        ));
    }
    let plan = plan(&flows);
    if plan.judgements.len() > MAX_CONVERSATIONS {
        return Err(ApiError::BadRequest(format!(
            "the filter matches {} conversations; at most {MAX_CONVERSATIONS} fit one capture (add peer, port or proto)",
            plan.judgements.len()
        )));
    }
    let (exporters, _) = state.store.exporters().await?;
    let urls: HashMap<Point, String> = exporters
        .into_iter()
        .map(|e| {
            let status = e.status(0, u64::MAX);
            (
                Point {
                    exporter: status.exporter,
                    source_id: status.source_id,
                },
                status.evidence_url,
            )
        })
        .collect();
    let client = config.client().map_err(ApiError::Internal)?;
    let mut inputs = Vec::new();
    let mut unavailable: Vec<Unavailable> = Vec::new();
    let starts = plan.fetches.iter().map(|fetch| {
        let url = urls.get(&fetch.point).cloned().unwrap_or_default();
        let name = plan.names.get(&fetch.point).cloned().unwrap_or_default();
        let (client, config) = (&client, &config);
        async move {
            if url.is_empty() {
                return (
                    fetch,
                    url.clone(),
                    Err(Unavailable {
                        point: name,
                        url,
                        status: 0,
                        error: "its exporter announces no packet store (evidence URL)".into(),
                        oldest: None,
                    }),
                );
            }
            let started = start_fetch(client, config, &url, fetch, &name).await;
            (fetch, url, started)
        }
    });
    for (fetch, url, started) in futures_util::future::join_all(starts).await {
        match started {
            Ok(chunks) => inputs.push(Input {
                point: fetch.point.clone(),
                url,
                chunks,
            }),
            Err(u) => unavailable.push(u),
        }
    }
    if inputs.is_empty() {
        let gone = unavailable.iter().all(|u| u.status == 410);
        let status = if gone {
            StatusCode::GONE
        } else {
            StatusCode::BAD_GATEWAY
        };
        tracing::info!(token = %who.name, flows = total, "packets: none available");
        state.metrics.packets_downloaded("unavailable", 0);
        let body = NoPackets {
            error: "no observation point could serve the packets".into(),
            sources: unavailable,
        };
        return Ok((status, Json(body)).into_response());
    }
    let mut comment = comment(&plan);
    if !unavailable.is_empty() {
        comment.push_str("\npartial capture, missing: ");
        comment.push_str(
            &unavailable
                .iter()
                .map(Unavailable::line)
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    let (tx, mut rx) = mpsc::channel(4);
    let writer = ChannelWriter {
        tx: tx.clone(),
        buf: Vec::with_capacity(CHUNK),
        written: 0,
    };
    let names = plan.names.clone();
    let max_bytes = config.max_bytes;
    let who_name = who.name.clone();
    let what = file_name(&plan);
    let log_what = what.clone();
    let metrics = std::sync::Arc::clone(&state.metrics);
    let missing = !unavailable.is_empty();
    tokio::task::spawn_blocking(
        move || match merge(inputs, &names, &comment, max_bytes, writer) {
            Ok(m) => {
                tracing::info!(
                    token = %who_name,
                    capture = %log_what,
                    frames = m.frames,
                    bytes = m.bytes,
                    broken = m.broken.len(),
                    cut = m.cut,
                    "packets downloaded"
                );
                let partial = missing || m.cut || !m.broken.is_empty();
                let outcome = if partial { "partial" } else { "complete" };
                metrics.packets_downloaded(outcome, m.bytes);
            }
            Err(e) => {
                tracing::warn!(token = %who_name, capture = %log_what, error = %e, "packets: download ended early");
                metrics.packets_downloaded("failed", 0);
                let _ = tx.blocking_send(Err(e));
            }
        },
    );
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.tcpdump.pcapng"),
    );
    headers.insert(
        CONTENT_DISPOSITION,
        header_value(&format!("attachment; filename=\"{what}\"")),
    );
    headers.insert(
        "x-eastwest-partial",
        HeaderValue::from_static(if unavailable.is_empty() {
            "false"
        } else {
            "true"
        }),
    );
    if !unavailable.is_empty() {
        let text = unavailable
            .iter()
            .map(Unavailable::line)
            .collect::<Vec<_>>()
            .join("; ");
        headers.insert("x-eastwest-unavailable", header_value(&text));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let names = BTreeMap::from([
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
        ]);
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
}
