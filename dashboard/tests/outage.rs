//! ClickHouse going away while the dashboard runs: 503 "storage
//! unavailable", then recovery when it is back. The store reaches the real
//! server through a TCP proxy that the test stops and starts.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use eastwest_dashboard::api::{router, AppState};
use eastwest_dashboard::store::ClickHouseStore;
use http_body_util::BodyExt;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

use common::*;

/// Forwards 127.0.0.1:`port` to `target` while started.
struct Proxy {
    port: u16,
    target: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    async fn start(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let target = self.target;
        self.task = Some(tokio::spawn(async move {
            // Dropped with this task, which aborts every open connection.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

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

#[tokio::test]
async fn storage_outage_is_503_and_recovers() {
    let server = eastwest_tests::clickhouse().unwrap();
    let target: SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let mut proxy = Proxy {
        port: eastwest_tests::free_tcp_port().unwrap(),
        target,
        task: None,
    };
    proxy.start().await;
    let database = eastwest_tests::unique_database("dash_outage");
    let proxied = format!("http://127.0.0.1:{}", proxy.port);
    let store = ClickHouseStore::connect(&settings(&proxied, &database))
        .await
        .unwrap();
    insert(&server.url, &database, store.version(), &lab_rows()).await;
    let app = router(AppState::new(store, 100));

    let (status, _) = get(&app, "/api/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&app, "/api/v1/conversations?range=all").await;
    assert_eq!(status, StatusCode::OK);

    proxy.stop().await;
    for uri in ["/api/v1/health", "/api/v1/conversations?range=all"] {
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {body}");
        assert_eq!(body, r#"{"error":"storage unavailable"}"#);
    }

    proxy.start().await;
    let (status, body) = get(&app, "/api/v1/conversations?range=all").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("payroll-01"));
    let (status, _) = get(&app, "/api/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    proxy.stop().await;
}
