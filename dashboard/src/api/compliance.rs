//! `GET /api/v1/report`: the compliance report and its evidence links.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use eastwest_core::clock;

use super::{csv_response, AppState, RawQuery};
use crate::doc;
use crate::error::ApiError;
use crate::query::{self, allowed, epoch_ms, Format, Params};
use crate::report;
use crate::store::Store;

/// The report's violating conversations with their evidence links.
pub(super) async fn report_evidence<S: Store>(
    state: &AppState<S>,
    p: &Params,
) -> Result<Vec<report::ViolationEvidence>, ApiError> {
    let mut listed = p.clone();
    listed.limit = report::MAX_VIOLATING_CONVERSATIONS;
    listed.offset = 0;
    // From the rollups: the section's cost follows the conversations.
    let violations = state.store.violations_rolled_up(&listed).await?;
    // Evidence URLs come from the `exporters` table: no count of the flows
    // (an all-flows scan) when the collector has written none.
    let exporters = state.store.announced_exporters().await?;
    let statuses: Vec<_> = exporters
        .into_iter()
        .map(|e| e.status(0, u64::MAX))
        .collect();
    Ok(report::evidence(
        violations,
        &statuses,
        p.filters.dataset.as_deref(),
    ))
}

#[utoipa::path(
    get,
    path = "/report",
    summary = "compliance report for a period",
    params(query::doc::Report),
    responses(
        (status = 200, description = "the report", content(
            (report::Report = "application/json"),
            (String = "text/csv"),
            (String = "text/html"),
            (inline(doc::Binary) = "application/pdf"),
        )),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    )
)]
pub(super) async fn report<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let Query(raw) = raw?;
    raw.allow_only(&allowed::REPORT)?;
    let p = Params::parse_for(&raw, clock::now(), state.max_limit, true)?;
    let (data, resolution) = state.store.report(&p).await?;
    let (from_ms, to_ms) = (p.window.map(|w| w.from_ms), p.window.map(|w| w.to_ms));
    let coresidency = match &state.coresidency {
        None => None,
        // The report is still given when the policy files do not load; the
        // section then says "not available" (and the log why).
        Some(source) => match source.0.periods(from_ms, to_ms).await {
            Ok(periods) => Some(periods),
            Err(err) => {
                tracing::warn!(?err, "report: co-residency periods not available");
                None
            }
        },
    };
    let mut report = report::assemble(
        data,
        p.window.map(|w| w.from_ms),
        p.window.map(|w| w.to_ms),
        p.filters.dataset.clone(),
        resolution.as_str(),
        epoch_ms(clock::now()),
    );
    report.coresidency = coresidency;
    report.violating_conversations = report_evidence(&state, &p).await?;
    Ok(match p.format {
        Format::Json => Json(report).into_response(),
        Format::Csv => csv_response("compliance-report", report::to_csv(&report)),
        Format::Html => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            report::to_html(&report),
        )
            .into_response(),
        Format::Pdf => {
            let pdf = report::to_pdf(
                &report::to_html(&report),
                &state.pdf.program,
                state.pdf.timeout,
            )
            .await
            .map_err(|e| ApiError::RendererUnavailable(e.to_string()))?;
            (
                [
                    (header::CONTENT_TYPE, "application/pdf"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"compliance-report.pdf\"",
                    ),
                ],
                pdf,
            )
                .into_response()
        }
    })
}
