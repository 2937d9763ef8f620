//! Times, counts, byte sizes and rates as the screen shows them.

use std::time::{SystemTime, UNIX_EPOCH};

/// `HH:MM:SS UTC` of a time.
pub fn clock_utc(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    clock_of_ms(secs * 1000)
}

/// `HH:MM:SS UTC` of epoch milliseconds.
pub fn clock_of_ms(ms: u64) -> String {
    let secs = ms / 1000 % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `1 flow`, `2 flows`.
pub fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// `1.5 MiB`, `512 B`.
pub fn human_bytes(bytes: u64) -> String {
    // Lossy on purpose: a display value.
    #[allow(clippy::cast_precision_loss)]
    human(bytes as f64, "B")
}

/// `1.50 KiB/s`, `12 B/s`; `packets/s` likewise with `k`, `M`.
pub fn human_rate(value: f64, unit: &str) -> String {
    if unit == "B" {
        format!("{}/s", human(value, "B"))
    } else if value < 1000.0 {
        format!("{value:.1}/s")
    } else if value < 1_000_000.0 {
        format!("{:.1}k/s", value / 1000.0)
    } else {
        format!("{:.1}M/s", value / 1_000_000.0)
    }
}

fn human(mut value: f64, unit: &str) -> String {
    const PREFIXES: [&str; 6] = ["", "Ki", "Mi", "Gi", "Ti", "Pi"];
    if value < 1024.0 {
        return if value.fract() == 0.0 {
            format!("{value} {unit}")
        } else {
            format!("{value:.1} {unit}")
        };
    }
    let mut prefix = 0;
    while value >= 1024.0 && prefix < PREFIXES.len() - 1 {
        value /= 1024.0;
        prefix += 1;
    }
    if value < 10.0 {
        format!("{value:.2} {}{unit}", PREFIXES[prefix])
    } else {
        format!("{value:.1} {}{unit}", PREFIXES[prefix])
    }
}
