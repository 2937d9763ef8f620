//! A page's conversations first and last seen, to the millisecond, from
//! `conversations_seen` (per conversation and hour: the first start and the
//! last end of its flows) instead of the rollups' bucket bounds.
//!
//! The table answers the whole hours of a window (those wholly inside
//! it, flows being windowed by their start). The rest of the window, its edges (or a
//! window without a whole hour), is answered by the parts the page
//! statement read: raw flows to the millisecond, the minute and 10-minute
//! rollups at their buckets' bounds. So a conversation seen in the
//! window's first partial hour is first seen at the start of its first
//! minute or 10-minute bucket there (to the millisecond in a part read
//! from raw flows), and likewise for its last seen in the last partial
//! hour; a conversation seen only in the whole hours is exact.

use crate::query::TimeWindow;

use super::source::{named, secs};
use super::statement::{keys_in, Arg, Sql, Tables};
use eastwest_clickhouse::schema::date_of_ms;

const HOUR_MS: u64 = 3_600_000;

/// The name of the statement [`seen`]'s join follows.
pub(super) const PAGE_ALIAS: &str = " AS s_page";

/// The whole hours of `window` (`None`: all time, every hour), or nothing
/// when it holds no whole hour.
fn whole_hours(window: Option<TimeWindow>) -> Option<Option<TimeWindow>> {
    match window {
        None => Some(None),
        Some(w) => {
            let inner = TimeWindow {
                from_ms: w.from_ms.div_ceil(HOUR_MS) * HOUR_MS,
                to_ms: w.to_ms / HOUR_MS * HOUR_MS,
            };
            (inner.from_ms < inner.to_ms).then_some(Some(inner))
        }
    }
}

/// What [`seen`] gives: the first and last seen expressions and the join
/// they read.
pub(super) struct Seen {
    pub first: Sql,
    pub last: Sql,
    pub join: Sql,
}

/// Real first and last seen for a statement giving each conversation's
/// hash (`hash`) and its bounds from the parts read (`start`, `end`, epoch
/// milliseconds): the two expressions, then the `ANY LEFT JOIN` of
/// `conversations_seen` to append after the statement (in parentheses,
/// named [`PAGE_ALIAS`]: current servers want every subquery of a join
/// named). `keys`: only those conversations are looked up; `None`: every
/// one of the window's whole hours (for a page read in one statement,
/// whose keys are not known before). `None` when the window holds no
/// whole hour (the parts' bounds are all there is).
pub(super) fn seen(
    tables: &Tables,
    window: Option<TimeWindow>,
    dataset: Option<&str>,
    keys: Option<&[u64]>,
    hash: &str,
    start: &str,
    end: &str,
) -> Option<Seen> {
    let inner = whole_hours(window)?;
    let mut first = Sql::default();
    let mut last = Sql::default();
    match inner {
        // Bounds from the edges (before the whole hours, after them) are
        // the parts' own; within them, the table's.
        Some(w) => {
            first.clause(
                &format!("if(s_found = 0 OR {start} < ?, {start}, s_first)"),
                [Arg::U64(w.from_ms)],
            );
            last.clause(
                &format!("if(s_found = 0, {end}, if({end} > ?, greatest({end}, s_last), s_last))"),
                [Arg::U64(w.to_ms)],
            );
        }
        None => {
            first.push(&format!("if(s_found = 0, {start}, s_first)"));
            last.push(&format!("if(s_found = 0, {end}, s_last)"));
        }
    }
    let join = lookup(tables, inner, dataset, keys, hash)
        .wrap(" ANY LEFT JOIN ", &format!(" AS s_seen USING {hash}"));
    Some(Seen { first, last, join })
}

