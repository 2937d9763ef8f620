//! Where alerts go: the webhook and syslog, and why a delivery failed.

use std::net::SocketAddr;

use eastwest_core::error::Chain;

use super::message::Alert;
use super::Alerter;
use crate::policy::PolicyStore;
use crate::store::Store;

/// Why a webhook delivery failed, for the log and
/// `eastwest_dashboard_alert_failures_total{reason}`: `tls` (handshake,
/// untrusted certificate), `timeout`, `connect`, `status` (not 2xx) or
/// `other`.
fn webhook_failure(err: &reqwest::Error) -> &'static str {
    if is_tls(err) {
        "tls"
    } else if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else {
        "other"
    }
}

/// Whether a rustls error is among `err`'s causes. `io::Error::source`
/// skips the error it wraps (hyper-rustls nests two), so look inside.
fn is_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    if err.is::<rustls::Error>() {
        return true;
    }
    if let Some(inner) = err
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        if is_tls(inner) {
            return true;
        }
    }
    err.source().is_some_and(is_tls)
}

/// Where alerts go.
#[derive(Debug)]
pub(super) struct Sinks {
    pub(super) webhook: Option<(reqwest::Client, String)>,
    pub(super) syslog: Option<(tokio::net::UdpSocket, SocketAddr)>,
    pub(super) facility: u8,
    pub(super) hostname: String,
}

impl<S: Store, P: PolicyStore> Alerter<S, P> {
    /// POST `alert` to the webhook; whether it took it (a failure is
    /// logged and counted by reason).
    pub(super) async fn send_webhook(&self, alert: &Alert) -> bool {
        let Some((client, url)) = &self.sinks.webhook else {
            return false;
        };
        let reason = match client.post(url).json(alert).send().await {
            Ok(resp) if resp.status().is_success() => return true,
            Ok(resp) => {
                tracing::warn!(status = %resp.status(), "alerts: webhook refused an alert");
                "status"
            }
            Err(err) => {
                let reason = webhook_failure(&err);
                tracing::warn!(reason, err = %Chain(&err), "alerts: webhook delivery failed");
                reason
            }
        };
        self.count_failure("webhook", reason);
        false
    }

    /// Send `alert` to syslog; whether the datagram went out.
    pub(super) async fn send_syslog(&self, alert: &Alert, now_ms: u64) -> bool {
        let Some((socket, target)) = &self.sinks.syslog else {
            return false;
        };
        let line = alert.syslog_line(self.sinks.facility, now_ms, &self.sinks.hostname);
        match socket.send_to(line.as_bytes(), target).await {
            Ok(_) => true,
            Err(err) => {
                tracing::warn!(%err, "alerts: syslog send failed");
                self.count_failure("syslog", "send");
                false
            }
        }
    }

    pub(super) fn count_failure(&self, destination: &'static str, reason: &'static str) {
        if let Some(metrics) = &self.metrics {
            metrics.alert_failed(destination, reason);
        }
    }
}
