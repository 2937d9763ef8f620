//! Verdict, severity and encapsulation as words: `violation`, `high`,
//! `vxlan`, and `""` for no severity or no encapsulation. One table for
//! every place they are written as text: the API's JSON and CSV
//! (`eastwest-api`) and the `flows` table's columns (`eastwest-clickhouse`).

use serde::de::Error;
use serde::{Deserialize, Deserializer, Serializer};

use crate::flow::Encap;
use crate::policy::VerdictKind;
use crate::severity::Severity;

/// A value written as one word.
pub trait Word: Sized {
    /// Its word.
    fn word(&self) -> &'static str;
    /// The value of `word`; `None` when no value has it.
    fn from_word(word: &str) -> Option<Self>;
}

impl Word for VerdictKind {
    fn word(&self) -> &'static str {
        self.as_str()
    }
    fn from_word(word: &str) -> Option<VerdictKind> {
        VerdictKind::parse(word)
    }
}

/// No severity (an allowed or unjudged flow) is `""`.
impl Word for Option<Severity> {
    fn word(&self) -> &'static str {
        self.map_or("", Severity::as_str)
    }
    fn from_word(word: &str) -> Option<Option<Severity>> {
        match word {
            "" => Some(None),
            _ => Severity::parse(word).map(Some),
        }
    }
}

/// An unknown encapsulation is `""`.
impl Word for Option<Encap> {
    fn word(&self) -> &'static str {
        self.map_or("", Encap::as_str)
    }
    fn from_word(word: &str) -> Option<Option<Encap>> {
        match word {
            "" => Some(None),
            _ => Encap::ALL
                .into_iter()
                .find(|e| e.as_str() == word)
                .map(Some),
        }
    }
}

/// Serde of a [`Word`] field (`#[serde(with = "eastwest_core::word")]`): its word;
/// a word no value has is an error naming it.
pub fn serialize<T: Word, S: Serializer>(value: &T, to: S) -> Result<S::Ok, S::Error> {
    to.serialize_str(value.word())
}

pub fn deserialize<'de, T: Word, D: Deserializer<'de>>(from: D) -> Result<T, D::Error> {
    let text = String::deserialize(from)?;
    T::from_word(&text).ok_or_else(|| D::Error::custom(format!("unknown value {text:?}")))
}

/// Every word of `T`'s values, in their order (the OpenAPI enums).
pub fn words<T: Word, const N: usize>(values: [T; N]) -> [&'static str; N] {
    values.map(|v| v.word())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_words_are_refused() {
        for severity in Severity::ALL.map(Some).into_iter().chain([None]) {
            assert_eq!(
                <Option<Severity>>::from_word(severity.word()),
                Some(severity)
            );
        }
        for verdict in VerdictKind::ALL {
            assert_eq!(VerdictKind::from_word(verdict.word()), Some(verdict));
        }
        for encap in Encap::ALL.map(Some).into_iter().chain([None]) {
            assert_eq!(<Option<Encap>>::from_word(encap.word()), Some(encap));
        }
        assert_eq!(<Option<Severity>>::from_word("urgent"), None);
        assert_eq!(VerdictKind::from_word(""), None);
    }
}
