//! Fetching one observation point's frames from its exporter's evidence
//! server, and why a point's packets are missing.

use std::time::Duration;

use axum::body::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{Fetch, PacketsConfig, Point};

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
    pub(super) fn line(&self) -> String {
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
pub(super) struct ExporterError {
    error: String,
    oldest: Option<String>,
}

/// One exporter's answer being read: its point and its chunks.
pub(super) struct Input {
    pub(super) point: Point,
    pub(super) url: String,
    pub(super) chunks: mpsc::Receiver<Result<Bytes, String>>,
}

/// Ask `url` for `fetch`'s frames; on success a task feeds its body's
/// chunks to the returned receiver.
pub(super) async fn start_fetch(
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
