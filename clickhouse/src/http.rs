//! The HTTP client under every ClickHouse connection, for `http://` and
//! `https://` URLs alike: rustls with the ring provider, trusting the
//! system's CA certificates (rustls-native-certs, so `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` name a private CA).
//!
//! The clickhouse crate's own default client panics when no CA certificate
//! can be loaded at all (a machine without ca-certificates, or an
//! `SSL_CERT_FILE` that does not exist), even for an `http://` URL. This one
//! starts with what it found: an `https://` server is then refused with
//! `invalid peer certificate: UnknownIssuer`, and [`trust_problems`] says
//! why no CA was loaded.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

/// TCP keep-alive on ClickHouse connections (as the clickhouse crate).
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// Idle pooled connections are dropped before ClickHouse's own 3 s.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// A ClickHouse client (no URL yet) over http or https.
pub fn client() -> clickhouse::Client {
    let mut http = HttpConnector::new();
    http.set_keepalive(Some(TCP_KEEPALIVE));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    clickhouse::Client::with_http_client(
        HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector),
    )
}

fn tls_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    // The workspace builds rustls with the ring provider only, so the
    // process default is ring.
    rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Why no CA certificate could be loaded (e.g. `SSL_CERT_FILE` names a
/// missing file), for a start-up warning when the URL is `https://`;
/// `None` when at least one was.
pub fn trust_problems() -> Option<String> {
    let found = rustls_native_certs::load_native_certs();
    if !found.certs.is_empty() {
        return None;
    }
    let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
    Some(if errors.is_empty() {
        "no CA certificates found in the system store (install ca-certificates, or set SSL_CERT_FILE to a PEM file of CAs)".to_string()
    } else {
        format!("no CA certificates loaded: {}", errors.join("; "))
    })
}
