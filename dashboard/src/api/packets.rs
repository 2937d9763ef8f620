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
//! download broke off midway (and, to a client that sent `TE: trailers`,
//! in HTTP trailers of the same names with their final values), and as a JSON error (`sources`, with the
//! exporter's own reason and its store's oldest time) when none answered.
//! Only `responder` (and `admin`) tokens may download; every download is
//! logged with who asked, what and how many bytes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, TE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::api::{params, AppState, RawQuery};
use crate::auth::Responder;
use crate::doc;
use crate::error::ApiError;
use crate::query::{self, allowed};
use crate::store::Store;

mod fetch;
mod merge;
mod plan;
#[cfg(test)]
mod tests;

use fetch::{start_fetch, Input};
pub use fetch::{NoPackets, Unavailable};
use merge::Capture;
pub use plan::{comment, file_name, plan, Conversation, Fetch, Judgement, Plan, Point};

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

/// Whether the request's `TE` accepts trailers.
fn wants_trailers(headers: &HeaderMap) -> bool {
    headers.get_all(TE).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
    })
}

/// `GET /api/v1/packets`.
#[utoipa::path(
    get,
    path = "/packets",
    summary = "the packets of the matching conversations from every observation point that saw them, merged into one pcapng (role responder); see dashboard/README.md",
    params(query::doc::Packets),
    responses(
        (status = 200, description = "pcapng; x-eastwest-partial and x-eastwest-unavailable name observation points that could not serve (with TE: trailers, again as trailers with their final values)", content((inline(doc::Binary) = "application/vnd.tcpdump.pcapng"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "the token's role is below responder"),
        (status = 404, description = "no flow matches"),
        (status = 410, description = "every observation point's store has rotated past the window (JSON: error, sources)"),
        (status = 502, description = "no observation point could serve (JSON: error, sources)"),
    )
)]
pub async fn packets<S: Store>(
    State(state): State<AppState<S>>,
    Responder(who): Responder,
    headers: HeaderMap,
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
    let names = plan.names.clone();
    let who_name = who.name.clone();
    let what = file_name(&plan);
    let log_what = what.clone();
    let metrics = std::sync::Arc::clone(&state.metrics);
    let missing = !unavailable.is_empty();
    let done = move |merged: &std::io::Result<merge::Merged>| match merged {
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
        }
    };
    let capture = Capture {
        inputs,
        names,
        comment,
        max_bytes: config.max_bytes,
    };
    let mut response = capture.respond(&unavailable, wants_trailers(&headers), done);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.tcpdump.pcapng"),
    );
    headers.insert(
        CONTENT_DISPOSITION,
        header_value(&format!("attachment; filename=\"{what}\"")),
    );
    Ok(response)
}