/// Per conversation of `conversations_seen` (`keys`, or all) over the
/// whole hours `inner` (`None`: all time): its hash (named `hash`),
/// `s_first`, `s_last` and `s_found` (1).
fn lookup(
    tables: &Tables,
    inner: Option<TimeWindow>,
    dataset: Option<&str>,
    keys: Option<&[u64]>,
    hash: &str,
) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT {}, minMerge(first_ms) AS s_first, maxMerge(last_ms) AS s_last, \
         toUInt8(1) AS s_found FROM {} WHERE 1",
        named(hash, "conv_hash"),
        tables.conversations_seen
    ));
    if let Some(keys) = keys {
        sql = sql.then(keys_in("conv_hash", keys));
    }
    if let Some(w) = inner {
        sql.clause(
            " AND bucket >= toDateTime(?) AND bucket < toDateTime(?) \
             AND date >= toDate(?) AND date <= toDate(?)",
            [
                Arg::U32(secs(w.from_ms)),
                Arg::U32(secs(w.to_ms)),
                Arg::U16(date_of_ms(w.from_ms)),
                Arg::U16(date_of_ms(w.to_ms - 1)),
            ],
        );
    }
    if let Some(dataset) = dataset {
        sql.clause(" AND dataset = ?", [Arg::Text(dataset.to_string())]);
    }
    sql.push(&format!(" GROUP BY {hash}"));
    sql
}

/// The first and last seen of the conversations `keys` (a page read by its
/// keys) over the whole hours of `window`: rows of `(conv_hash, first_ms,
/// last_ms, 1)`, for [`seen_times`]; `None` when the window holds no whole
/// hour. A statement of its own, run beside the page's (joined to it,
/// it would nest the page statement once more, and 18.16 analyses each
/// nested `SELECT` again); on a day of 30,000 conversations it reads
/// 15,000-54,000 rows and takes about 12 ms of CPU for a page of 50.
pub fn seen_lookup(
    tables: &Tables,
    window: Option<TimeWindow>,
    dataset: Option<&str>,
    keys: &[u64],
) -> Option<Sql> {
    let inner = whole_hours(window)?;
    Some(lookup(tables, inner, dataset, Some(keys), "conv_hash"))
}

/// A conversation's first and last seen from its bounds in the parts read
/// (`start_ms`, `end_ms`) and, when [`seen_lookup`] found it, its times in
/// the window's whole hours (`seen`): the rule the SQL expressions of `seen()`
/// compute.
pub fn seen_times(
    window: Option<TimeWindow>,
    (start_ms, end_ms): (u64, u64),
    seen: Option<(u64, u64)>,
) -> (u64, u64) {
    let (Some(inner), Some((first, last))) = (whole_hours(window), seen) else {
        return (start_ms, end_ms);
    };
    match inner {
        None => (first, last),
        Some(w) => (
            if start_ms < w.from_ms {
                start_ms
            } else {
                first
            },
            if end_ms > w.to_ms {
                end_ms.max(last)
            } else {
                last
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_hours_are_read() {
        let h = HOUR_MS;
        let w = |from_ms, to_ms| Some(TimeWindow { from_ms, to_ms });
        assert_eq!(whole_hours(None), Some(None));
        assert_eq!(whole_hours(w(h + 1, 3 * h - 1)), None);
        assert_eq!(whole_hours(w(h + 1, 3 * h)), Some(w(2 * h, 3 * h)));
        assert_eq!(whole_hours(w(h, 2 * h)), Some(w(h, 2 * h)));
        assert_eq!(whole_hours(w(h + 1, 2 * h + 5)), None);
    }

    #[test]
    fn edges_keep_the_parts_bounds() {
        let h = HOUR_MS;
        let window = Some(TimeWindow {
            from_ms: h - 600_000,
            to_ms: 3 * h + 60_000,
        });
        // Seen in the whole hours only: the table's times.
        assert_eq!(
            seen_times(window, (h, 2 * h), Some((h + 5, 2 * h - 7))),
            (h + 5, 2 * h - 7)
        );
        // Seen at both edges too: their buckets' bounds there.
        assert_eq!(
            seen_times(
                window,
                (h - 600_000, 3 * h + 60_000),
                Some((h + 5, 2 * h - 7))
            ),
            (h - 600_000, 3 * h + 60_000)
        );
        // A flow of the last whole hour ending past it.
        assert_eq!(
            seen_times(window, (h, 3 * h), Some((h + 5, 3 * h + 9))),
            (h + 5, 3 * h + 9)
        );
        // Not in the table (the edges only), no whole hour, all time.
        assert_eq!(seen_times(window, (1, 2), None), (1, 2));
        let short = Some(TimeWindow {
            from_ms: 5,
            to_ms: h,
        });
        assert_eq!(seen_times(short, (1, 2), Some((3, 4))), (1, 2));
        assert_eq!(seen_times(None, (0, h), Some((3, 4))), (3, 4));
    }
}
