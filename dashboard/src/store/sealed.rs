//! Sealed time-series buckets: each bucket of an unfiltered series (no
//! filter but the dataset) counted once it is settled and kept in
//! `series_buckets`, so a series over whole settled buckets reads a row
//! per bucket; the rest (unsealed buckets, the window's partial edge
//! buckets, filtered series) is counted live.
//!
//! A bucket costs a grouping of its conversations and of their
//! observation points (choosing the point to count each at), about 1.5 s
//! per hour-bucket-day of 30,000 conversations on ClickHouse 18.16; its
//! flow count costs a read of `observed_1m` (a few rows per observer and
//! minute). So a sealed row keeps the flows stored in its bucket when it
//! was counted (`stored_flows`), and is used only while that is still the
//! bucket's flow count: late flows, a deleted dataset or retention make
//! the bucket counted live again, and sealed again in the background.
//!
//! Who seals: the dashboard ([`ClickHouseStore::seal_series`], run by
//! [`ClickHouseStore::seal_series_in_background`]), which owns the counting
//! SQL. Several dashboards on one database each seal: their rows are the
//! same answer, merged by the `ReplacingMergeTree` and told apart at read
//! by the flow count, never added up.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use eastwest_clickhouse::schema::{
    date_of_ms, partitions, SeriesBucketRow, FLOWS_1M, OBSERVED_1M_TABLE, SERIES_BUCKETS_TABLE,
};
use serde::Deserialize;

use super::{ClickHouseStore, StoreError};
use crate::model::Point;
use crate::query::{Filters, TimeWindow};
use crate::sql::{self, Resolution};

/// The steps sealed: every step the API's `step_for` gives windows of a
/// day to 360 days (longer ones are counted live): 5 and 15 minutes (read
/// from `flows_1m`), 1 hour, 6 hours (`flows_1h`) and 1 day (`flows_1d`).
/// Each is a multiple of the first.
pub const STEPS_MS: [u64; 5] = [300_000, 900_000, 3_600_000, 21_600_000, 86_400_000];

/// How long after its end a bucket may still change (flows still arrive,
/// and `observed_1m` and the rollups are fed by two views of one insert).
pub const SETTLE_MS: u64 = 600_000;

const HOUR_MS: u64 = 3_600_000;

/// One sealed row as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clickhouse::Row, Deserialize)]
pub(super) struct SealedRow {
    t_ms: u64,
    stored_flows: u64,
    flows: u64,
    packets: u64,
    bytes: u64,
    violations: u64,
    violation_bytes: u64,
}

/// Whether a series with `filters` and `step_ms` can be answered from
/// sealed buckets: no filter but the dataset, a sealed step.
pub(super) fn sealable(filters: &Filters, step_ms: u64) -> bool {
    STEPS_MS.contains(&step_ms)
        && *filters
            == Filters {
                dataset: filters.dataset.clone(),
                ..Filters::default()
            }
}

/// The whole buckets of `step_ms` in `window`, if any (the partial ones
/// at its edges are counted live).
pub(super) fn whole_buckets(window: TimeWindow, step_ms: u64) -> Option<TimeWindow> {
    let inner = TimeWindow {
        from_ms: window.from_ms.div_ceil(step_ms) * step_ms,
        to_ms: window.to_ms / step_ms * step_ms,
    };
    (inner.from_ms < inner.to_ms).then_some(inner)
}

/// Steps under an hour are counted from `flows_1m`, which retention may
/// drop before `observed_1m` and `series_buckets` (they follow
/// `flows_1h`): their sealed buckets count only on days `flows_1m` still
/// holds.
fn minute_step(step_ms: u64) -> bool {
    step_ms < HOUR_MS
}

/// `buckets` (bucket starts of `step_ms`, ascending) cut into runs of
/// consecutive buckets, each at most `max_ms` long, as windows.
pub(super) fn runs(buckets: &[u64], step_ms: u64, max_ms: u64) -> Vec<TimeWindow> {
    let mut runs: Vec<TimeWindow> = Vec::new();
    for &t in buckets {
        match runs.last_mut() {
            Some(run) if run.to_ms == t && run.to_ms + step_ms - run.from_ms <= max_ms => {
                run.to_ms = t + step_ms;
            }
            _ => runs.push(TimeWindow {
                from_ms: t,
                to_ms: t + step_ms,
            }),
        }
    }
    runs
}

