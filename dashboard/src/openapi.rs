//! `GET /api/v1/openapi.json`: the routes with their parameters and
//! answers (`openapi_paths.json`, written by hand) and the schema of every
//! answer, generated (`utoipa`) from the types the handlers serialize: the
//! rows of `eastwest-api` and the answer structs of [`crate::api`]. The
//! schemas cannot drift from the answers; `tests/openapi.rs` checks real
//! answers against the served document.

use std::sync::OnceLock;

use serde_json::Value;
use utoipa::OpenApi;

use crate::api::{
    ConversationsResponse, DatasetsResponse, ExportersResponse, FlowsResponse, HostResponse,
    HostsResponse, MatrixResponse, TimeseriesResponse, ViolationsResponse, VmResponse,
};
use crate::model::{
    Conversation, Dataset, ExporterSource, ExporterStatus, FlowRecord, HostSummary, MatrixCell,
    ObservationPoint, Placement, Point, Totals, Violation,
};

/// The routes, parameters, error answers and the schemas of request bodies
/// and of the report (OpenAPI 3.1).
const PATHS: &str = include_str!("openapi_paths.json");

#[derive(OpenApi)]
#[openapi(components(schemas(
    Conversation,
    Totals,
    MatrixCell,
    Violation,
    ObservationPoint,
    FlowRecord,
    Placement,
    HostSummary,
    Point,
    ExporterStatus,
    ExporterSource,
    Dataset,
    ConversationsResponse,
    MatrixResponse,
    ViolationsResponse,
    FlowsResponse,
    VmResponse,
    HostsResponse,
    HostResponse,
    TimeseriesResponse,
    ExportersResponse,
    DatasetsResponse,
)))]
struct Schemas;

/// The whole document (JSON), made once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        // Both parts are fixed at build time; the unit test below reads
        // them, so neither fails here.
        let mut doc: Value = serde_json::from_str(PATHS).unwrap_or_default();
        let generated = Schemas::openapi()
            .components
            .map(|c| serde_json::to_value(c.schemas).unwrap_or_default());
        if let (Some(schemas), Some(Value::Object(generated))) = (
            doc.pointer_mut("/components/schemas")
                .and_then(Value::as_object_mut),
            generated,
        ) {
            schemas.extend(generated);
        }
        doc.to_string()
    })
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
        assert!(
            doc["components"]["schemas"]["Flow"]["properties"]["encap"]["enum"]
                .as_array()
                .is_some_and(|words| words.contains(&"erspan2".into()))
        );
    }
}
