//! eastwest-dashboard: a JSON API and a web page over the flows the
//! collector stores in ClickHouse.
//!
//! * [`alerts`] — violations and co-residency periods to a webhook and syslog.
//! * [`api`] — [`router`] and the handlers.
//! * [`error`] — [`ApiError`](error::ApiError), what every handler answers on failure.
//! * [`auth`] — bearer tokens, roles and the [`Viewer`](auth::Viewer) / [`Admin`](auth::Admin) extractors.
//! * [`query`] — the checked parameters of every endpoint.
//! * [`model`] — the rows the API returns, as JSON and CSV.
//! * [`report`] — the compliance report: assembly, HTML, CSV, PDF.
//! * [`coalesce`] — identical reads in flight share one answer.
//! * [`sql`] — the SQL of every query, values bound, rollup chosen.
//! * [`store`] — the [`Store`](store::Store) trait and its ClickHouse implementation.
//! * [`metrics`] — `GET /metrics` (Prometheus text).
//! * [`config`] — the TOML configuration and its command-line overrides.
//! * [`tls`] — HTTPS: `[tls]` certificate and key, the TLS listener, reload on SIGHUP.
//! * `web` — the page, compiled into the binary.
//!
//! `main.rs` parses the command line and calls [`run`].

pub mod alerts;
pub mod api;
pub mod auth;
pub mod coalesce;
pub mod config;
pub mod doc;
pub mod error;
pub mod metrics;
pub mod model;
pub mod policy;
pub mod query;
pub mod report;
pub mod sql;
pub mod store;
pub mod tls;
mod web;

pub use api::{openapi, packets};

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;

use crate::api::{router, AppState, PdfRenderer};
use crate::config::{Config, ConfigError};
use crate::policy::{ClickHousePolicyStore, PolicyApi};
use crate::store::{ClickHouseStore, ConnectError};

/// Command line of `eastwest-dashboard`. Flags override the config file.
#[derive(Debug, Parser)]
#[command(
    name = "eastwest-dashboard",
    version,
    about = "JSON API and web page over eastwest's flows in ClickHouse"
)]
pub struct Cli {
    /// TOML configuration file (see deploy/dashboard.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// ClickHouse HTTP interface [default: http://127.0.0.1:18123].
    #[arg(long, value_name = "URL")]
    pub clickhouse_url: Option<String>,
    /// ClickHouse database [default: eastwest].
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (`tls.cert`; needs --tls-key).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert: PKCS#8, RSA or SEC1 (`tls.key`).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Check the configuration, print it and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Read a token on standard input, print its SHA-256 for `auth.tokens` and exit.
    #[arg(long)]
    pub hash_token: bool,
}

impl Cli {
    /// The configuration: the file (or the defaults), then the flags, checked.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(listen) = &self.listen {
            config.listen = listen.clone();
        }
        if let Some(url) = &self.clickhouse_url {
            config.clickhouse.url = url.clone();
        }
        if let Some(database) = &self.database {
            config.clickhouse.database = database.clone();
        }
        if let Some(cert) = &self.tls_cert {
            config.tls.cert = Some(cert.clone());
        }
        if let Some(key) = &self.tls_key {
            config.tls.key = Some(key.clone());
        }
        config.check()?;
        Ok(config)
    }
}

/// Why the dashboard could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("alerts: {0}")]
    Alerts(std::io::Error),
    #[error("serving HTTP failed: {0}")]
    Serve(std::io::Error),
}

/// Listen, connect to ClickHouse and serve until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let addr = config.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    let auth = config.auth()?;
    let tls = config.tls.server_config().map_err(ConfigError::from)?;
    for warning in config.tls.warnings() {
        tracing::warn!("{warning}");
    }
    let metrics = Arc::new(metrics::Metrics::default());
    let store = ClickHouseStore::connect(&config.clickhouse_settings())
        .await?
        .with_metrics(metrics.clone());
    // Time series' settled buckets, sealed in the background.
    tokio::spawn(
        store
            .clone()
            .seal_series_in_background(std::time::Duration::from_secs(60)),
    );
    // The tables read by conversation key, each partition in one part.
    tokio::spawn(store.clone().compact_in_background(store::COMPACT_INTERVAL));
    let policy_store = ClickHousePolicyStore::new(store.client(), &config.clickhouse.database);
    let policy_api = Arc::new(PolicyApi::new(config.policy.clone(), policy_store));
    let (stop_alerts, alerts_stopped) = tokio::sync::oneshot::channel::<()>();
    if config.alerts.enabled() {
        let alerter = alerts::Alerter::new(
            config.alerts.clone(),
            config.policy.clone(),
            store.clone(),
            ClickHousePolicyStore::new(store.client(), &config.clickhouse.database),
        )
        .await
        .map_err(RunError::Alerts)?
        .with_metrics(metrics.clone());
        tokio::spawn(alerter.run(async {
            let _ = alerts_stopped.await;
        }));
    }
    let mut state = AppState::new(store, config.api.max_limit);
    if config.policy.policy.is_some() && config.policy.inventory.is_some() {
        state = state.with_coresidency(policy_api.clone());
    }
    let app = router(
        state
            .with_auth(auth.clone())
            .with_stale_after(std::time::Duration::from_secs(
                config.api.stale_after_seconds,
            ))
            .with_timeseries_max_minute_rows(config.api.timeseries_max_minute_rows)
            .with_live_dataset(&config.api.live_dataset)
            .with_packets(config.packets.clone())
            .with_metrics(metrics.clone())
            .with_pdf(PdfRenderer {
                program: config.report.chromium.clone(),
                timeout: std::time::Duration::from_secs(config.report.timeout_seconds),
            }),
    )
    .merge(policy::router(policy_api, Arc::new(auth)))
    .route(
        "/metrics",
        axum::routing::get(metrics::handler).with_state(metrics.clone()),
    )
    .route_layer(axum::middleware::from_fn_with_state(
        metrics.clone(),
        metrics::track,
    ));
    // With TLS, connections are handed to axum after their handshake; the
    // certificate is reloaded on SIGHUP (without TLS, SIGHUP is only logged).
    enum Listening {
        Plain(tokio::net::TcpListener),
        Tls(tls::TlsListener),
    }
    let (listening, current) = match tls {
        Some(server_config) => {
            let (current, watched) = tokio::sync::watch::channel(server_config);
            let failures = metrics.clone();
            let on_failure = move || {
                failures.tls_handshake_failures.inc();
            };
            let listener =
                tls::TlsListener::new(listener, watched, on_failure).map_err(|source| {
                    RunError::Listen {
                        addr: addr.to_string(),
                        source,
                    }
                })?;
            (Listening::Tls(listener), Some(current))
        }
        None => (Listening::Plain(listener), None),
    };
    let reload = tokio::spawn(tls::reload_on_sighup(config.tls.clone(), current));
    let served = match listening {
        Listening::Tls(listener) => {
            tracing::info!(url = %format!("https://{addr}/"), "dashboard listening");
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Listening::Plain(listener) => {
            tracing::info!(url = %format!("http://{addr}/"), "dashboard listening");
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
    .map_err(RunError::Serve);
    reload.abort();
    let _ = stop_alerts.send(());
    served
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}