/// The points of the buckets `counts` (`t_ms` → flows stored now) that a
/// sealed row of `rows` answers (same flow count, `usable` bucket), and
/// the buckets left to count live, in time order.
pub(super) fn answer(
    counts: &BTreeMap<u64, u64>,
    rows: &[SealedRow],
    usable: impl Fn(u64) -> bool,
) -> (Vec<Point>, Vec<u64>) {
    let sealed: HashMap<(u64, u64), &SealedRow> =
        rows.iter().map(|r| ((r.t_ms, r.stored_flows), r)).collect();
    let mut points = Vec::new();
    let mut live = Vec::new();
    for (&t, &n) in counts {
        match sealed.get(&(t, n)) {
            Some(r) if usable(t) => points.push(Point {
                t_ms: t,
                flows: r.flows,
                packets: r.packets,
                bytes: r.bytes,
                violations: r.violations,
                violation_bytes: r.violation_bytes,
            }),
            _ => live.push(t),
        }
    }
    (points, live)
}

/// A bucket to seal: its start, the flows stored in it, and the rows to
/// write (`every`, `dataset`): the series' own, and for the series over
/// every dataset one per dataset with flows in the bucket.
pub(super) type Bucket = (u64, u64, Vec<(u8, String)>);

/// Buckets to seal, of one series, counted in one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Run {
    /// The series' dataset (`None`: every dataset).
    pub dataset: Option<String>,
    pub step_ms: u64,
    pub window: TimeWindow,
    pub buckets: Vec<Bucket>,
}

/// The longest run counted in one statement: under the API's query
/// timeout on a busy day (a grouping per conversation and bucket).
fn max_run_ms(step_ms: u64) -> u64 {
    match step_ms {
        s if minute_step(s) => 3 * HOUR_MS,
        HOUR_MS => 24 * HOUR_MS,
        _ => 7 * 24 * HOUR_MS,
    }
}

/// What is left to seal at `now_ms`, given the flows stored per dataset
/// and 5-minute bucket (`counts`: `(dataset, t_ms, flows)`), the sealed
/// rows (`sealed`: `(every, dataset, step_ms, t_ms, stored_flows)`) and
/// the `(dataset, day)`s `flows_1m` no longer holds (`gaps`): every
/// settled bucket of every series (each dataset, and every dataset
/// together) whose flow count no sealed row has, in runs; the hourly and
/// coarser steps first (they answer the long windows; the minute steps
/// cost the most), newest first.
pub(super) fn plan(
    counts: &[(String, u64, u64)],
    sealed: &[(u8, String, u64, u64, u64)],
    gaps: &HashSet<(String, u16)>,
    now_ms: u64,
) -> Vec<Run> {
    type Buckets = BTreeMap<u64, (u64, BTreeSet<String>)>;
    let mut series: BTreeMap<(Option<String>, u64), Buckets> = BTreeMap::new();
    for (dataset, t, n) in counts {
        for step in STEPS_MS {
            let bucket = t / step * step;
            for scope in [None, Some(dataset.clone())] {
                let entry = series
                    .entry((scope, step))
                    .or_default()
                    .entry(bucket)
                    .or_default();
                entry.0 += n;
                entry.1.insert(dataset.clone());
            }
        }
    }
    let done: HashSet<(Option<String>, u64, u64, u64)> = sealed
        .iter()
        .map(|(every, dataset, step, t, n)| {
            let scope = (*every == 0).then(|| dataset.clone());
            (scope, *step, *t, *n)
        })
        .collect();
    let mut pending: BTreeMap<(Option<String>, u64), Vec<Bucket>> = BTreeMap::new();
    for ((scope, step), buckets) in series {
        let list = buckets
            .into_iter()
            .filter(|(t, (n, datasets))| {
                t + step + SETTLE_MS <= now_ms
                    && !done.contains(&(scope.clone(), step, *t, *n))
                    && !(minute_step(step)
                        && datasets
                            .iter()
                            .any(|d| gaps.contains(&(d.clone(), date_of_ms(*t)))))
            })
            .map(|(t, (n, datasets))| {
                let rows = match &scope {
                    Some(dataset) => vec![(0, dataset.clone())],
                    None => datasets.into_iter().map(|d| (1, d)).collect(),
                };
                (t, n, rows)
            })
            .collect();
        pending.insert((scope, step), list);
    }
    // A bucket with the flows of one dataset is the same answer in that
    // dataset's series and in the series over every dataset: counted once.
    for step in STEPS_MS {
        let Some(mut every) = pending.remove(&(None, step)) else {
            continue;
        };
        every.retain(|(t, n, rows)| {
            let [(_, dataset)] = rows.as_slice() else {
                return true;
            };
            let Some(own) = pending.get_mut(&(Some(dataset.clone()), step)) else {
                return true;
            };
            match own.binary_search_by_key(t, |(t, _, _)| *t) {
                Ok(i) if own[i].1 == *n => {
                    own[i].2.push((1, dataset.clone()));
                    false
                }
                _ => true,
            }
        });
        pending.insert((None, step), every);
    }
    let mut runs = Vec::new();
    for ((scope, step), list) in pending {
        let starts: Vec<u64> = list.iter().map(|(t, _, _)| *t).collect();
        let mut list = list.into_iter().peekable();
        for window in runs_of(&starts, step) {
            let mut buckets = Vec::new();
            while let Some(bucket) = list.next_if(|(t, _, _)| *t < window.to_ms) {
                buckets.push(bucket);
            }
            runs.push(Run {
                dataset: scope.clone(),
                step_ms: step,
                window,
                buckets,
            });
        }
    }
    runs.sort_by_key(|r| (minute_step(r.step_ms), Reverse(r.window.to_ms), r.step_ms));
    runs
}

