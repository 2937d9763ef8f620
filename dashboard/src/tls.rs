//! HTTPS for the dashboard: `[tls]` (a PEM certificate chain and its
//! private key) loaded and checked into a rustls server configuration
//! (ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`), and [`TlsListener`],
//! an [`axum::serve::Listener`] that hands axum only connections whose
//! handshake succeeded.
//!
//! Handshakes run in their own tasks, each bounded by
//! [`HANDSHAKE_TIMEOUT`], so a slow or silent client never holds up the
//! others. A failed handshake (a plain-HTTP client, a client that does not
//! trust the certificate, a scanner) closes that connection only; it is
//! counted in `eastwest_dashboard_tls_handshake_failures_total`. A plain
//! HTTP request gets a plain `400` naming the fix ([`PLAIN_HTTP_MESSAGE`]).
//!
//! The certificate is read again on SIGHUP ([`reload_on_sighup`]): new
//! connections get the new one, and a file that does not load is logged
//! and the previous certificate kept.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::metrics::Metrics;

/// Longest a client may take to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[tls]` in the dashboard's configuration: both keys, or neither (plain
/// HTTP).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file with the server's certificate first, then the intermediate
    /// certificates of its chain.
    pub cert: Option<PathBuf>,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 RSA or
    /// SEC1 EC).
    pub key: Option<PathBuf>,
}

/// Why a certificate or key cannot be used. Each message names the key and
/// the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls: set both cert and key (only {set} is set)")]
    Incomplete { set: &'static str },
    #[error("tls.{key}: cannot read {path}: {source}")]
    Read {
        key: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("tls.{key}: {path}: not valid PEM: {message}")]
    Pem {
        key: &'static str,
        path: String,
        message: String,
    },
    #[error("tls.cert: {path}: no certificate in it (expected \"-----BEGIN CERTIFICATE-----\")")]
    NoCertificate { path: String },
    #[error(
        "tls.key: {path}: no private key in it (expected \"-----BEGIN PRIVATE KEY-----\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\")"
    )]
    NoKey { path: String },
    #[error("tls.key: {path}: unusable private key: {message}")]
    BadKey { path: String, message: String },
    #[error("tls.key: {key} does not match the certificate in {cert}")]
    Mismatch { key: String, cert: String },
    #[error("tls: {0}")]
    Rustls(String),
}

impl TlsConfig {
    /// Whether HTTPS is asked for.
    pub fn enabled(&self) -> bool {
        self.cert.is_some() || self.key.is_some()
    }

    /// The server configuration, or `None` without `[tls]`: both files
    /// read, parsed, and the key checked against the certificate.
    pub fn server_config(&self) -> Result<Option<Arc<ServerConfig>>, TlsError> {
        match (&self.cert, &self.key) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(TlsError::Incomplete { set: "cert" }),
            (None, Some(_)) => Err(TlsError::Incomplete { set: "key" }),
            (Some(cert), Some(key)) => load(cert, key).map(Some),
        }
    }
}

impl TlsConfig {
    /// What is usable but unwise: a private key file that every user on the
    /// machine may read.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        #[cfg(unix)]
        if let Some(key) = &self.key {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(key) {
                if meta.permissions().mode() & 0o004 != 0 {
                    out.push(format!(
                        "tls.key: {} is readable by every user; chmod o-r it",
                        key.display()
                    ));
                }
            }
        }
        out
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.display().to_string(),
        source,
    })
}

fn pem_error(key: &'static str, path: &Path, err: &pem::Error) -> TlsError {
    TlsError::Pem {
        key,
        path: path.display().to_string(),
        message: format!("{err:?}"),
    }
}

