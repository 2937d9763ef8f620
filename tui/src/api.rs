//! The dashboard's JSON API as this client sees it: the response of
//! `GET /api/v1/conversations` and a small HTTP client for it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Totals over every matching conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub conversations: u64,
    pub violations: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// One conversation (see the dashboard's README for the fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub src_vm: String,
    pub src_addr: Option<String>,
    pub dst_vm: String,
    pub dst_addr: Option<String>,
    pub src_zone: String,
    pub dst_zone: String,
    pub proto: u8,
    pub dst_port: u16,
    pub verdict: String,
    pub rule: String,
    pub severity: String,
    pub same_host: bool,
    pub observers: Vec<String>,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl Conversation {
    pub fn is_violation(&self) -> bool {
        self.verdict == "violation"
    }

    /// The VM name, or the address when the VM is unknown.
    pub fn source(&self) -> &str {
        endpoint(&self.src_vm, &self.src_addr)
    }

    /// The VM name, or the address when the VM is unknown.
    pub fn destination(&self) -> &str {
        endpoint(&self.dst_vm, &self.dst_addr)
    }

    /// `TCP/443`, `UDP/53`, `ICMP`, `proto 89`.
    pub fn service(&self) -> String {
        let name = match self.proto {
            1 => "ICMP",
            6 => "TCP",
            17 => "UDP",
            47 => "GRE",
            50 => "ESP",
            58 => "ICMPv6",
            132 => "SCTP",
            other => return format!("proto {other}"),
        };
        if matches!(self.proto, 6 | 17 | 132) {
            format!("{name}/{}", self.dst_port)
        } else {
            name.to_string()
        }
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    pub sort: String,
    pub limit: u64,
    pub offset: u64,
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

/// What to ask the server for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    /// `all`, `1h`, `24h`, `7d`, ...
    pub range: String,
    pub verdict: Option<String>,
    pub dataset: Option<String>,
    pub limit: u64,
}

/// Why a request failed; the text is shown in the banner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("server {url} unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("server answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("unreadable answer from the server: {0}")]
    Decode(String),
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
}

/// HTTP client of the dashboard API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    server: String,
    filters: Filters,
}

impl ApiClient {
    /// `server` is the dashboard's base URL (`http://127.0.0.1:8080`).
    pub fn new(server: &str, filters: Filters, timeout: Duration) -> Result<ApiClient, FetchError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| FetchError::Unreachable {
                url: server.to_string(),
                reason: e.to_string(),
            })?;
        Ok(ApiClient {
            http,
            server: server.trim_end_matches('/').to_string(),
            filters,
        })
    }

    /// The server's base URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The filters every request carries.
    pub fn filters(&self) -> &Filters {
        &self.filters
    }

    fn params(&self, format: &str) -> Vec<(&'static str, String)> {
        let mut params = vec![
            ("range", self.filters.range.clone()),
            ("limit", self.filters.limit.to_string()),
            ("format", format.to_string()),
        ];
        if let Some(verdict) = &self.filters.verdict {
            params.push(("verdict", verdict.clone()));
        }
        if let Some(dataset) = &self.filters.dataset {
            params.push(("dataset", dataset.clone()));
        }
        params
    }

    async fn get(&self, format: &str) -> Result<reqwest::Response, FetchError> {
        let url = format!("{}/api/v1/conversations", self.server);
        let response = self
            .http
            .get(&url)
            .query(&self.params(format))
            .send()
            .await
            .map_err(|e| FetchError::Unreachable {
                url: self.server.clone(),
                reason: error_chain(&e),
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
            status: status.as_u16(),
            message,
        })
    }

    /// The conversations, as JSON decoded.
    pub async fn conversations(&self) -> Result<Snapshot, FetchError> {
        let body = self
            .get("json")
            .await?
            .bytes()
            .await
            .map_err(|e| FetchError::Decode(e.to_string()))?;
        serde_json::from_slice(&body).map_err(|e| FetchError::Decode(e.to_string()))
    }

    /// The conversations as the server's CSV export.
    pub async fn conversations_csv(&self) -> Result<String, FetchError> {
        self.get("csv")
            .await?
            .text()
            .await
            .map_err(|e| FetchError::Decode(e.to_string()))
    }
}

/// "error sending request: connection refused", not only the outer layer.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let next = inner.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(src_vm: &str, proto: u8) -> Conversation {
        Conversation {
            src_vm: src_vm.into(),
            src_addr: src_vm.is_empty().then(|| "10.0.0.9".to_string()),
            dst_vm: "db-01".into(),
            dst_addr: None,
            src_zone: "dmz".into(),
            dst_zone: "db".into(),
            proto,
            dst_port: 5432,
            verdict: "violation".into(),
            rule: "r".into(),
            severity: "critical".into(),
            same_host: false,
            observers: vec![],
            flows: 1,
            packets: 1,
            bytes: 1,
            start_ms: 0,
            end_ms: 0,
        }
    }

    #[test]
    fn endpoints_and_services() {
        assert_eq!(conversation("web-01", 6).source(), "web-01");
        assert_eq!(conversation("", 6).source(), "10.0.0.9");
        assert_eq!(conversation("web-01", 6).service(), "TCP/5432");
        assert_eq!(conversation("web-01", 1).service(), "ICMP");
        assert_eq!(conversation("web-01", 89).service(), "proto 89");
    }

    #[tokio::test]
    async fn unreachable_server_is_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let filters = Filters {
            range: "all".into(),
            verdict: None,
            dataset: None,
            limit: 10,
        };
        let server = format!("http://127.0.0.1:{port}");
        let client = ApiClient::new(&server, filters, Duration::from_secs(2)).unwrap();
        match client.conversations().await {
            Err(FetchError::Unreachable { url, .. }) => assert_eq!(url, server),
            other => panic!("{other:?}"),
        }
    }
}
