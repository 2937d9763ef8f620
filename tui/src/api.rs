//! The dashboard's JSON API as this client sees it: the bodies of the
//! endpoints the TUI reads, made of the rows of `eastwest-api` (the
//! dashboard's own definitions), and the one row the TUI shows a
//! conversation or a violation as ([`Conversation`]); what
//! to ask for ([`Request`], [`Query`]), and the [`Client`] trait with its
//! HTTP implementation [`HttpClient`]. Tests use a fake [`Client`].

use std::future::Future;
use std::time::Duration;

pub use eastwest_api::{
    ExporterStatus, HostSummary, MatrixCell, ObservationPoint, Placement, Point, Severity, Totals,
    VerdictKind,
};
use eastwest_core::error::Chain;
use serde::{Deserialize, Serialize};

/// One conversation, oriented: the client (initiator) and the server
/// (responder), with bytes and packets per direction. Rows of
/// `conversations`, `vms/{name}`, `hosts/{name}` and `violations` all
/// decode into it (a violation has first/last seen, totals only and its
/// observation points). The one-direction rows of dashboards before the
/// bidirectional API (`src_*`/`dst_*`, `dst_port`) decode too, through
/// aliases, with their totals in `bytes`/`packets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conversation {
    #[serde(alias = "src_vm")]
    pub client_vm: String,
    #[serde(alias = "src_addr")]
    pub client_addr: Option<String>,
    #[serde(alias = "src_zone")]
    pub client_zone: String,
    #[serde(alias = "src_host")]
    pub client_host: String,
    #[serde(alias = "dst_vm")]
    pub server_vm: String,
    #[serde(alias = "dst_addr")]
    pub server_addr: Option<String>,
    #[serde(alias = "dst_zone")]
    pub server_zone: String,
    #[serde(alias = "dst_host")]
    pub server_host: String,
    pub proto: u8,
    #[serde(alias = "dst_port")]
    pub server_port: u16,
    #[serde(with = "eastwest_api::word")]
    pub verdict: VerdictKind,
    pub rule: String,
    #[serde(with = "eastwest_api::word")]
    pub severity: Option<Severity>,
    pub same_host: bool,
    pub observers: Vec<String>,
    pub flows: u64,
    /// Client → server.
    pub bytes_fwd: u64,
    pub packets_fwd: u64,
    /// Server → client.
    pub bytes_rev: u64,
    pub packets_rev: u64,
    /// Both directions.
    pub bytes: u64,
    pub packets: u64,
    /// First seen (`first_ms` in a violation).
    #[serde(alias = "first_ms")]
    pub start_ms: u64,
    /// Last seen (`last_ms` in a violation).
    #[serde(alias = "last_ms")]
    pub end_ms: u64,
    /// Violations only: where it was seen, and the policy that judged it.
    pub observation_points: Vec<ObservationPoint>,
    pub policy_revision: String,
}

impl Conversation {
    pub fn is_violation(&self) -> bool {
        self.verdict == VerdictKind::Violation
    }

    /// The client's VM name, or its address when the VM is unknown.
    pub fn client(&self) -> &str {
        endpoint(&self.client_vm, &self.client_addr)
    }

    /// The server's VM name, or its address when the VM is unknown.
    pub fn server(&self) -> &str {
        endpoint(&self.server_vm, &self.server_addr)
    }

    /// Both directions' bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
            .max(self.bytes_fwd.saturating_add(self.bytes_rev))
    }

    /// Both directions' packets.
    pub fn packets(&self) -> u64 {
        self.packets
            .max(self.packets_fwd.saturating_add(self.packets_rev))
    }

    /// The hosts that saw it (`observers`, or a violation's observation
    /// points).
    pub fn seen_by(&self) -> Vec<&str> {
        if self.observers.is_empty() {
            self.observation_points
                .iter()
                .map(|p| p.observer.as_str())
                .collect()
        } else {
            self.observers.iter().map(String::as_str).collect()
        }
    }

    /// The host the conversation is switched on when both VMs share one,
    /// else `client host → server host` (`?` for an unknown one).
    pub fn host(&self) -> String {
        let name = |h: &str| {
            if h.is_empty() {
                "?".to_string()
            } else {
                h.to_string()
            }
        };
        if self.same_host || self.client_host == self.server_host {
            name(&self.client_host)
        } else {
            format!("{}→{}", name(&self.client_host), name(&self.server_host))
        }
    }

    /// `TCP/443`, `UDP/53`, `ICMP`, `proto 89`.
    pub fn service(&self) -> String {
        service(self.proto, self.server_port)
    }
}