/// [`runs`] of at most [`max_run_ms`].
fn runs_of(starts: &[u64], step_ms: u64) -> Vec<TimeWindow> {
    runs(starts, step_ms, max_run_ms(step_ms))
}

/// The rows sealing `run`, counted as `points` at `now_ms` (a bucket
/// without a point, no conversation counted, is sealed as zeros).
pub(super) fn sealed_rows(run: &Run, points: &[Point], now_ms: u64) -> Vec<SeriesBucketRow> {
    let points: HashMap<u64, &Point> = points.iter().map(|p| (p.t_ms, p)).collect();
    let mut rows = Vec::new();
    for (t, n, owners) in &run.buckets {
        let point = points.get(t).copied().copied().unwrap_or_default();
        for (every, dataset) in owners {
            rows.push(SeriesBucketRow {
                date: date_of_ms(*t),
                dataset: dataset.clone(),
                every: *every,
                step_ms: run.step_ms,
                t_ms: *t,
                stored_flows: *n,
                flows: point.flows,
                packets: point.packets,
                bytes: point.bytes,
                violations: point.violations,
                violation_bytes: point.violation_bytes,
                sealed_ms: now_ms,
            });
        }
    }
    rows
}

/// What marks the sealing's statements in the server's query log (told
/// apart from the requests' there, e.g. by scripts/bench-dashboard).
pub const SEALING_MARK: &str = "/* series sealing */";

/// `sql` marked as the sealing's.
fn sealing(sql: sql::Sql) -> sql::Sql {
    sql::Sql {
        text: format!("{SEALING_MARK} {}", sql.text),
        args: sql.args,
    }
}

impl ClickHouseStore {
    /// The series of `step_ms` over `window` with `filters`, counted live.
    pub(super) async fn live_series(
        &self,
        window: TimeWindow,
        filters: &Filters,
        step_ms: u64,
    ) -> Result<Vec<Point>, StoreError> {
        let resolution = Resolution::for_step(step_ms);
        self.all::<Point>(&sql::timeseries(
            &self.tables,
            resolution,
            window,
            filters,
            step_ms,
        ))
        .await
    }

