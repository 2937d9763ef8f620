//! `GET /api/v1/openapi.json`, generated (`utoipa`): the paths from the
//! handlers' `#[utoipa::path]` annotations ([`crate::api::Paths`],
//! [`crate::policy::Paths`]) with each endpoint's parameters
//! ([`crate::query::doc`]) and answers, and the schema of every answer from
//! the types the handlers serialize (the rows and answers of
//! `eastwest-api`, the policy views). `tests/openapi.rs` checks real
//! answers against the served document.

use std::sync::OnceLock;

use serde_json::Value;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi};

use crate::doc;
use crate::error::ErrorBody;
use crate::model::{ExporterSource, ObservationPoint, Placement, Point, Totals};

/// The document's frame: its title, server, security and the shared
/// components; the paths are merged in by [`openapi`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "eastwest dashboard API",
        version = "1",
        description = "East-west (VM-to-VM) conversations, zone matrix, violations, coverage, policy, what-if, inventory events and co-residency over the flows in ClickHouse."
    ),
    servers((url = "/api/v1")),
    security(("bearer" = [])),
    components(
        schemas(ErrorBody, Totals, ObservationPoint, Placement, Point, ExporterSource),
        responses(doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Unavailable)
    ),
    modifiers(&Bearer)
)]
struct Frame;

/// The bearer scheme of `auth.tokens`.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut Document) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "a token from auth.tokens; viewer reads, admin changes",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The whole document.
pub fn openapi() -> Document {
    let mut doc = Frame::openapi();
    doc.merge(crate::api::Paths::openapi());
    doc.merge(crate::policy::Paths::openapi());
    // No tags: `utoipa` would name each operation's module.
    for item in doc.paths.paths.values_mut() {
        for operation in [&mut item.get, &mut item.post, &mut item.delete]
            .into_iter()
            .flatten()
        {
            operation.tags = None;
        }
    }
    require_answer_fields(&mut doc);
    doc
}

/// Mark every property of every answer's schema that cannot be null as
/// required. `utoipa` requires no field of the rows: they are
/// `#[serde(default)]` (a client decodes older and newer answers alike), and
/// it takes that for "may be absent", but the dashboard writes every field.
/// A field is `null` only where its type is an `Option` (written as
/// `null`). Request bodies (and the schemas they name) keep their own
/// `required`: there a default really lets the client leave a field out.
fn require_answer_fields(doc: &mut Document) {
    let bodies: Vec<Value> = doc
        .paths
        .paths
        .values()
        .flat_map(|item| [&item.post, &item.get, &item.delete])
        .flatten()
        .filter_map(|op| op.request_body.as_ref())
        .filter_map(|body| serde_json::to_value(body).ok())
        .collect();
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let mut inputs: Vec<String> = Vec::new();
    let mut pending: Vec<Value> = bodies;
    while let Some(value) = pending.pop() {
        let mut targets = Vec::new();
        refs(&value, &mut targets);
        for name in targets {
            if !inputs.contains(&name) {
                if let Some(schema) = components.schemas.get(&name) {
                    pending.extend(serde_json::to_value(schema).ok());
                }
                inputs.push(name);
            }
        }
    }
    for (name, schema) in &mut components.schemas {
        let RefOr::T(Schema::Object(object)) = schema else {
            continue;
        };
        if inputs.contains(name) {
            continue;
        }
        for (field, property) in &object.properties {
            if !nullable(property) && !object.required.contains(field) {
                object.required.push(field.clone());
            }
        }
    }
}

/// Whether `schema` admits `null`.
fn nullable(schema: &RefOr<Schema>) -> bool {
    let admits = |t: &SchemaType| match t {
        SchemaType::Type(t) => *t == Type::Null,
        SchemaType::Array(ts) => ts.contains(&Type::Null),
        SchemaType::AnyValue => true,
    };
    match schema {
        RefOr::Ref(_) => false,
        RefOr::T(Schema::Object(o)) => admits(&o.schema_type),
        RefOr::T(Schema::Array(a)) => admits(&a.schema_type),
        RefOr::T(Schema::OneOf(o)) => o.items.iter().any(nullable),
        RefOr::T(Schema::AnyOf(o)) => o.items.iter().any(nullable),
        RefOr::T(_) => false,
    }
}

/// The schema names of the `$ref`s in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(target)) => {
                        out.extend(target.rsplit('/').next().map(String::from));
                    }
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The whole document (JSON), made once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_string(&openapi()).unwrap_or_default())
}

