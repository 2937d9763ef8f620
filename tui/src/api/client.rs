//! The [`Client`] trait and its HTTP implementation, [`HttpClient`];
//! saving a conversation's packets ([`Download`]).

use std::future::Future;
use std::time::Duration;

use eastwest_core::error::Chain;

use super::request::Takes;
use eastwest_api::answers::{ConversationsResponse, HostResponse, ViolationsResponse, VmResponse};

use super::{Conversation, ConversationsPage, Query, Request, Response};

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
        let message = serde_json::from_str::<eastwest_api::ErrorBody>(&text)
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
        Ok(self
            .json::<ConversationsResponse>(&path, &params)
            .await?
            .into())
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
            Request::Conversations(_) | Request::ZonePair { .. } => Response::Conversations(
                self.json::<ConversationsResponse>(path, params)
                    .await?
                    .into(),
            ),
            Request::Violations(_) => {
                Response::Violations(self.json::<ViolationsResponse>(path, params).await?.into())
            }
            Request::ZoneMatrix(_) => Response::ZoneMatrix(self.json(path, params).await?),
            Request::Hosts(_) => Response::Hosts(self.json(path, params).await?),
            Request::Host { .. } => {
                Response::Host(self.json::<HostResponse>(path, params).await?.into())
            }
            Request::Vm { .. } => Response::Vm(self.json::<VmResponse>(path, params).await?.into()),
            Request::Timeseries(_) => Response::Timeseries(self.json(path, params).await?),
            Request::Exporters => Response::Exporters(self.json(path, params).await?),
            Request::Policy => Response::Policy(self.json(path, params).await?),
        })
    }
}
