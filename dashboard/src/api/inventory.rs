//! The inventory views: a VM, the hosts, the exporters and the datasets
//! (and a dataset's deletion).

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use eastwest_api::answers::{
    DatasetsResponse, ExportersResponse, HostResponse, HostsResponse, VmResponse,
};
use eastwest_clickhouse::schema::partitions;
use eastwest_core::clock;
use serde::{Deserialize, Serialize};

use super::{list, params, AppState, RawQuery};
use crate::auth::Admin;
use crate::doc;
use crate::error::ApiError;
use crate::model::HostSummary;
use crate::query::{self, allowed, epoch_ms};
use crate::store::Store;

#[utoipa::path(
    get,
    path = "/vms/{name}",
    summary = "a VM: placements and conversations",
    params(("name" = String, Path, description = "VM name"), query::doc::Vm),
    responses(
        (status = 200, description = "OK", content((VmResponse = "application/json"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
        (status = 404, response = doc::NotFound),
    )
)]
pub(super) async fn vm<S: Store>(
    State(state): State<AppState<S>>,
    Path(name): Path<String>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let mut p = params(&state, raw, &allowed::VM)?;
    p.filters.vm = Some(name.clone());
    let (placements, (page, resolution)) = tokio::try_join!(
        state.store.placements(&p, &name),
        state.store.conversations(&p)
    )?;
    if placements.is_empty() {
        return Err(ApiError::NotFoundWhat(format!(
            "vm {name:?} not seen in the window"
        )));
    }
    let zones: BTreeSet<String> = placements.iter().flat_map(|p| p.zones.clone()).collect();
    Ok(Json(VmResponse {
        name,
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        resolution: resolution.as_str().into(),
        zones: zones.into_iter().collect(),
        placements,
        totals: page.totals,
        conversations: page.conversations,
    })
    .into_response())
}

#[utoipa::path(
    get,
    path = "/hosts",
    summary = "hosts and their local traffic",
    params(query::doc::Hosts),
    responses(
        (status = 200, description = "OK", content((HostsResponse = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    )
)]
pub(super) async fn hosts<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::HOSTS)?;
    let (rows, vms, resolution) = state.store.hosts(&p).await?;
    let mut by_host: BTreeMap<String, HostSummary> = BTreeMap::new();
    for row in rows {
        by_host.insert(
            row.host.clone(),
            HostSummary {
                host: row.host,
                vms: 0,
                conversations: row.conversations,
                local_conversations: row.local_conversations,
                local_bytes: row.local_bytes,
                local_cross_zone: row.local_cross_zone,
                violations: row.violations,
                bytes: row.bytes,
                last_ms: row.last_ms,
            },
        );
    }
    for host in vms {
        if let Some(summary) = by_host.get_mut(&host.host) {
            summary.vms = u64::try_from(host.vms.len()).unwrap_or(u64::MAX);
        }
    }
    let body = HostsResponse {
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        resolution: resolution.as_str().into(),
        hosts: by_host.into_values().collect(),
    };
    Ok(list(p.format, "hosts", &body, &body.hosts))
}

#[utoipa::path(
    get,
    path = "/hosts/{name}",
    summary = "a host's locally switched conversations",
    params(("name" = String, Path, description = "host name"), query::doc::Host),
    responses(
        (status = 200, description = "OK", content((HostResponse = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
        (status = 404, response = doc::NotFound),
    )
)]
pub(super) async fn host<S: Store>(
    State(state): State<AppState<S>>,
    Path(name): Path<String>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let mut p = params(&state, raw, &allowed::HOST)?;
    p.filters.host = Some(name.clone());
    p.filters.same_host = Some(true);
    let (vms, (page, resolution)) = tokio::try_join!(
        state.store.host_vms(&p, &name),
        state.store.conversations(&p)
    )?;
    if vms.is_empty() && page.totals.conversations == 0 {
        return Err(ApiError::NotFoundWhat(format!(
            "host {name:?} not seen in the window"
        )));
    }
    let body = HostResponse {
        host: name,
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        resolution: resolution.as_str().into(),
        vms,
        totals: page.totals,
        conversations: page.conversations,
    };
    Ok(list(p.format, "host", &body, &body.conversations))
}

#[utoipa::path(
    get,
    path = "/exporters",
    summary = "mirror coverage per exporter",
    params(query::doc::Exporters),
    responses(
        (status = 200, description = "OK", content((ExportersResponse = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    )
)]
pub(super) async fn exporters<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::EXPORTERS)?;
    let now_ms = epoch_ms(clock::now());
    let (rows, source) = state.store.exporters().await?;
    let body = ExportersResponse {
        now_ms,
        stale_after_s: state.stale_after_ms / 1000,
        source,
        exporters: rows
            .into_iter()
            .map(|r| r.status(now_ms, state.stale_after_ms))
            .collect(),
    };
    Ok(list(p.format, "exporters", &body, &body.exporters))
}

#[utoipa::path(
    get,
    path = "/datasets",
    summary = "every dataset: the live data and each replayed capture, with its flows, time span, when it was stored and its size on disk",
    params(query::doc::Datasets),
    responses(
        (status = 200, description = "OK", content((DatasetsResponse = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    )
)]
pub(super) async fn datasets<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::DATASETS)?;
    let mut datasets = state.store.datasets().await?;
    for dataset in &mut datasets {
        dataset.live = partitions::is_live(&dataset.name, &state.live_dataset);
    }
    let body = DatasetsResponse { datasets };
    Ok(list(p.format, "datasets", &body, &body.datasets))
}

/// Body of `DELETE /api/v1/datasets/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatasetDeleted {
    pub name: String,
    /// Partitions dropped (one per table and day).
    pub partitions: usize,
}

#[utoipa::path(
    delete,
    path = "/datasets/{name}",
    summary = "delete a replayed dataset (admin): its flows, rollups and summary, from every table; the live dataset is refused (retention keeps it)",
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "deleted", body = DatasetDeleted),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "a viewer token (admin needed)"),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable),
    )
)]
pub(super) async fn delete_dataset<S: Store>(
    Admin(who): Admin,
    State(state): State<AppState<S>>,
    Path(name): Path<String>,
) -> Result<Json<DatasetDeleted>, ApiError> {
    if partitions::is_live(&name, &state.live_dataset) {
        return Err(ApiError::BadRequest(format!(
            "{name:?} is the live dataset: the collector's retention (flows_days) keeps it, \
             it is not deleted through the API"
        )));
    }
    let partitions = state.store.delete_dataset(&name).await?;
    if partitions == 0 {
        return Err(ApiError::NotFoundWhat(format!("no dataset {name:?}")));
    }
    tracing::info!(who = %who.name, dataset = %name, partitions, "datasets: deleted");
    Ok(Json(DatasetDeleted { name, partitions }))
}