    /// A [`sealable`] series: its whole buckets from `series_buckets`
    /// where sealed and still current, the rest live.
    pub(super) async fn sealed_series(
        &self,
        window: TimeWindow,
        filters: &Filters,
        step_ms: u64,
    ) -> Result<Vec<Point>, StoreError> {
        let Some(inner) = whole_buckets(window, step_ms) else {
            return self.live_series(window, filters, step_ms).await;
        };
        let dataset = filters.dataset.as_deref();
        // The partial buckets at either end, counted live, side by side.
        let edge = |from_ms: u64, to_ms: u64| async move {
            if from_ms < to_ms {
                self.live_series(TimeWindow { from_ms, to_ms }, filters, step_ms)
                    .await
            } else {
                Ok(Vec::new())
            }
        };
        let edges = async {
            let (first, last) = tokio::try_join!(
                edge(window.from_ms, inner.from_ms),
                edge(inner.to_ms, window.to_ms)
            )?;
            Ok::<_, StoreError>(first.into_iter().chain(last).collect::<Vec<_>>())
        };
        let gaps = async {
            if minute_step(step_ms) {
                self.minute_gaps().await
            } else {
                Ok(HashSet::new())
            }
        };
        let counts = sql::bucket_counts(&self.tables, Some(inner), dataset, step_ms);
        let rows = sql::sealed_buckets(&self.tables, inner, dataset, step_ms);
        let (edges, counts, rows, gaps) = tokio::try_join!(
            edges,
            self.all::<(String, u64, u64)>(&counts),
            self.all::<SealedRow>(&rows),
            gaps,
        )?;
        let mut totals: BTreeMap<u64, u64> = BTreeMap::new();
        let mut gapped: HashSet<u64> = HashSet::new();
        for (d, t, n) in counts {
            *totals.entry(t).or_default() += n;
            if gaps.contains(&(d, date_of_ms(t))) {
                gapped.insert(t);
            }
        }
        let (mut points, live) = answer(&totals, &rows, |t| !gapped.contains(&t));
        for run in runs(&live, step_ms, u64::MAX) {
            points.extend(self.live_series(run, filters, step_ms).await?);
        }
        points.extend(edges);
        points.sort_by_key(|p| p.t_ms);
        Ok(points)
    }

    /// The `(dataset, day)`s `observed_1m` holds and `flows_1m` does not
    /// (dropped by retention before the hourly tables).
    async fn minute_gaps(&self) -> Result<HashSet<(String, u16)>, StoreError> {
        let mut observed = HashSet::new();
        let mut minute = HashSet::new();
        for (name, table) in self.layout.partitioned_tables() {
            let into = match name {
                n if n == OBSERVED_1M_TABLE => &mut observed,
                n if n == FLOWS_1M.table => &mut minute,
                _ => continue,
            };
            let listed = self
                .with_timeout(partitions::list(&self.client, &self.layout, &table))
                .await?;
            into.extend(listed.into_iter().map(|p| (p.dataset, p.day)));
        }
        Ok(observed.difference(&minute).cloned().collect())
    }

    /// Seal every settled bucket not sealed at its current flow count, as
    /// of `now_ms` (hourly and coarser steps first, newest first); how
    /// many buckets were sealed. A run that fails (a timeout) is logged
    /// and left for the next call.
    pub async fn seal_series(&self, now_ms: u64) -> Result<usize, StoreError> {
        // The flow counts first: a bucket that gets flows while it is
        // counted is sealed at the older count, which then no longer
        // matches, never the other way round.
        let counts = sealing(sql::bucket_counts(&self.tables, None, None, STEPS_MS[0]));
        let sealed = sealing(sql::sealed_index(&self.tables));
        let (counts, sealed, gaps) = tokio::try_join!(
            self.all::<(String, u64, u64)>(&counts),
            self.all::<(u8, String, u64, u64, u64)>(&sealed),
            self.minute_gaps(),
        )?;
        let mut done = 0;
        for run in plan(&counts, &sealed, &gaps, now_ms) {
            let filters = Filters {
                dataset: run.dataset.clone(),
                ..Filters::default()
            };
            let sealed = async {
                let count = sql::timeseries(
                    &self.tables,
                    Resolution::for_step(run.step_ms),
                    run.window,
                    &filters,
                    run.step_ms,
                );
                let points = self.all::<Point>(&sealing(count)).await?;
                let rows = sealed_rows(&run, &points, now_ms);
                self.with_timeout(async {
                    let mut insert = self
                        .client
                        .insert::<SeriesBucketRow>(SERIES_BUCKETS_TABLE)
                        .await?;
                    for row in &rows {
                        insert.write(row).await?;
                    }
                    insert.end().await
                })
                .await
            };
            match sealed.await {
                Ok(()) => done += run.buckets.len(),
                Err(err) => tracing::warn!(
                    dataset = run.dataset.as_deref().unwrap_or("*"),
                    step_ms = run.step_ms,
                    from_ms = run.window.from_ms,
                    to_ms = run.window.to_ms,
                    "sealing series buckets failed: {err}"
                ),
            }
        }
        Ok(done)
    }