/// `TCP/443`, `UDP/53`, `ICMP`, `proto 89`.
pub fn service(proto: u8, port: u16) -> String {
    let name = match proto {
        1 => "ICMP",
        6 => "TCP",
        17 => "UDP",
        47 => "GRE",
        50 => "ESP",
        58 => "ICMPv6",
        132 => "SCTP",
        other => return format!("proto {other}"),
    };
    if matches!(proto, 6 | 17 | 132) {
        format!("{name}/{port}")
    } else {
        name.to_string()
    }
}

fn endpoint<'a>(vm: &'a str, addr: &'a Option<String>) -> &'a str {
    if vm.is_empty() {
        addr.as_deref().unwrap_or("?")
    } else {
        vm
    }
}

/// The body of `GET /api/v1/conversations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationsPage {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

/// The body of `GET /api/v1/violations`: violating conversations, newest
/// first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationsPage {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    #[serde(default)]
    pub total: u64,
    pub violations: Vec<Conversation>,
}

/// The body of `GET /api/v1/zones/matrix`.
pub type ZoneMatrix = eastwest_api::answers::MatrixResponse;

/// The body of `GET /api/v1/hosts`.
pub type Hosts = eastwest_api::answers::HostsResponse;

/// The body of `GET /api/v1/hosts/{name}`: the conversations switched
/// locally on one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDetail {
    pub host: String,
    #[serde(default)]
    pub vms: Vec<String>,
    #[serde(default)]
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

/// The body of `GET /api/v1/vms/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmDetail {
    pub name: String,
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub placements: Vec<Placement>,
    #[serde(default)]
    pub totals: Totals,
    /// Its conversations, as client or as server.
    pub conversations: Vec<Conversation>,
}

/// The body of `GET /api/v1/timeseries`.
pub type Timeseries = eastwest_api::answers::TimeseriesResponse;

/// The body of `GET /api/v1/exporters`.
pub type Exporters = eastwest_api::answers::ExportersResponse;

/// The part of `GET /api/v1/policy` the header shows: the revision in
/// force (`null` when none loaded) and why the file on disk does not load,
/// if it does not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub revision: Option<String>,
    pub error: Option<String>,
}

/// The time window of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    /// `all`, or a span ending now: `5m`, `1h`, `24h`, `7d`.
    Span(String),
    /// `[from, to)`, each RFC 3339 or epoch seconds, as the user typed them.
    Window { from: String, to: String },
}

impl Range {
    /// The span presets `r` cycles through.
    pub const PRESETS: [&'static str; 4] = ["5m", "1h", "24h", "all"];

    /// `5m`, `all`, or `FROM..TO`: the text the user types and the header
    /// shows. A window's times are checked by the server, whose message
    /// names the bad one.
    pub fn parse(text: &str) -> Result<Range, String> {
        let text = text.trim();
        if let Some((from, to)) = text.split_once("..") {
            let (from, to) = (from.trim(), to.trim());
            if from.is_empty() || to.is_empty() || to.contains("..") {
                return Err(format!(
                    "a window is FROM..TO (RFC 3339 or epoch seconds), got {text:?}"
                ));
            }
            return Ok(Range::Window {
                from: from.into(),
                to: to.into(),
            });
        }
        if text == "all" {
            return Ok(Range::Span(text.into()));
        }
        let digits = text.trim_end_matches(['s', 'm', 'h', 'd', 'w']);
        let unit = &text[digits.len()..];
        if digits.is_empty() || unit.len() != 1 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "range is all, a span (5m, 1h, 24h, 7d) or FROM..TO, got {text:?}"
            ));
        }
        Ok(Range::Span(text.into()))
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Range::Span(span) => f.write_str(span),
            Range::Window { from, to } => write!(f, "{from}..{to}"),
        }
    }
}

/// What list requests carry: the window and the filters the server
/// applies (each endpoint takes the ones it documents; the TUI matches
/// free words itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub range: Range,
    pub dataset: Option<String>,
    pub vm: Option<String>,
    pub zone: Option<String>,
    pub verdict: Option<String>,
    pub port: Option<u16>,
    pub limit: u64,
}

