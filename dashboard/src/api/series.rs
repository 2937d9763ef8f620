//! `GET /api/v1/timeseries`: the step for a window and the series.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use eastwest_api::answers::TimeseriesResponse;

use super::{list, params, AppState, RawQuery};
use crate::doc;
use crate::error::ApiError;
use crate::model::Point;
use crate::query::{self, allowed, TimeWindow};
use crate::sql::Resolution;
use crate::store::Store;

/// Steps a time series may use, finest first.
pub(super) const STEPS_MS: [u64; 6] = [60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000];

/// Most points a time series returns (about).
pub(super) const MAX_POINTS: u64 = 360;

/// Default of `api.timeseries_max_minute_rows`: most `flows_1m` rows a
/// time series with a step under an hour may read; past it the step
/// becomes hourly (read from `flows_1h`). Each of those
/// rows is grouped per bucket and conversation; on a 2-core machine with
/// ClickHouse 18.16 about a million rows is a second, and a busy day of
/// 10M flows leaves ~10M minute rows (each conversation has a flow every
/// few minutes, so the minute rollup merges little).
pub const DEFAULT_MAX_MINUTE_ROWS: u64 = 1_000_000;

/// The finest step of at least `min_step_ms` giving at most
/// `MAX_POINTS` over `span_ms` (whole days past the table).
pub fn step_for(span_ms: u64, min_step_ms: u64) -> u64 {
    STEPS_MS
        .into_iter()
        .find(|step| *step >= min_step_ms && span_ms.div_ceil(*step) <= MAX_POINTS)
        .unwrap_or_else(|| span_ms.div_ceil(MAX_POINTS).div_ceil(86_400_000).max(1) * 86_400_000)
}

#[utoipa::path(
    get,
    path = "/timeseries",
    summary = "bytes, flows and violations over time",
    params(query::doc::Timeseries),
    responses(
        (status = 200, description = "OK", content((TimeseriesResponse = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    )
)]
pub(super) async fn timeseries<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::TIMESERIES)?;
    let window = match p.window {
        Some(window) => Some(window),
        None => state
            .store
            .time_span(p.filters.dataset.as_deref())
            .await?
            .map(|(first, last)| TimeWindow {
                from_ms: first,
                to_ms: last + 1,
            }),
    };
    let Some(window) = window else {
        // All time over an empty dataset.
        let body = TimeseriesResponse {
            from_ms: None,
            to_ms: None,
            resolution: Resolution::Hour.as_str().into(),
            step_ms: STEPS_MS[0],
            points: Vec::new(),
        };
        return Ok(list(p.format, "timeseries", &body, &body.points));
    };
    let span_ms = window.to_ms - window.from_ms;
    let mut step_ms = step_for(span_ms, 0);
    // A step under an hour reads flows_1m: if the window holds too many of
    // its rows, an hourly step answers from flows_1h in time instead.
    if step_ms < Resolution::Hour.step_ms() {
        let rows = state
            .store
            .rows_in(
                Resolution::for_step(step_ms),
                window,
                p.filters.dataset.as_deref(),
                state.timeseries_max_minute_rows.saturating_add(1),
            )
            .await?;
        if rows > state.timeseries_max_minute_rows {
            step_ms = step_for(span_ms, Resolution::Hour.step_ms());
        }
    }
    // Buckets on multiples of the step; an all-time window is widened to them.
    let grid = TimeWindow {
        from_ms: window.from_ms / step_ms * step_ms,
        to_ms: window.to_ms.div_ceil(step_ms) * step_ms,
    };
    let query_window = if p.window.is_some() { window } else { grid };
    let (found, resolution) = state.store.timeseries(&p, query_window, step_ms).await?;
    let found: BTreeMap<u64, Point> = found.into_iter().map(|pt| (pt.t_ms, pt)).collect();
    let points = (grid.from_ms..grid.to_ms)
        .step_by(usize::try_from(step_ms).unwrap_or(usize::MAX))
        .map(|t_ms| {
            found.get(&t_ms).copied().unwrap_or(Point {
                t_ms,
                ..Point::default()
            })
        })
        .collect();
    let body = TimeseriesResponse {
        from_ms: Some(query_window.from_ms),
        to_ms: Some(query_window.to_ms),
        resolution: resolution.as_str().into(),
        step_ms,
        points,
    };
    Ok(list(p.format, "timeseries", &body, &body.points))
}