/// Read `cert_path` (the chain) and `key_path`, check that they belong
/// together, and build the server configuration.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_pem = read("cert", cert_path)?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("cert", cert_path, &e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.display().to_string(),
        });
    }
    let key_pem = read("key", key_path)?;
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey {
                path: key_path.display().to_string(),
            })
        }
        Err(e) => return Err(pem_error("key", key_path, &e)),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| TlsError::BadKey {
            path: key_path.display().to_string(),
            message: e.to_string(),
        })?;
    let certified = CertifiedKey::new(certs.clone(), signing_key);
    match certified.keys_match() {
        Ok(()) => {}
        // The key type cannot tell its public key: nothing to compare.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(TlsError::Mismatch {
                key: key_path.display().to_string(),
                cert: cert_path.display().to_string(),
            })
        }
        Err(e) => return Err(TlsError::Rustls(e.to_string())),
    }
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP listener whose connections axum gets only after a successful TLS
/// handshake. Dropping it (axum does at shutdown) stops accepting.
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Accept on `tcp` with the configuration `config` holds at each
    /// connection (so a reload applies to new connections).
    pub fn new(
        tcp: TcpListener,
        config: watch::Receiver<Arc<ServerConfig>>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (ready_tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(tcp, config, metrics, ready_tx));
        Ok(TlsListener {
            local,
            ready,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept_loop(
    tcp: TcpListener,
    config: watch::Receiver<Arc<ServerConfig>>,
    metrics: Arc<Metrics>,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait, as axum does.
                tracing::warn!(%err, "tls: accept failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let acceptor = TlsAcceptor::from(config.borrow().clone());
        let metrics = metrics.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(acceptor, stream)).await {
                Ok(Ok(tls)) => {
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(err)) => {
                    metrics.tls_handshake_failures.inc();
                    tracing::debug!(%peer, %err, "tls: handshake failed");
                }
                Err(_) => {
                    metrics.tls_handshake_failures.inc();
                    tracing::debug!(%peer, "tls: handshake timed out");
                }
            }
        });
    }
}

/// The body of the answer to a plain-HTTP request on the HTTPS port.
pub const PLAIN_HTTP_MESSAGE: &str = "This port speaks HTTPS only: use https:// in the URL.\n";

/// The TLS handshake on `stream`. A client that starts with a letter (an
/// HTTP method, not a TLS record) gets a plain `400` saying to use https
/// instead of undecodable TLS alert bytes, and the connection fails.
async fn handshake(
    acceptor: TlsAcceptor,
    mut stream: TcpStream,
) -> std::io::Result<TlsStream<TcpStream>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 1 && first[0].is_ascii_uppercase() {
        // Read the request head first: closing with unread data would
        // reset the connection before the client reads the answer.
        let mut request = [0u8; 8192];
        let _ = stream.read(&mut request).await?;
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{PLAIN_HTTP_MESSAGE}",
            PLAIN_HTTP_MESSAGE.len()
        );
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "plain HTTP on the HTTPS port (answered 400)",
        ));
    }
    acceptor.accept(stream).await
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop never ends on its own (only `Drop` aborts it).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// On every SIGHUP, load the `tls` files again and publish them to
/// `config`; a failure is logged and the certificate in use kept. Without
/// TLS (`config` is `None`) a SIGHUP is only logged: it never stops the
/// server. The configuration file itself is not re-read. Runs until the
/// process ends.
pub async fn reload_on_sighup(tls: TlsConfig, config: Option<watch::Sender<Arc<ServerConfig>>>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(hup) => hup,
            Err(err) => {
                tracing::warn!(%err, "cannot watch SIGHUP; restart to load a new certificate");
                return;
            }
        };
        while hup.recv().await.is_some() {
            let Some(config) = &config else {
                tracing::info!("SIGHUP: no [tls] certificate to reload");
                continue;
            };
            match tls.server_config() {
                Ok(Some(new)) => {
                    config.send_replace(new);
                    tracing::info!("tls: certificate reloaded (SIGHUP)");
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::error!(%err, "tls: reload failed; still serving the previous certificate");
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (tls, config);
    }
}
