//! The evidence server: `GET /packets` streams the packet store's frames
//! of a window and filter as pcapng, on a listen address of its own
//! (`[evidence] listen`, off unless set), behind a bearer token whose
//! SHA-256 the config holds (`evidence.token_sha256`, checked with
//! [`eastwest_core::token`] as the dashboard checks its tokens).
//!
//! * `GET /packets?from=&to=&host=&peer=&port=&proto=&vlan=&vni=&domain=&max_bytes=`
//!   `from`/`to`: RFC 3339 or ns since the Unix epoch (`to` excluded).
//!   200 with `application/vnd.tcpdump.pcapng`, headers
//!   `x-eastwest-frames` and `x-eastwest-store-oldest` (RFC 3339). Errors
//!   are JSON `{"error": "...", "oldest": "...", "oldest_ns": N}`: 400 a
//!   bad parameter, 401 no or a wrong token, 404 an empty store, 410 the
//!   window ends before the oldest frame held, 413 past the size limit.
//! * `GET /store`: the store's status (JSON, as in `--stats-json`).
//! * `GET /metrics`: the same as Prometheus text (`exporter_store_*`, and
//!   the server's own `exporter_evidence_*`; see [`crate::metrics`]).
//!
//! With `[evidence.tls]` it speaks HTTPS only (the `eastwest-tls` listener,
//! as the dashboard's): the certificate and key are read again on SIGHUP
//! (new connections get them; a file that does not load is logged and the
//! previous certificate kept).
//!
//! The answer is written by a blocking task, frame by frame, into a
//! channel of a few 64 KiB chunks that the response body drains: the
//! capture is never held in memory.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use eastwest_tls::{reload_on_sighup, TlsConfig, TlsListener};

use crate::metrics::{self, Metrics};
use crate::store::query::{self, Filter, QueryError};
use crate::store::StatusHandle;

/// `[evidence]`: the evidence server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvidenceConfig {
    /// `ADDRESS:PORT` to serve on (`--evidence-listen`); off when unset.
    pub listen: Option<String>,
    /// SHA-256 (64 hex digits) of the bearer token a request must carry
    /// (`eastwest-exporter --hash-token`).
    pub token_sha256: String,
    /// Largest answer in bytes; a request may ask for less (`max_bytes`).
    pub max_bytes: u64,
    /// The base URL announced to the collector in the NetFlow options
    /// record (`--evidence-url`), so the dashboard finds the packets: "" =
    /// `http://` and the listen address (the host name in place of an
    /// unspecified address). Set alone (without `listen`), a replay
    /// announces the exporter that will serve its store.
    pub url: String,
    /// `[evidence.tls]`: serve HTTPS with this PEM certificate chain and
    /// key (`--evidence-tls-cert`, `--evidence-tls-key`); the announced
    /// URL is then `https://`.
    pub tls: TlsConfig,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            listen: None,
            token_sha256: String::new(),
            max_bytes: 1 << 30,
            url: String::new(),
            tls: TlsConfig::default(),
        }
    }
}

/// What the evidence server needs, checked: where to listen, the token's
/// digest, the size limit, and the TLS configuration (`None`: plain HTTP)
/// with the files it was read from (read again on SIGHUP).
#[derive(Debug, Clone)]
pub struct Serving {
    pub addr: SocketAddr,
    pub digest: [u8; 32],
    pub max_bytes: u64,
    pub tls: Option<(Arc<rustls::ServerConfig>, TlsConfig)>,
}

impl EvidenceConfig {
    /// What serving needs, when it is on: the certificate and key read
    /// and checked.
    pub fn checked(&self) -> Result<Option<Serving>, String> {
        eastwest_core::netflow::encode::check_evidence_url(&self.url)
            .map_err(|e| format!("evidence.url: {e}"))?;
        let tls = self
            .tls
            .server_config()
            .map_err(|e| format!("evidence.{e}"))?;
        let Some(listen) = &self.listen else {
            if tls.is_some() {
                return Err("evidence.tls serves HTTPS: give evidence.listen".into());
            }
            return Ok(None);
        };
        let addr = listen
            .parse()
            .map_err(|_| format!("evidence.listen: {listen:?} is not an address:port"))?;
        let digest = eastwest_core::token::parse_digest_hex(&self.token_sha256).ok_or(
            "evidence.token_sha256: expected 64 hex digits (eastwest-exporter --hash-token)",
        )?;
        if self.max_bytes == 0 {
            return Err("evidence.max_bytes must be at least 1".into());
        }
        Ok(Some(Serving {
            addr,
            digest,
            max_bytes: self.max_bytes,
            tls: tls.map(|config| (config, self.tls.clone())),
        }))
    }
}

