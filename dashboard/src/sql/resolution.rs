//! Which table answers a window: the rollups' resolutions and the cut of a
//! window into the parts each table answers exactly.

use crate::query::TimeWindow;
use eastwest_clickhouse::schema::{Rollup, FLOWS_10M, FLOWS_1D, FLOWS_1H, FLOWS_1M};

/// Which table answers: the coarsest whose buckets the window falls on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Raw,
    Minute,
    TenMinutes,
    Hour,
    Day,
}

/// The shortest window whose whole days are read from `flows_1d` (a week):
/// shorter windows read whole hours at most, so their conversations'
/// first and last seen stay within an hour.
pub const DAY_WINDOW_MS: u64 = 7 * 86_400_000;

impl Resolution {
    /// `"raw"`, `"1m"`, `"10m"`, `"1h"`, `"1d"` (the API's `resolution`
    /// field).
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Raw => "raw",
            Resolution::Minute => "1m",
            Resolution::TenMinutes => "10m",
            Resolution::Hour => "1h",
            Resolution::Day => "1d",
        }
    }

    pub(super) fn rollup(self) -> Option<Rollup> {
        match self {
            Resolution::Raw => None,
            Resolution::Minute => Some(FLOWS_1M),
            Resolution::TenMinutes => Some(FLOWS_10M),
            Resolution::Hour => Some(FLOWS_1H),
            Resolution::Day => Some(FLOWS_1D),
        }
    }

    /// Bucket length in ms (0 for raw).
    pub fn step_ms(self) -> u64 {
        self.rollup()
            .map(|r| u64::from(r.bucket_secs) * 1000)
            .unwrap_or(0)
    }

    /// The coarsest resolution whose bucket divides `step_ms` (a
    /// time-series step; 0 = no step: hours, see [`Resolution::for_window`]):
    /// the table `source` reads the whole buckets of a window from
    /// ([`split`] gives the finer tables the window's edges).
    pub fn for_step(step_ms: u64) -> Resolution {
        if step_ms == 0 {
            return Resolution::Hour;
        }
        [
            Resolution::Day,
            Resolution::Hour,
            Resolution::TenMinutes,
            Resolution::Minute,
        ]
        .into_iter()
        .find(|r| step_ms.is_multiple_of(r.step_ms()))
        .unwrap_or(Resolution::Raw)
    }

    /// The coarsest resolution a list over `window` (no step) reads: days
    /// from [`DAY_WINDOW_MS`] on, else hours (and hours for all time).
    pub fn for_window(window: Option<TimeWindow>) -> Resolution {
        match window {
            Some(w) if w.to_ms.saturating_sub(w.from_ms) >= DAY_WINDOW_MS => Resolution::Day,
            _ => Resolution::Hour,
        }
    }

    /// The next finer resolution (raw stays raw).
    pub(super) fn finer(self) -> Resolution {
        match self {
            Resolution::Day => Resolution::Hour,
            Resolution::Hour => Resolution::TenMinutes,
            Resolution::TenMinutes => Resolution::Minute,
            Resolution::Minute | Resolution::Raw => Resolution::Raw,
        }
    }

    /// The coarsest resolution [`split`] uses for `window` when it may go
    /// up to `self` (what the API reports as `resolution`).
    pub fn used_for(self, window: Option<TimeWindow>) -> Resolution {
        match window {
            None => self,
            Some(window) => split(window, self)
                .into_iter()
                .map(|(r, _)| r)
                .max_by_key(|r| r.step_ms())
                .unwrap_or(Resolution::Raw),
        }
    }
}

/// `window` cut into the parts each table answers exactly: the whole
/// buckets of `coarsest` in the middle, the edges from finer tables (whole
/// minutes from `flows_1m`, the rest from raw `flows`), in time order. A
/// 24-hour view ending at a minute reads 23 hours of `flows_1h`, under an
/// hour of `flows_1m` and no raw rows; rows are bucketed by the second the
/// flow started (`start`), the same instant raw parts compare `start_ms`
/// with, so the parts neither overlap nor leave gaps.
pub fn split(window: TimeWindow, coarsest: Resolution) -> Vec<(Resolution, TimeWindow)> {
    if window.from_ms >= window.to_ms {
        return Vec::new();
    }
    let bucket = coarsest.step_ms();
    if bucket == 0 {
        return vec![(Resolution::Raw, window)];
    }
    let inner = TimeWindow {
        from_ms: window.from_ms.div_ceil(bucket) * bucket,
        to_ms: window.to_ms / bucket * bucket,
    };
    if inner.from_ms >= inner.to_ms {
        return split(window, coarsest.finer());
    }
    let mut parts = split(
        TimeWindow {
            from_ms: window.from_ms,
            to_ms: inner.from_ms,
        },
        coarsest.finer(),
    );
    parts.push((coarsest, inner));
    parts.extend(split(
        TimeWindow {
            from_ms: inner.to_ms,
            to_ms: window.to_ms,
        },
        coarsest.finer(),
    ));
    parts
}
