//! The settled hours of hourly time series, kept between requests.

use std::collections::HashMap;

use crate::model::Point;
use crate::query::{Params, TimeWindow};

/// The buckets of hourly time series without filters (but the dataset),
/// per dataset and hour, with the flows stored in that hour when it was
/// counted. An hour's bucket costs a grouping of its conversations and of
/// their observation points (choosing the point to count each at), about
/// 1.5 s for a day of 30,000 conversations on ClickHouse 18.16; its flow
/// count per hour costs a read of `observed_1m` (a few rows per observer
/// and minute). So an hour is counted again only when its flow count has
/// changed (late or new flows, a deleted dataset or retention) or when it
/// ended less than `HourSeries::SETTLE_MS` ago (flows still arrive, and
/// the two tables are fed by two views of one insert).
#[derive(Debug, Default)]
pub struct HourSeries {
    buckets: HashMap<(Option<String>, u64), (u64, Option<Point>)>,
}

impl HourSeries {
    pub(super) const STEP_MS: u64 = 3_600_000;
    /// How long after its end an hour may still change.
    pub(super) const SETTLE_MS: u64 = 600_000;
    /// At most this many hours are kept (about 25 MB); past it, all are
    /// forgotten and counted again when asked for.
    pub(super) const MAX_HOURS: usize = 200_000;

    /// The whole hours of a series of `step_ms` over `window` with
    /// `params`' filters that can be answered hour by hour (hourly steps,
    /// no filter but the dataset), if any: the partial hours at the
    /// window's edges are counted on their own each time.
    pub(super) fn whole_hours(
        params: &Params,
        window: TimeWindow,
        step_ms: u64,
    ) -> Option<TimeWindow> {
        let inner = TimeWindow {
            from_ms: window.from_ms.div_ceil(Self::STEP_MS) * Self::STEP_MS,
            to_ms: window.to_ms / Self::STEP_MS * Self::STEP_MS,
        };
        let answers = step_ms == Self::STEP_MS
            && inner.from_ms < inner.to_ms
            && params.filters
                == crate::query::Filters {
                    dataset: params.filters.dataset.clone(),
                    ..Default::default()
                };
        answers.then_some(inner)
    }

    /// The hours of `counts` (`(t_ms, flows)`) not known or changed, or
    /// too recent at `now_ms`, in time order.
    pub(super) fn unsettled(
        &self,
        dataset: &Option<String>,
        counts: &[(u64, u64)],
        now_ms: u64,
    ) -> Vec<u64> {
        counts
            .iter()
            .filter(|(t, n)| {
                t + Self::STEP_MS + Self::SETTLE_MS > now_ms
                    || self.buckets.get(&(dataset.clone(), *t)).map(|(m, _)| m) != Some(n)
            })
            .map(|(t, _)| *t)
            .collect()
    }

    /// `hours` cut into runs of consecutive hours, each as a window.
    pub(super) fn runs(hours: &[u64]) -> Vec<TimeWindow> {
        let mut runs: Vec<TimeWindow> = Vec::new();
        for &t in hours {
            match runs.last_mut() {
                Some(run) if run.to_ms == t => run.to_ms = t + Self::STEP_MS,
                _ => runs.push(TimeWindow {
                    from_ms: t,
                    to_ms: t + Self::STEP_MS,
                }),
            }
        }
        runs
    }

    /// Keep `points` (counted now) for the hours of `counts`, then answer
    /// every hour of `counts` from what is kept.
    pub(super) fn settle(
        &mut self,
        dataset: &Option<String>,
        counts: &[(u64, u64)],
        counted: &[u64],
        points: &[Point],
    ) -> Vec<Point> {
        if self.buckets.len() + counted.len() > Self::MAX_HOURS {
            self.buckets.clear();
        }
        let mut fresh: HashMap<u64, Point> = points.iter().map(|p| (p.t_ms, *p)).collect();
        let mut answer = Vec::with_capacity(counts.len());
        for &(t, n) in counts {
            let key = (dataset.clone(), t);
            let point = if counted.binary_search(&t).is_ok() {
                let point = fresh.remove(&t);
                self.buckets.insert(key, (n, point));
                point
            } else {
                self.buckets.get(&key).and_then(|(_, p)| *p)
            };
            answer.extend(point);
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_counted_again_when_changed_or_recent() {
        let h = HourSeries::STEP_MS;
        let point = |t_ms, bytes| Point {
            t_ms,
            bytes,
            ..Point::default()
        };
        let lab = Some("lab".to_string());
        let mut hours = HourSeries::default();
        let counts = [(0, 5), (h, 7), (3 * h, 2)];
        let now = 10 * h;
        assert_eq!(hours.unsettled(&lab, &counts, now), [0, h, 3 * h]);
        assert_eq!(
            HourSeries::runs(&[0, h, 3 * h]),
            [
                TimeWindow {
                    from_ms: 0,
                    to_ms: 2 * h
                },
                TimeWindow {
                    from_ms: 3 * h,
                    to_ms: 4 * h
                }
            ]
        );
        let counted = [point(0, 50), point(h, 70), point(3 * h, 20)];
        let answer = hours.settle(&lab, &counts, &[0, h, 3 * h], &counted);
        assert_eq!(answer, counted);
        // Nothing changed: nothing to count, the same answer.
        assert!(hours.unsettled(&lab, &counts, now).is_empty());
        assert_eq!(hours.settle(&lab, &counts, &[], &[]), counted);
        // Another dataset is another series.
        assert_eq!(hours.unsettled(&None, &counts, now).len(), 3);
        // Late flows in the second hour, a new fourth hour; an hour that
        // ended less than SETTLE_MS ago is counted every time.
        let later = [(0, 5), (h, 8), (3 * h, 2), (4 * h, 1)];
        assert_eq!(hours.unsettled(&lab, &later, now), [h, 4 * h]);
        assert_eq!(
            hours.unsettled(&lab, &later, 5 * h + HourSeries::SETTLE_MS - 1),
            [h, 4 * h]
        );
        let answer = hours.settle(&lab, &later, &[h, 4 * h], &[point(h, 80), point(4 * h, 10)]);
        assert_eq!(
            answer,
            [
                point(0, 50),
                point(h, 80),
                point(3 * h, 20),
                point(4 * h, 10)
            ]
        );
        assert_eq!(
            hours.unsettled(&lab, &later, 5 * h + HourSeries::SETTLE_MS - 1),
            [4 * h]
        );
    }
}