/// Which query parameters an endpoint takes (it refuses unknown ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// range/from/to and dataset.
    Window,
    /// ... and limit.
    Page,
    /// ... and vm, zone, limit (`violations`).
    Violations,
    /// ... and verdict (`zones/matrix`).
    Matrix,
    /// ... and vm, zone, verdict, port (`timeseries`).
    Filters,
    /// ... and limit (`conversations`).
    Conversations,
}

impl Query {
    fn params(&self, takes: Takes) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        match &self.range {
            Range::Span(span) => out.push(("range", span.clone())),
            Range::Window { from, to } => {
                out.push(("from", from.clone()));
                out.push(("to", to.clone()));
            }
        }
        let mut add = |name: &'static str, value: &Option<String>| {
            if let Some(value) = value {
                out.push((name, value.clone()));
            }
        };
        add("dataset", &self.dataset);
        if matches!(
            takes,
            Takes::Violations | Takes::Filters | Takes::Conversations
        ) {
            add("vm", &self.vm);
            add("zone", &self.zone);
        }
        if matches!(takes, Takes::Matrix | Takes::Filters | Takes::Conversations) {
            add("verdict", &self.verdict);
        }
        if matches!(takes, Takes::Filters | Takes::Conversations) {
            add("port", &self.port.map(|p| p.to_string()));
        }
        if matches!(
            takes,
            Takes::Page | Takes::Violations | Takes::Conversations
        ) {
            out.push(("limit", self.limit.to_string()));
        }
        out
    }
}

/// One thing the TUI asks the server for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Conversations(Query),
    /// The conversations of one zone matrix cell.
    ZonePair {
        client: String,
        server: String,
        query: Query,
    },
    Violations(Query),
    ZoneMatrix(Query),
    Hosts(Query),
    Host {
        name: String,
        query: Query,
    },
    Vm {
        name: String,
        query: Query,
    },
    Timeseries(Query),
    Exporters,
    Policy,
}

impl Request {
    /// The endpoint's path (with the name escaped) and its parameters.
    pub fn path_and_params(&self) -> (String, Vec<(&'static str, String)>) {
        match self {
            Request::Conversations(q) => (
                "/api/v1/conversations".into(),
                q.params(Takes::Conversations),
            ),
            Request::ZonePair {
                client,
                server,
                query,
            } => {
                let mut params = query.params(Takes::Conversations);
                params.push(("client_zone", client.clone()));
                params.push(("server_zone", server.clone()));
                ("/api/v1/conversations".into(), params)
            }
            Request::Violations(q) => ("/api/v1/violations".into(), q.params(Takes::Violations)),
            Request::ZoneMatrix(q) => ("/api/v1/zones/matrix".into(), q.params(Takes::Matrix)),
            Request::Hosts(q) => ("/api/v1/hosts".into(), q.params(Takes::Window)),
            Request::Host { name, query } => (
                format!("/api/v1/hosts/{}", segment(name)),
                query.params(Takes::Page),
            ),
            Request::Vm { name, query } => (
                format!("/api/v1/vms/{}", segment(name)),
                query.params(Takes::Page),
            ),
            Request::Timeseries(q) => ("/api/v1/timeseries".into(), q.params(Takes::Filters)),
            Request::Exporters => ("/api/v1/exporters".into(), Vec::new()),
            Request::Policy => ("/api/v1/policy".into(), Vec::new()),
        }
    }

    /// The endpoint, to keep one error per endpoint (`/api/v1/vms` for
    /// every VM).
    pub fn endpoint(&self) -> &'static str {
        match self {
            Request::Conversations(_) | Request::ZonePair { .. } => "/api/v1/conversations",
            Request::Violations(_) => "/api/v1/violations",
            Request::ZoneMatrix(_) => "/api/v1/zones/matrix",
            Request::Hosts(_) => "/api/v1/hosts",
            Request::Host { .. } => "/api/v1/hosts/{name}",
            Request::Vm { .. } => "/api/v1/vms/{name}",
            Request::Timeseries(_) => "/api/v1/timeseries",
            Request::Exporters => "/api/v1/exporters",
            Request::Policy => "/api/v1/policy",
        }
    }
}

/// The answer to a [`Request`], decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Conversations(ConversationsPage),
    Violations(ViolationsPage),
    ZoneMatrix(ZoneMatrix),
    Hosts(Hosts),
    Host(HostDetail),
    Vm(VmDetail),
    Timeseries(Timeseries),
    Exporters(Exporters),
    Policy(Policy),
}

