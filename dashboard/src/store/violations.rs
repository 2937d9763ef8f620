//! The violations list, newest first, from the window's newest slice of
//! flows that answers the page (see [`crate::sql::newest_in`]).

use super::{ClickHouseStore, StoreError};
use crate::model::{Violation, ViolationRow};
use crate::query::{Params, TimeWindow};
use crate::sql::{self, Resolution};

const HOUR_MS: u64 = 3_600_000;

/// How far back from the window's newest flow each slice tried reaches
/// (to the whole hour before): 10 minutes, an hour, 6 hours, a day, 4 days;
/// a page none of them answers is read from the whole window's flows.
const SLICES_MS: [u64; 5] = [600_000, HOUR_MS, 6 * HOUR_MS, 24 * HOUR_MS, 96 * HOUR_MS];

impl ClickHouseStore {
    /// The page of violations `params` asks for and how many there are in
    /// all (that count from the rollups).
    pub(super) async fn newest_violations(
        &self,
        params: &Params,
    ) -> Result<(Vec<Violation>, u64), StoreError> {
        let resolution = Resolution::for_window(params.window);
        let total: u64 = self
            .one(&sql::violation_count(&self.tables, params, resolution))
            .await?;
        let wanted = total.min(params.offset + params.limit);
        if params.offset >= total {
            return Ok((Vec::new(), total));
        }
        let rows = match self.page_in_a_slice(params, resolution, wanted).await? {
            Some(rows) => rows,
            None => {
                self.all::<ViolationRow>(&sql::violations(&self.tables, params, Resolution::Raw))
                    .await?
            }
        };
        Ok((rows.into_iter().map(Violation::from).collect(), total))
    }

    /// The page from the newest slice of the window that holds its `wanted`
    /// first conversations, each last seen there after every flow started
    /// before the slice ended; `None` when no slice shorter than the window
    /// does (or the page's keys would be too many to list).
    async fn page_in_a_slice(
        &self,
        params: &Params,
        resolution: Resolution,
        wanted: u64,
    ) -> Result<Option<Vec<ViolationRow>>, StoreError> {
        if !self.violation_slices || wanted == 0 || wanted > sql::MAX_PAGE_KEYS {
            return Ok(None);
        }
        let dataset = params.filters.dataset.as_deref();
        let (from_ms, to_ms) = params
            .window
            .map_or((0, sql::OPEN_END_MS), |w| (w.from_ms, w.to_ms));
        let end: u64 = self.one(&sql::stored_end(&self.tables, dataset)).await?;
        let newest = to_ms.min(end.saturating_add(1));
        for span in SLICES_MS {
            let since = newest.saturating_sub(span) / HOUR_MS * HOUR_MS;
            if since <= from_ms {
                return Ok(None);
            }
            let slice = TimeWindow {
                from_ms: since,
                to_ms,
            };
            let bound = sql::ended_by(&self.tables, from_ms, since, dataset);
            let newest_in = sql::newest_in(&self.tables, params, slice, sql::MAX_PAGE_KEYS + 1);
            let (bound, found) =
                tokio::try_join!(self.one::<u64>(&bound), self.all::<(u64, u64)>(&newest_in),)?;
            // Last seen after every earlier flow ended: exactly there, and
            // above every conversation the slice misses.
            let exact: Vec<(u64, u64)> = found
                .into_iter()
                .take_while(|(_, last)| *last > bound)
                .collect();
            let Some(&(_, boundary)) = usize::try_from(wanted - 1).ok().and_then(|i| exact.get(i))
            else {
                continue;
            };
            // The page's candidates: down to the last one wanted, with
            // those tied with it (the tie is broken by the window's bytes).
            let keys: Vec<u64> = exact
                .iter()
                .take_while(|(_, last)| *last >= boundary)
                .map(|(key, _)| *key)
                .collect();
            if keys.len() as u64 > sql::MAX_PAGE_KEYS {
                return Ok(None);
            }
            // The window's partial first hour from raw flows too, so a
            // conversation first seen there is so to the millisecond (in
            // its whole hours, `conversations_seen` says when).
            let whole_from = from_ms.div_ceil(HOUR_MS) * HOUR_MS;
            let mut parts = Vec::new();
            if from_ms < whole_from {
                parts.push((
                    Resolution::Raw,
                    TimeWindow {
                        from_ms,
                        to_ms: whole_from,
                    },
                ));
            }
            parts.extend(sql::split(
                TimeWindow {
                    from_ms: whole_from,
                    to_ms: since,
                },
                resolution,
            ));
            parts.push((Resolution::Raw, slice));
            let page = sql::violations_of(&self.tables, params, &parts, &keys);
            // First seen from `conversations_seen` where the rollups read
            // give only their buckets' bounds (last seen is the slice's):
            // to the millisecond.
            let (mut rows, seen) = self
                .all_with_seen::<ViolationRow>(&page, params.window, dataset, &keys)
                .await?;
            for row in &mut rows {
                (row.first_ms, row.last_ms) = sql::seen_times(
                    params.window,
                    (row.first_ms, row.last_ms),
                    seen.get(&row.conv_hash).copied(),
                );
            }
            return Ok(Some(rows));
        }
        Ok(None)
    }
}
