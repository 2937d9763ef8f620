//! `[alerts]` of the dashboard's configuration and its checks.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use eastwest_core::severity::{Severity, NAMES};

/// `[alerts]` in the dashboard's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// `http://…` or `https://…` URL that receives one JSON `POST` per
    /// alert. https trusts the system's roots and `webhook_ca_file`.
    pub webhook_url: Option<String>,
    /// PEM file of CA certificates (a private CA) also trusted for an
    /// https `webhook_url`.
    pub webhook_ca_file: Option<std::path::PathBuf>,
    /// `ADDR:PORT` of a syslog receiver (RFC 5424 over UDP).
    pub syslog: Option<String>,
    /// Syslog facility number (16 = local0).
    pub syslog_facility: u8,
    /// Least severe rule severity that alerts (`critical`, `high`,
    /// `medium`, `low`, `info`).
    pub min_severity: String,
    /// A conversation alerts at most once per this many seconds.
    pub dedup_seconds: u64,
    /// How often the flows are polled.
    pub poll_seconds: u64,
    /// How far back each poll looks (flows reach ClickHouse up to the
    /// exporters' active timeout after they start).
    pub lookback_seconds: u64,
    /// Also alert on co-residency periods (needs `[policy]` files).
    pub coresidency: bool,
    /// Longest a webhook `POST` may take.
    pub timeout_seconds: u64,
    /// How long an alert the webhook did not take is offered to it again,
    /// once per poll, oldest first (0: never).
    pub retry_seconds: u64,
    /// Most alerts waiting for the webhook; past it the oldest is given up.
    pub max_pending: u64,
    /// File that keeps the alerter's memory across restarts (JSON, replaced
    /// atomically after each poll that changed it; its directory must
    /// exist); none: memory only.
    pub state_file: Option<PathBuf>,
}

impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        AlertsConfig {
            webhook_url: None,
            webhook_ca_file: None,
            syslog: None,
            syslog_facility: 16,
            min_severity: "high".into(),
            dedup_seconds: 3600,
            poll_seconds: 30,
            lookback_seconds: 900,
            coresidency: true,
            timeout_seconds: 10,
            retry_seconds: 3600,
            max_pending: 1000,
            state_file: None,
        }
    }
}

impl AlertsConfig {
    /// Whether any destination is configured.
    pub fn enabled(&self) -> bool {
        self.webhook_url.is_some() || self.syslog.is_some()
    }

    /// Problems with the values, each naming its key.
    pub fn check(&self) -> Result<(), String> {
        if let Some(url) = &self.webhook_url {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| format!("alerts.webhook_url: {url:?} is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(format!(
                    "alerts.webhook_url: expected an http:// or https:// URL, got {url:?}"
                ));
            }
        }
        if let Some(path) = &self.webhook_ca_file {
            if !self
                .webhook_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
            {
                return Err(
                    "alerts.webhook_ca_file: only used with an https:// webhook_url".into(),
                );
            }
            ca_certificates(path)?;
        }
        if let Some(addr) = &self.syslog {
            addr.parse::<SocketAddr>()
                .map_err(|_| format!("alerts.syslog: expected ADDR:PORT, got {addr:?}"))?;
        }
        if let Some(path) = &self.state_file {
            if path.file_name().is_none() || path.is_dir() {
                return Err(format!(
                    "alerts.state_file: {} is a directory; expected a file's path",
                    path.display()
                ));
            }
        }
        if Severity::parse(&self.min_severity).is_none() {
            let most_severe_first: Vec<&str> = NAMES.into_iter().rev().collect();
            return Err(format!(
                "alerts.min_severity: expected one of {}, got {:?}",
                most_severe_first.join(", "),
                self.min_severity
            ));
        }
        if self.syslog_facility > 23 {
            return Err("alerts.syslog_facility: expected 0 to 23".into());
        }
        for (key, value) in [
            ("poll_seconds", self.poll_seconds),
            ("lookback_seconds", self.lookback_seconds),
            ("timeout_seconds", self.timeout_seconds),
            ("max_pending", self.max_pending),
        ] {
            if value == 0 {
                return Err(format!("alerts.{key}: must be at least 1"));
            }
        }
        Ok(())
    }
}

/// The certificates of `alerts.webhook_ca_file`, at least one.
pub(super) fn ca_certificates(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| format!("alerts.webhook_ca_file: cannot read {shown}: {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("alerts.webhook_ca_file: {shown}: not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "alerts.webhook_ca_file: {shown}: no certificate in it (expected \"-----BEGIN CERTIFICATE-----\")"
        ));
    }
    Ok(certs)
}