/// Why a request failed; the text is shown in the banner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("server {url} unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{path}: server answered {status}: {message}")]
    Status {
        path: String,
        status: u16,
        message: String,
    },
    #[error("{path}: unreadable answer from the server: {reason}")]
    Decode { path: String, reason: String },
}

impl FetchError {
    /// True when the server could not be reached at all (the connection
    /// state, as opposed to a refused request).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, FetchError::Unreachable { .. })
    }
}

/// Something that answers [`Request`]s: the dashboard over HTTP, or a fake
/// in tests.
pub trait Client: Send + Sync + 'static {
    fn fetch(&self, request: &Request)
        -> impl Future<Output = Result<Response, FetchError>> + Send;

    /// Save the packets of `download` (`GET /api/v1/packets`, a pcapng) to
    /// its file; the bytes written.
    fn save_packets(
        &self,
        download: &Download,
    ) -> impl Future<Output = Result<u64, FetchError>> + Send;
}

/// A conversation's packets to save: the `/api/v1/packets` parameters and
/// the file, named after the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub params: Vec<(&'static str, String)>,
    pub file: std::path::PathBuf,
}

impl Download {
    /// The packets of `c` in its own time span (`dataset`: the one shown),
    /// saved in `dir`.
    pub fn of(c: &Conversation, dataset: Option<&str>, dir: &std::path::Path) -> Download {
        let mut params = vec![
            ("from", (c.start_ms / 1000).to_string()),
            ("to", (c.end_ms / 1000 + 1).to_string()),
        ];
        if !c.client_vm.is_empty() {
            params.push(("vm", c.client_vm.clone()));
        }
        if !c.server_vm.is_empty() {
            params.push(("peer", c.server_vm.clone()));
        }
        params.push(("proto", c.proto.to_string()));
        params.push(("port", c.server_port.to_string()));
        if let Some(dataset) = dataset {
            params.push(("dataset", dataset.to_string()));
        }
        let name = format!(
            "{}_{}_{}.pcapng",
            c.client(),
            c.server(),
            c.service().replace('/', "-")
        );
        let name: String = name
            .chars()
            .map(|ch| {
                if ch.is_ascii_alphanumeric() || "-_.".contains(ch) {
                    ch
                } else {
                    '_'
                }
            })
            .collect();
        Download {
            params,
            file: dir.join(name),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
}

/// HTTP client of the dashboard API.
#[derive(Debug, Clone)]
pub struct HttpClient {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
}

impl HttpClient {
    /// `server` is the dashboard's base URL (`http://127.0.0.1:8080`);
    /// `token`, when given, is sent as `Authorization: Bearer`.
    pub fn new(
        server: &str,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<HttpClient, FetchError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| FetchError::Unreachable {
                url: server.to_string(),
                reason: e.to_string(),
            })?;
        Ok(HttpClient {
            http,
            server: server.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// The server's base URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    async fn get(
        &self,
        path: &str,
        params: &[(&'static str, String)],
    ) -> Result<reqwest::Response, FetchError> {
        let url = format!("{}{path}", self.server);
        let mut request = self.http.get(&url).query(params);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| FetchError::Unreachable {
            url: self.server.clone(),
            reason: Chain(&e).to_string(),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|b| b.error)
            .unwrap_or_else(|_| status.canonical_reason().unwrap_or("error").to_string());
        Err(FetchError::Status {
            path: path.to_string(),
            status: status.as_u16(),
            message,
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&'static str, String)],
    ) -> Result<T, FetchError> {
        let decode = |reason: String| FetchError::Decode {
            path: path.to_string(),
            reason,
        };
        let body = self
            .get(path, params)
            .await?
            .bytes()
            .await
            .map_err(|e| decode(e.to_string()))?;
        serde_json::from_slice(&body).map_err(|e| decode(e.to_string()))
    }

    /// The conversations list.
    pub async fn conversations(&self, query: &Query) -> Result<ConversationsPage, FetchError> {
        let (path, params) = Request::Conversations(query.clone()).path_and_params();
        self.json(&path, &params).await
    }

    /// The conversations as the server's CSV export.
    pub async fn conversations_csv(&self, query: &Query) -> Result<String, FetchError> {
        let mut params = query.params(Takes::Conversations);
        params.push(("format", "csv".into()));
        let path = "/api/v1/conversations";
        self.get(path, &params)
            .await?
            .text()
            .await
            .map_err(|e| FetchError::Decode {
                path: path.into(),
                reason: e.to_string(),
            })
    }
}

/// A path segment with `/`, `%`, `?`, `#` and spaces escaped.
fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client for HttpClient {
    async fn save_packets(&self, download: &Download) -> Result<u64, FetchError> {
        use std::io::Write;
        let path = "/api/v1/packets";
        let failed = |reason: String| FetchError::Decode {
            path: path.into(),
            reason,
        };
        let mut response = self.get(path, &download.params).await?;
        // Chunks are small; a local file write does not hold up the loop.
        let mut file = std::fs::File::create(&download.file)
            .map_err(|e| failed(format!("{}: {e}", download.file.display())))?;
        let mut written = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| failed(Chain(&e).to_string()))?
        {
            file.write_all(&chunk)
                .map_err(|e| failed(format!("{}: {e}", download.file.display())))?;
            written += chunk.len() as u64;
        }
        file.sync_all()
            .map_err(|e| failed(format!("{}: {e}", download.file.display())))?;
        Ok(written)
    }

    async fn fetch(&self, request: &Request) -> Result<Response, FetchError> {
        let (path, params) = request.path_and_params();
        let (path, params) = (path.as_str(), params.as_slice());
        Ok(match request {
            Request::Conversations(_) | Request::ZonePair { .. } => {
                Response::Conversations(self.json(path, params).await?)
            }
            Request::Violations(_) => Response::Violations(self.json(path, params).await?),
            Request::ZoneMatrix(_) => Response::ZoneMatrix(self.json(path, params).await?),
            Request::Hosts(_) => Response::Hosts(self.json(path, params).await?),
            Request::Host { .. } => Response::Host(self.json(path, params).await?),
            Request::Vm { .. } => Response::Vm(self.json(path, params).await?),
            Request::Timeseries(_) => Response::Timeseries(self.json(path, params).await?),
            Request::Exporters => Response::Exporters(self.json(path, params).await?),
            Request::Policy => Response::Policy(self.json(path, params).await?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_services() {
        let mut c = Conversation {
            client_vm: "web-01".into(),
            server_addr: Some("10.0.0.9".into()),
            proto: 6,
            server_port: 5432,
            client_host: "esx-01".into(),
            server_host: "esx-02".into(),
            ..Conversation::default()
        };
        assert_eq!(c.client(), "web-01");
        assert_eq!(c.server(), "10.0.0.9");
        assert_eq!(c.service(), "TCP/5432");
        assert_eq!(c.host(), "esx-01→esx-02");
        c.same_host = true;
        c.server_host = "esx-01".into();
        assert_eq!(c.host(), "esx-01");
        assert_eq!(service(1, 0), "ICMP");
        assert_eq!(service(89, 0), "proto 89");
    }

    #[test]
    fn ranges() {
        assert_eq!(Range::parse("5m").unwrap(), Range::Span("5m".into()));
        assert_eq!(Range::parse(" all ").unwrap(), Range::Span("all".into()));
        let window = Range::parse("2026-11-02T10:00:00Z..2026-11-02T11:00:00Z").unwrap();
        assert_eq!(
            window.to_string(),
            "2026-11-02T10:00:00Z..2026-11-02T11:00:00Z"
        );
        for bad in [
            "", "h", "5", "5mm", "-5m", "..x", "x..", "a..b..c", "forever",
        ] {
            assert!(Range::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_endpoint_gets_only_the_parameters_it_takes() {
        let query = Query {
            range: Range::parse("1700000000..1700003600").unwrap(),
            dataset: Some("lab".into()),
            vm: Some("web-01".into()),
            zone: Some("dmz".into()),
            verdict: Some("violation".into()),
            port: Some(443),
            limit: 50,
        };
        let names = |r: Request| {
            let (path, params) = r.path_and_params();
            let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
            format!("{path}?{}", names.join("&"))
        };
        assert_eq!(
            names(Request::Conversations(query.clone())),
            "/api/v1/conversations?from&to&dataset&vm&zone&verdict&port&limit"
        );
        assert_eq!(
            names(Request::Violations(query.clone())),
            "/api/v1/violations?from&to&dataset&vm&zone&limit"
        );
        assert_eq!(
            names(Request::ZoneMatrix(query.clone())),
            "/api/v1/zones/matrix?from&to&dataset&verdict"
        );
        assert_eq!(
            names(Request::Timeseries(query.clone())),
            "/api/v1/timeseries?from&to&dataset&vm&zone&verdict&port"
        );
        assert_eq!(
            names(Request::Hosts(query.clone())),
            "/api/v1/hosts?from&to&dataset"
        );
        assert_eq!(
            names(Request::Vm {
                name: "a/b".into(),
                query: query.clone()
            }),
            "/api/v1/vms/a%2Fb?from&to&dataset&limit"
        );
        assert_eq!(
            names(Request::ZonePair {
                client: "dmz".into(),
                server: "db".into(),
                query
            }),
            "/api/v1/conversations?from&to&dataset&vm&zone&verdict&port&limit&client_zone&server_zone"
        );
        assert_eq!(names(Request::Policy), "/api/v1/policy?");
    }

    #[test]
    fn rows_of_every_list_decode() {
        // The shapes of docs/api.md.
        let conversation: Conversation = serde_json::from_str(
            r#"{"client_vm": "fin-fe-01", "client_addr": null, "client_zone": "finance-frontend", "client_host": "esx-03",
     "server_vm": "payroll-01", "server_addr": null, "server_zone": "payroll", "server_host": "esx-03",
     "proto": 6, "server_port": 443,
     "verdict": "violation", "rule": "payroll must never talk to the finance front end",
     "severity": "critical", "same_host": true, "observers": ["esx-03"],
     "flows": 2, "packets_fwd": 52, "bytes_fwd": 14560, "packets_rev": 50, "bytes_rev": 64400,
     "packets": 102, "bytes": 78960, "start_ms": 1793610000200, "end_ms": 1793610012000}"#,
        )
        .unwrap();
        assert_eq!(conversation.bytes(), 78_960);
        assert_eq!(conversation.end_ms, 1_793_610_012_000);
        let violation: Conversation = serde_json::from_str(
            r#"{"client_vm": "fin-fe-01", "client_addr": null, "client_zone": "finance-frontend",
    "server_vm": "payroll-01", "server_addr": null, "server_zone": "payroll",
    "proto": 6, "server_port": 443, "rule": "payroll must never talk to the finance front end",
    "severity": "critical", "same_host": true, "policy_revision": "r1",
    "first_ms": 1793610000200, "last_ms": 1793610012000,
    "flows": 2, "packets": 102, "bytes": 78960,
    "observation_points": [{"observer": "esx-03", "encap": "erspan2", "flows": 2, "bytes": 78960}],
    "flows_url": "/api/v1/flows?vm=fin-fe-01"}"#,
        )
        .unwrap();
        assert_eq!(violation.bytes(), 78_960);
        assert_eq!(violation.packets(), 102);
        assert_eq!(violation.start_ms, 1_793_610_000_200);
        assert_eq!(violation.seen_by(), ["esx-03"]);
        // A one-direction row of an older dashboard.
        let old: Conversation = serde_json::from_str(
            r#"{"src_vm": "payroll-01", "src_addr": null, "dst_vm": "fin-web-01", "dst_addr": null,
     "src_zone": "payroll", "dst_zone": "finance-frontend", "proto": 6, "dst_port": 443,
     "verdict": "violation", "rule": "r", "severity": "critical", "same_host": true,
     "observers": ["esx-03"], "flows": 1, "packets": 50, "bytes": 5000,
     "start_ms": 1793613601000, "end_ms": 1793613603000}"#,
        )
        .unwrap();
        assert_eq!((old.client(), old.server()), ("payroll-01", "fin-web-01"));
        assert_eq!((old.server_port, old.bytes()), (443, 5000));
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("esx-01.lab"), "esx-01.lab");
        assert_eq!(segment("a/b c?"), "a%2Fb%20c%3F");
    }

    #[tokio::test]
    async fn unreachable_server_is_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = format!("http://127.0.0.1:{port}");
        let client = HttpClient::new(&server, None, Duration::from_secs(2)).unwrap();
        match client.fetch(&Request::Policy).await {
            Err(err @ FetchError::Unreachable { .. }) => {
                assert!(err.is_unreachable());
                assert!(err.to_string().contains(&server));
            }
            other => panic!("{other:?}"),
        }
    }
}
