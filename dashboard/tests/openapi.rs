//! The served OpenAPI document against the real answers: the lab's flows in
//! a real ClickHouse, each list endpoint and the report asked through the
//! router, its JSON
//! validated (JSON Schema 2020-12, `jsonschema`) against the schema the
//! served document gives for that path's 200 answer: every field the
//! schema requires present, none beyond those it names.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use eastwest_dashboard::api::{router, AppState};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use common::*;

async fn get(app: &Router, uri: &str) -> (StatusCode, String) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Forbid properties a schema does not name, in every object schema that
/// names its properties: an answer with a field the document lacks fails.
fn closed(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), false.into());
            }
            map.values_mut().for_each(closed);
        }
        Value::Array(items) => items.iter_mut().for_each(closed),
        _ => {}
    }
}

/// The validator of `path`'s 200 JSON answer in `doc`.
fn validator(doc: &Value, path: &str) -> jsonschema::Validator {
    let schema =
        &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{path} has no JSON answer schema");
    let mut components = doc["components"].clone();
    closed(&mut components);
    let mut schema = schema.clone();
    closed(&mut schema);
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": components,
        "allOf": [schema],
    });
    jsonschema::validator_for(&root).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn mismatches(validator: &jsonschema::Validator, answer: &Value) -> Vec<String> {
    validator
        .iter_errors(answer)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[tokio::test]
async fn real_answers_match_the_served_openapi_document() {
    let store = store_with(&lab_rows()).await;
    let app = router(AppState::new(store, 1000));
    let (status, doc) = get(&app, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&doc).unwrap();

    // (path in the document, request, the list that must not be empty)
    let lab = "range=all&dataset=lab";
    for (path, uri, list) in [
        ("/health", "/api/v1/health".to_string(), ""),
        (
            "/conversations",
            format!("/api/v1/conversations?{lab}"),
            "conversations",
        ),
        (
            "/zones/matrix",
            format!("/api/v1/zones/matrix?{lab}"),
            "cells",
        ),
        (
            "/violations",
            format!("/api/v1/violations?{lab}"),
            "violations",
        ),
        ("/flows", format!("/api/v1/flows?{lab}"), "flows"),
        (
            "/vms/{name}",
            format!("/api/v1/vms/web-01?{lab}"),
            "conversations",
        ),
        ("/hosts", format!("/api/v1/hosts?{lab}"), "hosts"),
        (
            "/hosts/{name}",
            format!("/api/v1/hosts/esx-01?{lab}"),
            "vms",
        ),
        ("/timeseries", format!("/api/v1/timeseries?{lab}"), "points"),
        ("/exporters", "/api/v1/exporters".to_string(), "exporters"),
        ("/datasets", "/api/v1/datasets".to_string(), "datasets"),
        (
            "/report",
            format!("/api/v1/report?{lab}"),
            "violations_by_zone_pair",
        ),
    ] {
        let validator = validator(&doc, path);
        let (status, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        if !list.is_empty() {
            assert!(
                answer[list].as_array().is_some_and(|rows| !rows.is_empty()),
                "{uri}: no {list} to check in {body}"
            );
        }
        let errors = mismatches(&validator, &answer);
        assert!(
            errors.is_empty(),
            "{uri} disagrees with the schema of {path}: {errors:?}\n{body}"
        );
    }

    // The check can fail: a severity word the document does not list, a
    // field it does not name, a field it requires missing.
    let validator = validator(&doc, "/violations");
    let (_, body) = get(&app, &format!("/api/v1/violations?{lab}")).await;
    let mut answer: Value = serde_json::from_str(&body).unwrap();
    answer["violations"][0]["severity"] = "urgent".into();
    assert!(!mismatches(&validator, &answer).is_empty());
    let mut answer: Value = serde_json::from_str(&body).unwrap();
    answer["violations"][0]["colour"] = "red".into();
    assert!(!mismatches(&validator, &answer).is_empty());
    for field in ["bytes", "rule", "severity"] {
        let mut answer: Value = serde_json::from_str(&body).unwrap();
        answer["violations"][0]
            .as_object_mut()
            .unwrap()
            .remove(field);
        assert!(!mismatches(&validator, &answer).is_empty(), "{field}");
    }
    let mut answer: Value = serde_json::from_str(&body).unwrap();
    answer.as_object_mut().unwrap().remove("total");
    assert!(!mismatches(&validator, &answer).is_empty());
}