/// The evidence URL to announce: `url` when set, else the one of the
/// server listening on `bound` ("" when none), `https://` when it speaks
/// TLS. An unspecified address is replaced by `host`.
pub fn announced_url(url: &str, bound: Option<(SocketAddr, bool)>, host: &str) -> String {
    let scheme = |tls: bool| if tls { "https" } else { "http" };
    match bound {
        _ if !url.is_empty() => url.to_owned(),
        Some((addr, tls)) if addr.ip().is_unspecified() => {
            format!("{}://{host}:{}", scheme(tls), addr.port())
        }
        Some((addr, tls)) => format!("{}://{addr}", scheme(tls)),
        None => String::new(),
    }
}

#[derive(Debug)]
struct Served {
    dir: PathBuf,
    digest: [u8; 32],
    max_bytes: u64,
    status: StatusHandle,
    /// What `/metrics` shows: the store's figures and the server's own.
    metrics: Metrics,
}

/// The query string of `GET /packets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacketsQuery {
    from: String,
    to: String,
    host: Option<IpAddr>,
    peer: Option<IpAddr>,
    port: Option<u16>,
    proto: Option<u8>,
    vlan: Option<u16>,
    vni: Option<u32>,
    domain: Option<u32>,
    max_bytes: Option<u64>,
}

/// An error answer: a status and a JSON body; internals are logged, not
/// sent.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    oldest_ns: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            oldest_ns: None,
        }
    }
}

fn rfc3339(ns: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message });
        if let Some(ns) = self.oldest_ns {
            body["oldest"] = rfc3339(ns).into();
            body["oldest_ns"] = ns.into();
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let status = match &e {
            QueryError::Empty => StatusCode::NOT_FOUND,
            QueryError::Expired { .. } => StatusCode::GONE,
            QueryError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            QueryError::SourceChanged { .. } => StatusCode::CONFLICT,
            QueryError::Read { .. } => {
                tracing::error!(target: "serve", error = %e, "packet store read failed");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the packet store could not be read (see the exporter's log)",
                );
            }
        };
        let mut err = ApiError::new(status, e.to_string());
        if let QueryError::Expired { oldest_ns } = e {
            err.message = format!(
                "the window ends before the oldest frame the store holds ({})",
                rfc3339(oldest_ns)
            );
            err.oldest_ns = Some(oldest_ns);
        }
        err
    }
}

/// A time parameter: RFC 3339, or ns since the Unix epoch.
fn parse_time(name: &str, value: &str) -> Result<u64, ApiError> {
    if let Ok(ns) = value.parse::<u64>() {
        return Ok(ns);
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp_nanos()).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{name}: {value:?} is neither RFC 3339 nor ns since the epoch"),
            )
        })
}

async fn require_token(State(s): State<Arc<Served>>, request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let known = eastwest_core::token::bearer(header)
        .and_then(|t| eastwest_core::token::find([&s.digest], t))
        .is_some();
    if !known {
        return ApiError::new(StatusCode::UNAUTHORIZED, "a valid bearer token is needed")
            .into_response();
    }
    next.run(request).await
}

/// Chunks of the answer into the response body's channel.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 << 10;

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

async fn packets(
    State(s): State<Arc<Served>>,
    Query(q): Query<PacketsQuery>,
) -> Result<Response, ApiError> {
    let filter = Filter {
        from_ns: parse_time("from", &q.from)?,
        to_ns: parse_time("to", &q.to)?,
        host: q.host,
        peer: q.peer,
        port: q.port,
        proto: q.proto,
        vlan: q.vlan,
        vni: q.vni,
        domain: q.domain,
    };
    if filter.to_ns <= filter.from_ns {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "to must be after from",
        ));
    }
    let limit = q.max_bytes.unwrap_or(s.max_bytes).min(s.max_bytes);
    let dir = s.dir.clone();
    let plan = tokio::task::spawn_blocking(move || query::plan(&dir, &filter, limit))
        .await
        .map_err(|e| {
            tracing::error!(target: "serve", error = %e, "extraction task failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "extraction failed")
        })??;
    let (frames, oldest) = (plan.frames(), plan.oldest_ns);
    let (tx, mut rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let err_tx = tx.clone();
        let out = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = plan
            .write_pcapng(out)
            .and_then(|mut w| std::io::Write::flush(&mut w))
        {
            tracing::warn!(target: "serve", error = %e, "packet download ended early");
            // The body ends with an error, so the client sees a cut
            // transfer rather than a short capture.
            let _ = err_tx.blocking_send(Err(e));
        }
    });
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.tcpdump.pcapng"),
    );
    headers.insert("x-eastwest-frames", HeaderValue::from(frames as u64));
    if let Ok(v) = HeaderValue::from_str(&rfc3339(oldest)) {
        headers.insert("x-eastwest-store-oldest", v);
    }
    Ok(response)
}

async fn store_status(State(s): State<Arc<Served>>) -> Response {
    Json(s.status.get()).into_response()
}

