//! The traffic views: conversations, the zone matrix, violations and
//! flow records.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::response::Response;
use eastwest_api::answers::{
    ConversationsResponse, FlowsResponse, MatrixResponse, ViolationsResponse,
};

use super::{list, params, AppState, RawQuery};
use crate::doc;
use crate::error::ApiError;
use crate::query::{self, allowed};
use crate::store::Store;

#[utoipa::path(
    get,
    path = "/conversations",
    summary = "bidirectional conversations, counted once",
    params(query::doc::Conversations),
    responses(
        (status = 200, description = "OK", content((ConversationsResponse = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    )
)]
pub(super) async fn conversations<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::CONVERSATIONS)?;
    let (page, resolution) = state.store.conversations(&p).await?;
    let body = ConversationsResponse {
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        resolution: resolution.as_str().into(),
        sort: p.sort.to_param(),
        limit: p.limit,
        offset: p.offset,
        totals: page.totals,
        conversations: page.conversations,
    };
    Ok(list(p.format, "conversations", &body, &body.conversations))
}

#[utoipa::path(
    get,
    path = "/zones/matrix",
    summary = "zone × zone traffic",
    params(query::doc::Matrix),
    responses(
        (status = 200, description = "OK", content((MatrixResponse = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    )
)]
pub(super) async fn matrix<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::MATRIX)?;
    let (cells, resolution) = state.store.matrix(&p).await?;
    let zones: BTreeSet<String> = cells
        .iter()
        .flat_map(|c| [c.client_zone.clone(), c.server_zone.clone()])
        .collect();
    let body = MatrixResponse {
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        resolution: resolution.as_str().into(),
        zones: zones.into_iter().collect(),
        cells,
    };
    Ok(list(p.format, "zone-matrix", &body, &body.cells))
}

#[utoipa::path(
    get,
    path = "/violations",
    summary = "violating conversations, newest first, with evidence",
    params(query::doc::Violations),
    responses(
        (status = 200, description = "OK", content((ViolationsResponse = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    )
)]
pub(super) async fn violations<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::VIOLATIONS)?;
    let (violations, total) = state.store.violations(&p).await?;
    let body = ViolationsResponse {
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        limit: p.limit,
        offset: p.offset,
        total,
        violations,
    };
    Ok(list(p.format, "violations", &body, &body.violations))
}

#[utoipa::path(
    get,
    path = "/flows",
    summary = "raw flow records, newest first",
    params(query::doc::Flows),
    responses(
        (status = 200, description = "OK", content((FlowsResponse = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    )
)]
pub(super) async fn flows<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::FLOWS)?;
    let (flows, total) = state.store.flows(&p).await?;
    let body = FlowsResponse {
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        limit: p.limit,
        offset: p.offset,
        total,
        flows,
    };
    Ok(list(p.format, "flows", &body, &body.flows))
}