/// The answers' shapes as TypeScript (`dashboard/web/src/api.gen.ts`), one
/// declaration per generated schema, by name: every property is present
/// (the dashboard writes every field), `T | null` where the schema allows
/// null, enums as unions of their words.
pub fn typescript() -> String {
    let schemas = openapi()
        .components
        .map(|c| serde_json::to_value(c.schemas).unwrap_or_default())
        .unwrap_or_default();
    let mut out = String::from(
        "// Generated from the dashboard's types (eastwest-api, dashboard/src/api.rs) by\n\
         // `EASTWEST_WRITE_TS=1 cargo test -p eastwest-dashboard --lib typescript`; do not edit.\n",
    );
    for (name, schema) in schemas.as_object().into_iter().flatten() {
        out.push('\n');
        doc_comment(&mut out, "", schema);
        match schema.get("properties").and_then(Value::as_object) {
            Some(properties) => {
                out.push_str(&format!("export interface {name} {{\n"));
                for (field, property) in properties {
                    doc_comment(&mut out, "  ", property);
                    out.push_str(&format!("  {field}: {};\n", ts_type(property)));
                }
                out.push_str("}\n");
            }
            None => out.push_str(&format!("export type {name} = {};\n", ts_type(schema))),
        }
    }
    out
}

fn doc_comment(out: &mut String, indent: &str, schema: &Value) {
    if let Some(text) = schema.get("description").and_then(Value::as_str) {
        let text = text.trim().replace("*/", "*\\/").replace('\n', " ");
        out.push_str(&format!("{indent}/** {text} */\n"));
    }
}

/// The TypeScript type of one JSON schema.
fn ts_type(schema: &Value) -> String {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        return target.rsplit('/').next().unwrap_or("unknown").to_string();
    }
    if let Some(words) = schema.get("enum").and_then(Value::as_array) {
        let words: Vec<String> = words.iter().map(Value::to_string).collect();
        return words.join(" | ");
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let options: Vec<String> = options.iter().map(ts_type).collect();
            return options.join(" | ");
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let names: Vec<String> = types
        .iter()
        .map(|t| match *t {
            "integer" | "number" => "number".to_string(),
            "string" => "string".to_string(),
            "boolean" => "boolean".to_string(),
            "null" => "null".to_string(),
            "array" => {
                let item = schema.get("items").map_or("unknown".to_string(), ts_type);
                if item.contains(' ') {
                    format!("({item})[]")
                } else {
                    format!("{item}[]")
                }
            }
            _ => "Record<string, unknown>".to_string(),
        })
        .collect();
    if names.is_empty() {
        "unknown".to_string()
    } else {
        names.join(" | ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in `value`.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("$ref", Value::String(target)) => out.push(target),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    /// The web page's types are these types: regenerate with
    /// `EASTWEST_WRITE_TS=1`.
    #[test]
    fn typescript_of_the_web_page_is_generated_from_the_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/src/api.gen.ts");
        let generated = typescript();
        if std::env::var_os("EASTWEST_WRITE_TS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is stale: run EASTWEST_WRITE_TS=1 cargo test -p eastwest-dashboard --lib typescript",
            path.display()
        );
        assert!(generated.contains("export interface Conversation {"));
        assert!(generated.contains("  verdict: \"allowed\" | \"violation\" | \"unknown\";"));
        assert!(generated.contains("  client_addr: string | null;"));
    }

    #[test]
    fn every_reference_resolves_and_the_rows_are_generated() {
        let doc: Value = serde_json::from_str(document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut targets = Vec::new();
        refs(&doc, &mut targets);
        assert!(targets.len() > 50, "{targets:?}");
        for target in targets {
            let pointer = target.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
        }
        let conversation = &doc["components"]["schemas"]["Conversation"]["properties"];
        assert_eq!(
            conversation["verdict"]["enum"],
            serde_json::json!(["allowed", "violation", "unknown"])
        );
        assert_eq!(
            conversation["severity"]["enum"],
            serde_json::json!(["", "info", "low", "medium", "high", "critical"])
        );
        // Every field the dashboard writes is required, nullable only
        // where it is an `Option`; request bodies keep their own.
        let required = &doc["components"]["schemas"]["Conversation"]["required"];
        let required: Vec<&str> = required
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(required.contains(&"bytes") && required.contains(&"verdict"));
        assert!(!required.contains(&"client_addr"));
        assert_eq!(
            doc["components"]["schemas"]["Conversation"]["properties"]["client_addr"]["type"],
            serde_json::json!(["string", "null"])
        );
        assert_eq!(
            doc["components"]["schemas"]["InventoryEvent"]["required"],
            serde_json::json!(["time", "vm"])
        );
        assert!(
            doc["components"]["schemas"]["Flow"]["properties"]["encap"]["enum"]
                .as_array()
                .is_some_and(|words| words.contains(&"erspan2".into()))
        );
    }
}
