//! Unit tests of the API client: paths, parameters, decoding, errors.

use std::time::Duration;

use super::request::segment;
use super::*;

#[test]
fn endpoints_and_services() {
    let mut c = Conversation {
        client_vm: "web-01".into(),
        server_addr: Some("10.0.0.9".into()),
        proto: 6,
        server_port: 5432,
        client_host: "esx-01".into(),
        server_host: "esx-02".into(),
        ..Conversation::default()
    };
    assert_eq!(c.client(), "web-01");
    assert_eq!(c.server(), "10.0.0.9");
    assert_eq!(c.service(), "TCP/5432");
    assert_eq!(c.host(), "esx-01→esx-02");
    c.same_host = true;
    c.server_host = "esx-01".into();
    assert_eq!(c.host(), "esx-01");
    assert_eq!(service(1, 0), "ICMP");
    assert_eq!(service(89, 0), "proto 89");
}

#[test]
fn ranges() {
    assert_eq!(Range::parse("5m").unwrap(), Range::Span("5m".into()));
    assert_eq!(Range::parse(" all ").unwrap(), Range::Span("all".into()));
    let window = Range::parse("2026-11-02T10:00:00Z..2026-11-02T11:00:00Z").unwrap();
    assert_eq!(
        window.to_string(),
        "2026-11-02T10:00:00Z..2026-11-02T11:00:00Z"
    );
    for bad in [
        "", "h", "5", "5mm", "-5m", "..x", "x..", "a..b..c", "forever",
    ] {
        assert!(Range::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn each_endpoint_gets_only_the_parameters_it_takes() {
    let query = Query {
        range: Range::parse("1700000000..1700003600").unwrap(),
        dataset: Some("lab".into()),
        vm: Some("web-01".into()),
        zone: Some("dmz".into()),
        verdict: Some("violation".into()),
        port: Some(443),
        limit: 50,
    };
    let names = |r: Request| {
        let (path, params) = r.path_and_params();
        let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
        format!("{path}?{}", names.join("&"))
    };
    assert_eq!(
        names(Request::Conversations(query.clone())),
        "/api/v1/conversations?from&to&dataset&vm&zone&verdict&port&limit"
    );
    assert_eq!(
        names(Request::Violations(query.clone())),
        "/api/v1/violations?from&to&dataset&vm&zone&limit"
    );
    assert_eq!(
        names(Request::ZoneMatrix(query.clone())),
        "/api/v1/zones/matrix?from&to&dataset&verdict"
    );
    assert_eq!(
        names(Request::Timeseries(query.clone())),
        "/api/v1/timeseries?from&to&dataset&vm&zone&verdict&port"
    );
    assert_eq!(
        names(Request::Hosts(query.clone())),
        "/api/v1/hosts?from&to&dataset"
    );
    assert_eq!(
        names(Request::Vm {
            name: "a/b".into(),
            query: query.clone()
        }),
        "/api/v1/vms/a%2Fb?from&to&dataset&limit"
    );
    assert_eq!(
        names(Request::ZonePair {
            client: "dmz".into(),
            server: "db".into(),
            query
        }),
        "/api/v1/conversations?from&to&dataset&vm&zone&verdict&port&limit&client_zone&server_zone"
    );
    assert_eq!(names(Request::Policy), "/api/v1/policy?");
}

#[test]
fn rows_of_every_list_decode() {
    // The shapes of docs/api.md, decoded as eastwest-api's rows.
    let conversation: Conversation = serde_json::from_str::<eastwest_api::Conversation>(
        r#"{"client_vm": "fin-fe-01", "client_addr": null, "client_zone": "finance-frontend", "client_host": "esx-03",
 "server_vm": "payroll-01", "server_addr": null, "server_zone": "payroll", "server_host": "esx-03",
 "proto": 6, "server_port": 443,
 "verdict": "violation", "rule": "payroll must never talk to the finance front end",
 "severity": "critical", "same_host": true, "observers": ["esx-03"],
 "flows": 2, "packets_fwd": 52, "bytes_fwd": 14560, "packets_rev": 50, "bytes_rev": 64400,
 "packets": 102, "bytes": 78960, "start_ms": 1793610000200, "end_ms": 1793610012000}"#,
    )
    .unwrap()
    .into();
    assert_eq!(conversation.bytes(), 78_960);
    assert_eq!(conversation.end_ms, 1_793_610_012_000);
    let violation: Conversation = serde_json::from_str::<eastwest_api::Violation>(
        r#"{"client_vm": "fin-fe-01", "client_addr": null, "client_zone": "finance-frontend",
"server_vm": "payroll-01", "server_addr": null, "server_zone": "payroll",
"proto": 6, "server_port": 443, "rule": "payroll must never talk to the finance front end",
"severity": "critical", "same_host": true, "policy_revision": "r1",
"first_ms": 1793610000200, "last_ms": 1793610012000,
"flows": 2, "packets": 102, "bytes": 78960,
"observation_points": [{"observer": "esx-03", "encap": "erspan2", "flows": 2, "bytes": 78960}],
"flows_url": "/api/v1/flows?vm=fin-fe-01"}"#,
    )
    .unwrap()
    .into();
    assert_eq!(violation.bytes(), 78_960);
    assert_eq!(violation.packets(), 102);
    assert_eq!(violation.start_ms, 1_793_610_000_200);
    assert!(violation.is_violation());
    assert_eq!(violation.seen_by(), ["esx-03"]);
    // A one-direction row of an older dashboard.
    let old: Conversation = serde_json::from_str::<eastwest_api::Conversation>(
        r#"{"src_vm": "payroll-01", "src_addr": null, "dst_vm": "fin-web-01", "dst_addr": null,
 "src_zone": "payroll", "dst_zone": "finance-frontend", "proto": 6, "dst_port": 443,
 "verdict": "violation", "rule": "r", "severity": "critical", "same_host": true,
 "observers": ["esx-03"], "flows": 1, "packets": 50, "bytes": 5000,
 "start_ms": 1793613601000, "end_ms": 1793613603000}"#,
    )
    .unwrap()
    .into();
    assert_eq!((old.client(), old.server()), ("payroll-01", "fin-web-01"));
    assert_eq!((old.server_port, old.bytes()), (443, 5000));
}

#[test]
fn path_segments_are_escaped() {
    assert_eq!(segment("esx-01.lab"), "esx-01.lab");
    assert_eq!(segment("a/b c?"), "a%2Fb%20c%3F");
}

#[tokio::test]
async fn unreachable_server_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let client = HttpClient::new(&server, None, Duration::from_secs(2)).unwrap();
    match client.fetch(&Request::Policy).await {
        Err(err @ FetchError::Unreachable { .. }) => {
            assert!(err.is_unreachable());
            assert!(err.to_string().contains(&server));
        }
        other => panic!("{other:?}"),
    }
}