    /// [`Self::seal_series`] again and again: at once while it seals
    /// something, else every `interval`. Each time it catches up it logs
    /// `series buckets: every settled bucket sealed` with how many it
    /// sealed and how long that took.
    pub async fn seal_series_in_background(self, interval: Duration) {
        let mut since = Instant::now();
        let mut sealed = 0;
        let mut caught_up = false;
        loop {
            match self.seal_series(eastwest_core::clock::now_ms()).await {
                Ok(0) => {
                    if !caught_up {
                        tracing::info!(
                            buckets = sealed,
                            seconds = since.elapsed().as_secs_f64(),
                            "series buckets: every settled bucket sealed"
                        );
                        caught_up = true;
                    }
                }
                Ok(n) => {
                    if caught_up {
                        since = Instant::now();
                        sealed = 0;
                        caught_up = false;
                    }
                    sealed += n;
                    continue;
                }
                Err(err) => tracing::warn!("sealing series buckets: {err}"),
            }
            tokio::time::sleep(interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M5: u64 = 300_000;

    #[test]
    fn only_unfiltered_series_of_sealed_steps_are_sealable() {
        let lab = Filters {
            dataset: Some("lab".into()),
            ..Filters::default()
        };
        assert!(sealable(&lab, HOUR_MS));
        assert!(sealable(&Filters::default(), M5));
        assert!(!sealable(&lab, 60_000));
        let zone = Filters {
            zone: Some("dmz".into()),
            ..lab
        };
        assert!(!sealable(&zone, HOUR_MS));
        assert_eq!(
            whole_buckets(
                TimeWindow {
                    from_ms: 1,
                    to_ms: HOUR_MS
                },
                HOUR_MS
            ),
            None
        );
        assert_eq!(
            whole_buckets(
                TimeWindow {
                    from_ms: 1,
                    to_ms: 3 * HOUR_MS + 5
                },
                HOUR_MS
            ),
            Some(TimeWindow {
                from_ms: HOUR_MS,
                to_ms: 3 * HOUR_MS
            })
        );
    }

    #[test]
    fn runs_are_consecutive_and_bounded() {
        let w = |from_ms, to_ms| TimeWindow { from_ms, to_ms };
        assert_eq!(
            runs(&[0, M5, 2 * M5, 4 * M5], M5, u64::MAX),
            [w(0, 3 * M5), w(4 * M5, 5 * M5)]
        );
        assert_eq!(
            runs(&[0, M5, 2 * M5, 3 * M5, 4 * M5], M5, 2 * M5),
            [w(0, 2 * M5), w(2 * M5, 4 * M5), w(4 * M5, 5 * M5)]
        );
    }

    #[test]
    fn a_sealed_row_answers_only_at_its_flow_count() {
        let row = |t_ms, stored_flows, bytes| SealedRow {
            t_ms,
            stored_flows,
            flows: stored_flows,
            packets: 1,
            bytes,
            violations: 0,
            violation_bytes: 0,
        };
        let counts: BTreeMap<u64, u64> = [(0, 5), (M5, 7), (2 * M5, 2), (3 * M5, 4)].into();
        // Two copies of the first bucket, an older count of the second,
        // the third counted at its count, the fourth never sealed.
        let rows = [
            row(0, 5, 50),
            row(0, 5, 50),
            row(M5, 6, 60),
            row(2 * M5, 2, 20),
        ];
        let (points, live) = answer(&counts, &rows, |_| true);
        assert_eq!(
            points.iter().map(|p| (p.t_ms, p.bytes)).collect::<Vec<_>>(),
            [(0, 50), (2 * M5, 20)]
        );
        assert_eq!(live, [M5, 3 * M5]);
        // A bucket whose minute rollup is gone is counted live.
        let (points, live) = answer(&counts, &rows, |t| t != 0);
        assert_eq!(points.len(), 1);
        assert_eq!(live, [0, M5, 3 * M5]);
    }

    #[test]
    fn the_plan_seals_settled_buckets_of_every_series_hourly_first_newest_first() {
        let day = 24 * HOUR_MS;
        let counts = vec![
            ("lab".to_string(), 0, 3),
            ("lab".to_string(), M5, 1),
            ("other".to_string(), M5, 2),
            ("lab".to_string(), day + 2 * HOUR_MS, 4),
        ];
        let now = day + 3 * HOUR_MS + SETTLE_MS;
        let all = plan(&counts, &[], &HashSet::new(), now);
        // Per series (every dataset, lab, other) and step: 5 min: 3 + 3 + 1
        // buckets, 15 min and 1 h: 2 + 2 + 1; 6 h and 1 d: 1 + 1 + 1 (the
        // second day's buckets are not settled); a row more for each of the
        // 5 buckets of both datasets over every dataset.
        let rows: usize = all
            .iter()
            .flat_map(|r| &r.buckets)
            .map(|(_, _, rows)| rows.len())
            .sum();
        assert_eq!(rows, 7 + 5 + 5 + 3 + 3 + 5);
        // A bucket of lab alone is counted once for lab's series and the
        // series over every dataset: 4 of the latter's 9 buckets.
        let buckets: usize = all.iter().map(|r| r.buckets.len()).sum();
        assert_eq!(buckets, 7 + 5 + 5 + 3 + 3 - 4);
        let first = &all[0];
        assert!(first.step_ms >= HOUR_MS);
        assert_eq!(first.window.from_ms, day + 2 * HOUR_MS);
        assert_eq!(
            first.buckets,
            [(
                day + 2 * HOUR_MS,
                4,
                vec![(0, "lab".to_string()), (1, "lab".to_string())]
            )]
        );
        assert!(all
            .iter()
            .skip_while(|r| !minute_step(r.step_ms))
            .all(|r| minute_step(r.step_ms)));
        // The bucket of both datasets: 3 flows over every dataset, a row
        // for each.
        let every = all
            .iter()
            .find(|r| r.dataset.is_none() && r.step_ms == M5)
            .unwrap();
        assert_eq!(
            every.buckets,
            [(
                M5,
                3,
                vec![(1, "lab".to_string()), (1, "other".to_string())]
            )]
        );
        let point = Point {
            t_ms: M5,
            bytes: 9,
            ..Point::default()
        };
        let rows = sealed_rows(every, &[point], now);
        assert_eq!(rows.len(), 2);
        assert!(rows
            .iter()
            .all(|r| r.every == 1 && r.sealed_ms == now && r.bytes == 9));
        assert_eq!(rows[1].dataset, "other");
        let zeros = sealed_rows(first, &[], now);
        assert_eq!((zeros.len(), zeros[0].bytes, zeros[1].every), (2, 0, 1));
        // Sealed at its count: not again; at another count, or not settled:
        // again, or not yet; minute steps skip a day flows_1m lost.
        let sealed: Vec<(u8, String, u64, u64, u64)> = all
            .iter()
            .flat_map(|r| sealed_rows(r, &[], now))
            .map(|r| (r.every, r.dataset, r.step_ms, r.t_ms, r.stored_flows))
            .collect();
        assert!(plan(&counts, &sealed, &HashSet::new(), now).is_empty());
        let mut later = counts.clone();
        later[1].2 = 2;
        let again = plan(&later, &sealed, &HashSet::new(), now);
        assert!(again.iter().all(|r| r.dataset.as_deref() != Some("other")));
        assert_eq!(again.len(), 2 * 5);
        assert!(plan(&counts, &[], &HashSet::new(), HOUR_MS)
            .iter()
            .all(|r| minute_step(r.step_ms) && r.window.to_ms <= 3 * M5));
        let gaps = HashSet::from([("other".to_string(), 0)]);
        let gapped = plan(&counts, &[], &gaps, now);
        assert!(!gapped.iter().any(|r| minute_step(r.step_ms)
            && r.window.from_ms <= M5
            && M5 < r.window.to_ms
            && r.dataset.as_deref() != Some("lab")));
        assert!(gapped.len() < all.len());
    }
}
