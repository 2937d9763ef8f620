//! What the handlers' OpenAPI annotations (`#[utoipa::path]`) share: the
//! error answers as reusable responses (`#/components/responses/...`) and
//! the schema of the body no Rust type describes (binary). [`crate::openapi`]
//! assembles the document.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToResponse, ToSchema};

use crate::error::ErrorBody;

/// A JSON error answer (`{"error": "..."}`) described by `description`.
fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
        .into()
}

macro_rules! error_responses {
    ($($(#[$attr:meta])* $name:ident = $description:literal;)*) => {$(
        $(#[$attr])*
        #[derive(Debug)]
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), error_response($description))
            }
        }
    )*};
}

error_responses! {
    /// 400.
    BadRequest = "a parameter is wrong; the message names it";
    /// 401.
    Unauthorized = "no or unknown token";
    /// 404.
    NotFound = "not seen in the window";
    /// 503.
    Unavailable = "storage unavailable";
}

/// A binary body (pcapng, PDF).
#[derive(Debug)]
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {}
