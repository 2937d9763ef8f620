//! The severity of a violation, and the verdict's words read back.
//!
//! [`Severity`] is the one order of severities (lowest first) that the
//! policy, the collector's rows and the dashboard's alerts share; a
//! violation carries one, an allowed or unknown flow none. The collector
//! keeps both as enums in its rows and writes their words
//! ([`Severity::as_str`], [`VerdictKind::as_str`]) to the database.

use std::fmt;

use crate::policy::VerdictKind;

/// How serious a violation is, lowest first (the derived order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Stable lower-case name used in policy files, the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Inverse of [`Severity::as_str`]; `None` for any other text.
    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl VerdictKind {
    /// Every verdict.
    pub const ALL: [VerdictKind; 3] = [
        VerdictKind::Allowed,
        VerdictKind::Violation,
        VerdictKind::Unknown,
    ];

    /// Inverse of [`VerdictKind::as_str`]; `None` for any other text.
    pub fn parse(text: &str) -> Option<VerdictKind> {
        VerdictKind::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

/// A flow no policy judged is `unknown`.
impl Default for VerdictKind {
    fn default() -> VerdictKind {
        VerdictKind::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::SEVERITIES;

    #[test]
    fn words_round_trip_in_the_policy_order() {
        let words: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(words, SEVERITIES);
        assert!(Severity::Info < Severity::Critical);
        for severity in Severity::ALL {
            assert_eq!(Severity::parse(severity.as_str()), Some(severity));
        }
        for verdict in VerdictKind::ALL {
            assert_eq!(VerdictKind::parse(verdict.as_str()), Some(verdict));
        }
        assert_eq!(Severity::parse(""), None);
        assert_eq!(VerdictKind::parse("Allowed"), None);
    }
}
