//! The severity a policy rule gives a violation, and the one order of
//! severities every component uses (the policy's check, the alerter's
//! `min_severity`, the TUI's sort): `info` < `low` < `medium` < `high` <
//! `critical`.
//!
//! The collector keeps a row's severity and verdict as enums and writes
//! their words ([`Severity::as_str`], [`VerdictKind::as_str`](crate::policy::VerdictKind::as_str)) to the
//! database.

use std::fmt;

/// A violation's severity; `Ord` runs from the least to the most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// Every severity's name, least severe first (as in the policy file and
/// the API).
pub const NAMES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

impl Severity {
    /// Every severity, least severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The severity of this name (exact, lower case); None for any other
    /// text, which callers rank below every severity.
    pub fn parse(name: &str) -> Option<Severity> {
        let i = NAMES.iter().position(|n| *n == name)?;
        Severity::ALL.get(i).copied()
    }

    /// The name in the policy file, the database and the API.
    pub fn as_str(self) -> &'static str {
        NAMES[self as usize]
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_order_agree() {
        for (i, severity) in Severity::ALL.into_iter().enumerate() {
            assert_eq!(severity.as_str(), NAMES[i]);
            assert_eq!(Severity::parse(NAMES[i]), Some(severity));
            assert_eq!(severity.to_string(), NAMES[i]);
        }
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info < Severity::Low);
        assert_eq!(Severity::parse("urgent"), None);
        assert_eq!(Severity::parse("High"), None);
        assert!(Severity::parse("urgent") < Severity::parse("info"));
    }
}
