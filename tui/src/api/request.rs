//! What to ask the dashboard for: the time window and filters
//! ([`Range`], [`Query`]), the [`Request`]s with their paths and
//! parameters, and the decoded [`Response`].

use super::{
    ConversationsPage, Exporters, HostDetail, Hosts, Policy, Timeseries, ViolationsPage, VmDetail,
    ZoneMatrix,
};

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
pub(super) enum Takes {
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
    pub(super) fn params(&self, takes: Takes) -> Vec<(&'static str, String)> {
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

/// A path segment with `/`, `%`, `?`, `#` and spaces escaped.
pub(super) fn segment(name: &str) -> String {
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
