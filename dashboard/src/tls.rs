//! HTTPS for the dashboard: `[tls]`, the TLS listener and the reload on
//! SIGHUP, shared with the exporter's evidence server in
//! [`eastwest_tls`]. A failed handshake is counted in
//! `eastwest_dashboard_tls_handshake_failures_total`.

pub use eastwest_tls::{
    load, reload_on_sighup, TlsConfig, TlsError, TlsListener, HANDSHAKE_TIMEOUT, PLAIN_HTTP_MESSAGE,
};
