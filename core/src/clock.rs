//! "Now": the one wall clock every part of eastwest compares stored times
//! with (retention, the dashboard's relative ranges, the alerter's lookback,
//! an exporter's idle time).
//!
//! `EASTWEST_CLOCK`, set to an RFC 3339 time, starts the process's clock at
//! that time: now is that time plus the time elapsed since the clock was
//! first read. Unset (the normal case), the clock is the system's. Tests set
//! it so that data of a fixed date is exactly as old as the test means,
//! whatever the day the test runs; a binary checks it at start-up with
//! [`from_env`] so a bad value is an error, never a silent fallback.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The environment variable that sets the clock.
pub const ENV: &str = "EASTWEST_CLOCK";

/// Where the clock started: (the epoch milliseconds it read then, when).
/// `None`: the system clock.
static START: OnceLock<Option<(u64, Instant)>> = OnceLock::new();

/// Read and check `EASTWEST_CLOCK` (once per process; later calls answer
/// the same). `Err` names the variable and the value.
pub fn from_env() -> Result<(), String> {
    let set = configured()?;
    START.get_or_init(|| set.map(|ms| (ms, Instant::now())));
    Ok(())
}

/// The time `EASTWEST_CLOCK` names, if set.
fn configured() -> Result<Option<u64>, String> {
    match std::env::var(ENV).ok().as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => crate::inventory::parse_time(text)
            .map(Some)
            .map_err(|err| format!("{ENV}: {err}")),
    }
}

/// Now, in epoch milliseconds (a bad `EASTWEST_CLOCK`, which [`from_env`]
/// refuses at start-up, reads as unset here).
pub fn now_ms() -> u64 {
    let start = START.get_or_init(|| configured().ok().flatten().map(|ms| (ms, Instant::now())));
    match start {
        Some((ms, at)) => ms.saturating_add(duration_ms(at.elapsed())),
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, duration_ms),
    }
}

/// Now, as a `SystemTime`.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(now_ms())
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_unless_set() {
        // The test binary does not set EASTWEST_CLOCK.
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, duration_ms);
        let now = now_ms();
        assert!(now.abs_diff(system) < 60_000, "{now} vs {system}");
        assert!(from_env().is_ok());
        assert!(now_ms() >= now);
    }
}
