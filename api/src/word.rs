//! Verdict, severity and encapsulation in the API: enums in the rows,
//! their words (`eastwest-core`'s [`eastwest_core::word`], the table the
//! `flows` table's columns use too) in JSON and CSV, and, with the
//! `openapi` feature, their schemas.

pub use eastwest_core::word::{deserialize, serialize, words, Word};
#[cfg(feature = "openapi")]
use eastwest_core::{flow::Encap, policy::VerdictKind, severity::Severity};

/// A string schema of these words.
#[cfg(feature = "openapi")]
fn word_schema(description: &str, words: &[&'static str]) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words.iter().copied()))
        .description(Some(description))
        .build()
}

/// The verdict's schema: one of its words.
#[cfg(feature = "openapi")]
pub fn verdict_schema() -> utoipa::openapi::schema::Object {
    word_schema("the policy's verdict", &words(VerdictKind::ALL))
}

/// The severity's schema: `""` (none) or a severity, least severe first.
#[cfg(feature = "openapi")]
pub fn severity_schema() -> utoipa::openapi::schema::Object {
    let mut all = vec![""];
    all.extend(words(Severity::ALL.map(Some)));
    word_schema("the deciding rule's severity; \"\" when none", &all)
}

/// The encapsulation's schema: `""` (unknown) or how the frame came.
#[cfg(feature = "openapi")]
pub fn encap_schema() -> utoipa::openapi::schema::Object {
    let mut all = vec![""];
    all.extend(words(Encap::ALL.map(Some)));
    word_schema("how the metered frame reached the exporter", &all)
}
