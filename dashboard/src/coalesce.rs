//! Identical reads in flight share one answer.
//!
//! A dashboard on a wall, a few operators on the same view, the TUI and the
//! web page refreshing together: the same `GET /api/v1/...` (same path and
//! query) arrives while the first is still being answered. ClickHouse would
//! run the same statements once per request, and on a small server every
//! copy slows the others (the statements are CPU-bound and each uses every
//! core it is given). Instead, the first request (the leader) is answered as
//! usual and the ones that arrive while it runs wait for its answer: status,
//! headers and body are copied to each of them. Nothing is kept once the
//! leader is answered, so an answer is never older than the request that
//! asked for it began (a follower's answer began at most one answer's time
//! before the follower arrived).
//!
//! Only reads are shared: `GET` under `/api/v1/` except the health check
//! (which must reach ClickHouse each time) and the packet downloads. A
//! download is checked for the `responder` role and logged per request, and
//! it streams: a shared answer would be held whole in memory, lose its
//! trailers, and reach a follower whose token only the viewer role accepts.
//! If the leader's client goes away before the answer, its followers each
//! run their own request. The layer sits inside authentication: a request
//! is shared only once its token was accepted, and the shared endpoints
//! answer the same whoever asks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::watch;

/// A finished answer, as the followers rebuild it.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

type Slot = watch::Receiver<Option<Arc<Answer>>>;

/// The requests being answered, by path and query.
#[derive(Debug, Default, Clone)]
pub struct InFlight {
    requests: Arc<Mutex<HashMap<String, Slot>>>,
    shared: Arc<AtomicU64>,
}

impl InFlight {
    /// Requests answered with another's answer so far.
    pub fn shared(&self) -> u64 {
        self.shared.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // The map stays consistent if a holder panicked (each operation is
        // one insert or remove), so a poisoned lock is used as is.
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Forgets the leader's entry when its request ends, answered or not.
struct Leading<'a> {
    in_flight: &'a InFlight,
    key: String,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.in_flight.lock().remove(&self.key);
    }
}

fn shareable(request: &Request) -> bool {
    let path = request.uri().path();
    request.method() == Method::GET
        && path.starts_with("/api/v1/")
        && !matches!(path, "/api/v1/health" | "/api/v1/packets")
}

fn rebuild(answer: &Answer) -> Response {
    let mut response = Response::new(Body::from(answer.body.clone()));
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers.clone();
    response
}

/// Middleware: answer `request` by itself, or with the answer of the
/// identical request in flight.
pub async fn share(State(in_flight): State<InFlight>, request: Request, next: Next) -> Response {
    if !shareable(&request) {
        return next.run(request).await;
    }
    let key = request.uri().to_string();
    let follow = {
        let mut requests = in_flight.lock();
        match requests.get(&key) {
            Some(slot) => Ok(slot.clone()),
            None => {
                let (sender, slot) = watch::channel(None);
                requests.insert(key.clone(), slot);
                Err(sender)
            }
        }
    };
    let sender = match follow {
        Ok(mut slot) => {
            let answer = slot
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|a| a.clone());
            return match answer {
                Some(answer) => {
                    in_flight.shared.fetch_add(1, Ordering::Relaxed);
                    rebuild(&answer)
                }
                // The leader went away unanswered.
                None => next.run(request).await,
            };
        }
        Err(sender) => sender,
    };
    let leading = Leading {
        in_flight: &in_flight,
        key,
    };
    let (parts, body) = next.run(request).await.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(error = %e, "response body failed");
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return response;
        }
    };
    let answer = Answer {
        status: parts.status,
        headers: parts.headers.clone(),
        body: body.clone(),
    };
    sender.send_replace(Some(Arc::new(answer)));
    drop(leading);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use axum::routing::{delete, get};
    use axum::Router;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    /// A router whose handlers count their calls and take 200 ms.
    fn app(in_flight: InFlight, calls: Arc<AtomicUsize>) -> Router {
        let handler = move || {
            let calls = Arc::clone(&calls);
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                format!("answer {n}")
            }
        };
        Router::new()
            .route("/api/v1/conversations", get(handler.clone()))
            .route("/api/v1/health", get(handler.clone()))
            .route("/api/v1/packets", get(handler.clone()))
            .route("/api/v1/datasets/{name}", delete(handler))
            .layer(axum::middleware::from_fn_with_state(in_flight, share))
    }

    async fn send(app: Router, method: Method, uri: String) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn together(app: &Router, method: Method, uris: &[&str]) -> Vec<(StatusCode, String)> {
        let tasks: Vec<_> = uris
            .iter()
            .map(|uri| tokio::spawn(send(app.clone(), method.clone(), uri.to_string())))
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        answers
    }

    #[tokio::test]
    async fn identical_reads_in_flight_share_one_answer() {
        let (in_flight, calls) = (InFlight::default(), Arc::new(AtomicUsize::new(0)));
        let app = app(in_flight.clone(), Arc::clone(&calls));
        let uri = "/api/v1/conversations?range=24h";
        let answers = together(&app, Method::GET, &[uri; 4]).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(in_flight.shared(), 3);
        for answer in &answers {
            assert_eq!(answer, &(StatusCode::OK, "answer 0".to_string()));
        }
        // Nothing is kept once answered: the next request runs again.
        assert_eq!(send(app, Method::GET, uri.into()).await.1, "answer 1");
        assert!(in_flight.lock().is_empty());
    }

    #[tokio::test]
    async fn other_queries_health_packets_and_writes_run_each() {
        let (in_flight, calls) = (InFlight::default(), Arc::new(AtomicUsize::new(0)));
        let app = app(in_flight.clone(), Arc::clone(&calls));
        together(
            &app,
            Method::GET,
            &[
                "/api/v1/conversations?range=24h",
                "/api/v1/conversations?range=1h",
            ],
        )
        .await;
        together(&app, Method::GET, &["/api/v1/health"; 2]).await;
        together(&app, Method::GET, &["/api/v1/packets?vm=web-01"; 2]).await;
        together(&app, Method::DELETE, &["/api/v1/datasets/lab"; 2]).await;
        assert_eq!(calls.load(Ordering::SeqCst), 8);
        assert_eq!(in_flight.shared(), 0);
    }

    #[tokio::test]
    async fn followers_of_a_leader_gone_run_their_own() {
        let (in_flight, calls) = (InFlight::default(), Arc::new(AtomicUsize::new(0)));
        let app = app(in_flight.clone(), Arc::clone(&calls));
        let uri = "/api/v1/conversations";
        let leader = tokio::spawn(send(app.clone(), Method::GET, uri.into()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let follower = tokio::spawn(send(app.clone(), Method::GET, uri.into()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        leader.abort();
        let (status, body) = follower.await.unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "answer 1"));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(in_flight.shared(), 0);
    }
}
