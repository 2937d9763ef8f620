//! Verdicts: judging traffic between two zones by the rules.

use std::fmt;

use super::Action;
use super::{Policy, DEFAULT_RULE, INTRA_ZONE_RULE, UNZONED_RULE};

/// What a policy concluded about a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerdictKind {
    Allowed,
    Violation,
    /// An endpoint is in no zone, so the policy cannot say.
    Unknown,
}

impl VerdictKind {
    /// Stable lower-case name used in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Allowed => "allowed",
            VerdictKind::Violation => "violation",
            VerdictKind::Unknown => "unknown",
        }
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

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict with the rule that decided it, borrowed from the [`Policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'a> {
    pub kind: VerdictKind,
    /// The deciding rule's description, or [`INTRA_ZONE_RULE`],
    /// [`DEFAULT_RULE`], [`UNZONED_RULE`].
    pub rule: &'a str,
    /// Severity of a violation; `""` when allowed or unknown.
    pub severity: &'a str,
}

impl Policy {
    /// Judge traffic from `src_zone` to `dst_zone` (names as [`zone_of`]
    /// returns them). [`VerdictKind::Unknown`] if either is [`UNZONED`](super::UNZONED) or
    /// not a zone of this policy.
    ///
    /// [`zone_of`]: Policy::zone_of
    pub fn judge(&self, src_zone: &str, dst_zone: &str, proto: u8, dst_port: u16) -> Verdict<'_> {
        self.decide(
            self.zone_index(src_zone),
            self.zone_index(dst_zone),
            proto,
            dst_port,
        )
    }

    /// [`judge`](Policy::judge) by zone index (as
    /// [`endpoint_zone`](Policy::endpoint_zone) returns them), the form the
    /// collector calls per flow: [`VerdictKind::Unknown`] if either is None
    /// or not a zone of this policy; else the first rule of the pair's index
    /// matching `proto`/`dst_port`, else intra-zone or the default.
    pub fn decide(
        &self,
        src: Option<usize>,
        dst: Option<usize>,
        proto: u8,
        dst_port: u16,
    ) -> Verdict<'_> {
        let n = self.zones.len();
        let (Some(s), Some(d)) = (src.filter(|&s| s < n), dst.filter(|&d| d < n)) else {
            return Verdict {
                kind: VerdictKind::Unknown,
                rule: UNZONED_RULE,
                severity: "",
            };
        };
        let pair = s * n + d;
        let decided = self.pair_rules[self.pair_start[pair]..self.pair_start[pair + 1]]
            .iter()
            .map(|&r| &self.rules[r])
            .find(|rule| rule.matches_l4(proto, dst_port));
        let (action, rule, severity) = match decided {
            Some(rule) => (
                rule.action,
                rule.description.as_str(),
                rule.severity.as_str(),
            ),
            None if s == d => (Action::Allow, INTRA_ZONE_RULE, ""),
            None => (
                self.default_cross_zone,
                DEFAULT_RULE,
                self.default_severity.as_str(),
            ),
        };
        match action {
            Action::Allow => Verdict {
                kind: VerdictKind::Allowed,
                rule,
                severity: "",
            },
            Action::Deny => Verdict {
                kind: VerdictKind::Violation,
                rule,
                severity,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_words_round_trip() {
        for verdict in VerdictKind::ALL {
            assert_eq!(VerdictKind::parse(verdict.as_str()), Some(verdict));
        }
        assert_eq!(VerdictKind::parse("Allowed"), None);
        assert_eq!(VerdictKind::default(), VerdictKind::Unknown);
    }
}