async fn metrics(State(s): State<Arc<Served>>) -> Response {
    ([(CONTENT_TYPE, metrics::CONTENT_TYPE)], s.metrics.render()).into_response()
}

/// The routes, behind the token check.
fn router(served: Arc<Served>) -> Router {
    Router::new()
        .route("/packets", get(packets))
        .route("/store", get(store_status))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&served),
            require_token,
        ))
        .with_state(served)
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("evidence server on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running evidence server; [`Server::stop`] ends it.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Bind `serving.addr` and serve the store in `dir` on a thread of its
    /// own, over HTTPS with `serving.tls`.
    pub fn start(
        serving: Serving,
        dir: PathBuf,
        status: StatusHandle,
    ) -> Result<Server, ServeError> {
        let Serving {
            addr,
            digest,
            max_bytes,
            tls,
        } = serving;
        let bind_err = |source| ServeError::Bind { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let local = listener.local_addr().map_err(bind_err)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(4)
            .thread_name("evidence")
            .enable_all()
            .build()
            .map_err(bind_err)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics = Metrics::new(status.clone());
        let tls_failures = metrics.evidence.tls_handshake_failures.clone();
        let app = router(Arc::new(Served {
            dir,
            digest,
            max_bytes,
            status,
            metrics,
        }));
        let https = tls.is_some();
        let thread = std::thread::Builder::new()
            .name("evidence".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(error) => {
                            tracing::error!(target: "serve", %error, "evidence server cannot listen");
                            return;
                        }
                    };
                    let stopped = async {
                        let _ = stopped.await;
                    };
                    let served = match tls {
                        Some((config, files)) => {
                            // New connections get the certificate read
                            // again on SIGHUP.
                            let (current, watched) = tokio::sync::watch::channel(config);
                            tokio::spawn(reload_on_sighup(files, Some(current)));
                            let on_failure = move || {
                                tls_failures.inc();
                            };
                            match TlsListener::new(listener, watched, on_failure) {
                                Ok(tls) => {
                                    axum::serve(tls, app)
                                        .with_graceful_shutdown(stopped)
                                        .await
                                }
                                Err(error) => Err(error),
                            }
                        }
                        None => {
                            axum::serve(listener, app)
                                .with_graceful_shutdown(stopped)
                                .await
                        }
                    };
                    if let Err(error) = served {
                        tracing::error!(target: "serve", %error, "evidence server failed");
                    }
                });
            })
            .map_err(bind_err)?;
        tracing::info!(target: "serve", addr = %local, https, "serving packets");
        Ok(Server {
            addr: local,
            tls: https,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address it listens on, and whether it speaks HTTPS.
    pub fn bound(&self) -> (SocketAddr, bool) {
        (self.addr, self.tls)
    }

    /// Stop serving (downloads under way finish first).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!(target: "serve", "evidence server thread panicked");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announced_url_is_the_configured_one_else_the_listen_address() {
        let bound = |s: &str| Some((s.parse::<SocketAddr>().expect("address"), false));
        assert_eq!(
            announced_url(
                "https://evidence.lab/esx-03",
                bound("0.0.0.0:9181"),
                "esx-03"
            ),
            "https://evidence.lab/esx-03"
        );
        assert_eq!(
            announced_url("", bound("192.0.2.7:9181"), "esx-03"),
            "http://192.0.2.7:9181"
        );
        assert_eq!(
            announced_url("", bound("[::]:9181"), "esx-03"),
            "http://esx-03:9181"
        );
        assert_eq!(announced_url("", None, "esx-03"), "");
        let https = Some(("192.0.2.7:9181".parse().expect("address"), true));
        assert_eq!(announced_url("", https, "esx-03"), "https://192.0.2.7:9181");
        let bad = EvidenceConfig {
            url: "esx-03:9181".into(),
            ..EvidenceConfig::default()
        };
        assert!(bad.checked().unwrap_err().contains("evidence.url"));
    }

    #[test]
    fn tls_files_are_checked_and_named() {
        let missing = EvidenceConfig {
            listen: Some("127.0.0.1:0".into()),
            token_sha256: "0".repeat(64),
            tls: TlsConfig {
                cert: Some("/nonexistent/evidence.pem".into()),
                key: Some("/nonexistent/evidence.key".into()),
            },
            ..EvidenceConfig::default()
        };
        let err = missing.checked().unwrap_err();
        assert!(
            err.starts_with("evidence.tls.cert: cannot read /nonexistent/evidence.pem"),
            "{err}"
        );
        let half = EvidenceConfig {
            tls: TlsConfig {
                cert: Some("/nonexistent/evidence.pem".into()),
                key: None,
            },
            ..missing.clone()
        };
        assert!(half.checked().unwrap_err().contains("only cert is set"));
        let unserved = EvidenceConfig {
            listen: None,
            ..missing
        };
        assert!(unserved.checked().unwrap_err().contains("evidence.tls"));
    }
}
