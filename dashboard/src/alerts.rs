//! Alerts: violations and new co-residency periods, sent as a webhook (one
//! JSON `POST` per alert) and/or a syslog line (RFC 5424 over UDP).
//!
//! The [`Alerter`] polls; nothing is added to the collector's path. Every
//! `poll_seconds` it reads the violating conversations whose flows started
//! in the last `lookback_seconds` (raw flows, the store's
//! [`Store::violations`]), keeps those of at least `min_severity`, and sends
//! each conversation (client, server, protocol, port, rule) at most once per
//! `dedup_seconds`: again after that only if it has new flows since the last
//! alert. With `[policy]` files configured it also computes the co-residency
//! periods (VMs of zones a `separate` pair keeps apart on one host, from the
//! inventory and the stored inventory events) and sends each period that is
//! current and not yet announced.
//!
//! With `state_file` set, what it remembers (when each conversation last
//! alerted, the periods announced, the alerts waiting for the webhook) is
//! written there after each poll that changed it and read back at start,
//! so a restart neither repeats alerts nor loses those the webhook did not
//! take. Without it a restart forgets: the violations and periods of the
//! lookback window alert again, and the waiting alerts are lost.
//!
//! Time is passed in ([`Alerter::poll`] takes `now`), so tests drive it.

use eastwest_core::clock;
use std::cmp::Reverse;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use eastwest_clickhouse::schema::INVENTORY_EVENTS_TABLE;
use eastwest_core::inventory::{Inventory, CURRENT};
use eastwest_core::policy::{Policy, VerdictKind};
use eastwest_core::severity::Severity;

use crate::model::Violation;
use crate::policy::{PolicyConfig, PolicyStore};
use crate::query::{Filters, Format, Params, Sort, TimeWindow};
use crate::store::Store;
use config::ca_certificates;
use memory::{replace_file, Memory, Pending};
use sink::Sinks;

mod config;
mod memory;
mod message;
mod sink;

pub use config::AlertsConfig;
pub use message::Alert;

/// A severity's rank, the most severe first (`eastwest_core::severity`'s
/// order reversed); a severity not listed ranks below them all.
fn rank(severity: &str) -> Reverse<Option<Severity>> {
    Reverse(Severity::parse(severity))
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollOutcome {
    /// Alerts sent (to at least one destination).
    pub sent: u64,
    /// Alerts held back by the de-duplication window.
    pub suppressed: u64,
    /// Sends that failed (per destination and attempt).
    pub failed: u64,
    /// Alerts the webhook took on a later poll than their first.
    pub retried: u64,
    /// Alerts waiting for the webhook after this poll.
    pub pending: u64,
}

/// The alert poller. [`Alerter::run`] loops; [`Alerter::poll`] is one
/// round, with the time passed in.
#[derive(Debug)]
pub struct Alerter<S, P> {
    config: AlertsConfig,
    policy: PolicyConfig,
    store: S,
    policy_store: P,
    sinks: Sinks,
    memory: Memory,
    /// What `state_file` holds (not written again unchanged).
    saved: Vec<u8>,
    /// Alerts sent since start.
    pub total_sent: u64,
    /// Where sent and failed alerts are counted (`/metrics`).
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl<S: Store, P: PolicyStore> Alerter<S, P> {
    /// Bind the syslog socket and build the webhook client.
    pub async fn new(
        config: AlertsConfig,
        policy: PolicyConfig,
        store: S,
        policy_store: P,
    ) -> std::io::Result<Alerter<S, P>> {
        config.check().map_err(std::io::Error::other)?;
        let webhook = match &config.webhook_url {
            Some(url) => {
                let mut client =
                    reqwest::Client::builder().timeout(Duration::from_secs(config.timeout_seconds));
                if let Some(path) = &config.webhook_ca_file {
                    for cert in ca_certificates(path).map_err(std::io::Error::other)? {
                        client = client.add_root_certificate(cert);
                    }
                }
                Some((client.build().map_err(std::io::Error::other)?, url.clone()))
            }
            None => None,
        };
        let syslog = match &config.syslog {
            Some(addr) => {
                let target: SocketAddr = addr
                    .parse()
                    .map_err(|_| std::io::Error::other(format!("alerts.syslog: {addr:?}")))?;
                let local = if target.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                Some((tokio::net::UdpSocket::bind(local).await?, target))
            }
            None => None,
        };
        let memory = match &config.state_file {
            Some(path) => Memory::load(path)?,
            None => Memory::new(),
        };
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        Ok(Alerter {
            sinks: Sinks {
                webhook,
                syslog,
                facility: config.syslog_facility,
                hostname,
            },
            config,
            policy,
            store,
            policy_store,
            memory,
            saved: Vec::new(),
            total_sent: 0,
            metrics: None,
        })
    }

    /// Count sent and failed alerts in `metrics`.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Poll every `poll_seconds` until `shutdown` completes; errors are
    /// logged and the next poll tries again.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(Duration::from_secs(self.config.poll_seconds));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => {
                    let now = clock::now_ms();
                    match self.poll(now).await {
                        Ok(o) if o.sent + o.failed + o.retried > 0 => tracing::info!(
                            sent = o.sent, suppressed = o.suppressed, failed = o.failed,
                            retried = o.retried, pending = o.pending, "alerts"),
                        Ok(_) => {}
                        Err(err) => tracing::warn!(%err, "alerts: poll failed; trying again next time"),
                    }
                }
            }
        }
    }

    /// One round at `now_ms`: read, filter, de-duplicate, send.
    pub async fn poll(&mut self, now_ms: u64) -> Result<PollOutcome, String> {
        let mut outcome = PollOutcome::default();
        let mut alerts = Vec::new();
        for violation in self.violations(now_ms).await? {
            if Reverse(violation.severity) > rank(&self.config.min_severity) {
                continue;
            }
            let key = format!(
                "{}|{}|{}|{}|{}|{}|{}",
                violation.client_vm,
                violation.client_addr.as_deref().unwrap_or(""),
                violation.server_vm,
                violation.server_addr.as_deref().unwrap_or(""),
                violation.proto,
                violation.server_port,
                violation.rule
            );
            match self.memory.sent.get(&key) {
                Some(&(at, last_ms))
                    if now_ms < at + self.config.dedup_seconds * 1000
                        || violation.last_ms <= last_ms =>
                {
                    outcome.suppressed += 1;
                }
                _ => {
                    self.memory.sent.insert(key, (now_ms, violation.last_ms));
                    alerts.push(Alert::Violation(Box::new(violation)));
                }
            }
        }
        if self.config.coresidency {
            alerts.extend(self.new_periods().await?);
        }
        // Forget conversations whose window has passed and that are quiet.
        let keep_ms = (self.config.dedup_seconds + self.config.lookback_seconds) * 1000;
        self.memory.sent.retain(|_, (at, _)| *at + keep_ms > now_ms);
        // The webhook first gets what it did not take before, in order,
        // until it refuses one (it is still down: the rest wait, and so do
        // the new alerts, behind them).
        let mut webhook_down = self.retry_pending(now_ms, &mut outcome).await;
        for alert in alerts {
            let mut delivered = false;
            if self.sinks.syslog.is_some() {
                if self.send_syslog(&alert, now_ms).await {
                    delivered = true;
                } else {
                    outcome.failed += 1;
                }
            }
            if self.sinks.webhook.is_some() {
                let retrying = self.config.retry_seconds > 0;
                if retrying && (webhook_down || !self.memory.pending.is_empty()) {
                    self.hold(alert, now_ms, delivered);
                } else if self.send_webhook(&alert).await {
                    delivered = true;
                } else {
                    outcome.failed += 1;
                    webhook_down = true;
                    self.hold(alert, now_ms, delivered);
                }
            }
            if delivered {
                outcome.sent += 1;
            }
        }
        outcome.pending = self.memory.pending.len() as u64;
        self.total_sent += outcome.sent;
        self.save();
        if let Some(metrics) = &self.metrics {
            metrics.alerts_sent.inc_by(outcome.sent);
            metrics.alerts_pending.set(outcome.pending);
        }
        Ok(outcome)
    }

    /// Offer the waiting alerts to the webhook, oldest first, giving up
    /// those older than `retry_seconds`; whether it refused one.
    async fn retry_pending(&mut self, now_ms: u64, outcome: &mut PollOutcome) -> bool {
        let retry_ms = self.config.retry_seconds.saturating_mul(1000);
        while let Some(p) = self.memory.pending.front() {
            if p.since_ms.saturating_add(retry_ms) > now_ms {
                break;
            }
            tracing::error!(
                alert = %p.alert.message(),
                "alerts: the webhook did not take this alert within alerts.retry_seconds; given up"
            );
            self.count_failure("webhook", "expired");
            self.memory.pending.pop_front();
        }
        while let Some(p) = self.memory.pending.front() {
            if !self.send_webhook(&p.alert).await {
                outcome.failed += 1;
                return true;
            }
            outcome.retried += 1;
            if !p.counted {
                outcome.sent += 1;
            }
            self.memory.pending.pop_front();
        }
        false
    }

    /// Keep `alert` for the webhook's next chance (unless retries are
    /// off); past `max_pending` the oldest waiting one is given up.
    fn hold(&mut self, alert: Alert, now_ms: u64, counted: bool) {
        if self.config.retry_seconds == 0 {
            return;
        }
        if self.memory.pending.len() as u64 >= self.config.max_pending {
            if let Some(oldest) = self.memory.pending.pop_front() {
                tracing::error!(
                    alert = %oldest.alert.message(),
                    "alerts: more than alerts.max_pending alerts wait for the webhook; the oldest is given up"
                );
                self.count_failure("webhook", "overflow");
            }
        }
        self.memory.pending.push_back(Pending {
            alert,
            since_ms: now_ms,
            counted,
        });
    }

    async fn violations(&self, now_ms: u64) -> Result<Vec<Violation>, String> {
        let mut out = Vec::new();
        let mut params = Params {
            window: Some(TimeWindow {
                from_ms: now_ms.saturating_sub(self.config.lookback_seconds * 1000),
                to_ms: now_ms.max(1),
            }),
            filters: Filters {
                verdict: Some(VerdictKind::Violation),
                ..Filters::default()
            },
            limit: 1000,
            offset: 0,
            sort: Sort::default(),
            format: Format::Json,
        };
        loop {
            let (page, total) = self
                .store
                .violations(&params)
                .await
                .map_err(|e| e.to_string())?;
            let n = page.len() as u64;
            out.extend(page);
            params.offset += n;
            if n == 0 || params.offset >= total {
                return Ok(out);
            }
        }
    }

    /// Current co-residency periods not announced yet.
    fn new_periods_of(&mut self, policy: &Policy, inventory: &Inventory) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let mut current = HashSet::new();
        for period in policy.separation_periods(inventory) {
            if period.until_ms != CURRENT {
                continue;
            }
            let p = period.pair;
            let key = format!("{}|{}|{}|{}", p.host, p.vms.0, p.vms.1, period.since_ms);
            current.insert(key.clone());
            if self.memory.periods.insert(key) {
                alerts.push(Alert::Coresidency {
                    host: p.host,
                    zones: [p.zones.0, p.zones.1],
                    vms: [p.vms.0, p.vms.1],
                    since_ms: period.since_ms,
                    severity: "high".into(),
                });
            }
        }
        // A period that ended cannot come back (another starts, with its
        // own `since`): forget it.
        self.memory.periods.retain(|key| current.contains(key));
        alerts
    }

    /// Write the memory to `state_file` if it changed; a failure is logged
    /// and the next poll tries again.
    fn save(&mut self) {
        let Some(path) = &self.config.state_file else {
            return;
        };
        let bytes = match serde_json::to_vec(&self.memory) {
            Ok(bytes) if bytes != self.saved => bytes,
            _ => return,
        };
        match replace_file(path, &bytes) {
            Ok(()) => self.saved = bytes,
            Err(err) => tracing::error!(
                file = %path.display(), %err,
                "alerts: cannot write the state file; trying again after the next poll"
            ),
        }
    }

    async fn new_periods(&mut self) -> Result<Vec<Alert>, String> {
        let (Some(policy_path), Some(inventory_path)) =
            (self.policy.policy.clone(), self.policy.inventory.clone())
        else {
            return Ok(Vec::new());
        };
        let policy = Policy::load(&policy_path).map_err(|e| e.to_string())?;
        let inventory = Inventory::load(&inventory_path).map_err(|e| e.to_string())?;
        let events = self
            .policy_store
            .events()
            .await
            .map_err(|e| e.to_string())?;
        let inventory = inventory.with_events(&events, INVENTORY_EVENTS_TABLE).0;
        Ok(self.new_periods_of(&policy, &inventory))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn config_values_are_checked_by_key() {
        assert!(AlertsConfig::default().check().is_ok());
        assert!(!AlertsConfig::default().enabled());
        let bad = |c: AlertsConfig| c.check().unwrap_err();
        assert!(AlertsConfig {
            webhook_url: Some("https://hooks.example:8443/eastwest".into()),
            ..AlertsConfig::default()
        }
        .check()
        .is_ok());
        assert!(bad(AlertsConfig {
            webhook_url: Some("ftp://x".into()),
            ..AlertsConfig::default()
        })
        .starts_with("alerts.webhook_url"));
        assert!(bad(AlertsConfig {
            webhook_url: Some("127.0.0.1:9000".into()),
            ..AlertsConfig::default()
        })
        .starts_with("alerts.webhook_url"));
        assert!(bad(AlertsConfig {
            webhook_url: Some("http://127.0.0.1:9000/".into()),
            webhook_ca_file: Some("/etc/ssl/certs/ca-certificates.crt".into()),
            ..AlertsConfig::default()
        })
        .starts_with("alerts.webhook_ca_file: only used with an https://"));
        let missing = bad(AlertsConfig {
            webhook_url: Some("https://127.0.0.1:9000/".into()),
            webhook_ca_file: Some("/nonexistent/ca.pem".into()),
            ..AlertsConfig::default()
        });
        assert!(
            missing.starts_with("alerts.webhook_ca_file: cannot read /nonexistent/ca.pem"),
            "{missing}"
        );
        assert!(bad(AlertsConfig {
            syslog: Some("localhost".into()),
            ..AlertsConfig::default()
        })
        .starts_with("alerts.syslog"));
        assert!(bad(AlertsConfig {
            min_severity: "urgent".into(),
            ..AlertsConfig::default()
        })
        .starts_with("alerts.min_severity"));
        assert!(bad(AlertsConfig {
            poll_seconds: 0,
            ..AlertsConfig::default()
        })
        .starts_with("alerts.poll_seconds"));
        assert!(bad(AlertsConfig {
            state_file: Some("/tmp".into()),
            ..AlertsConfig::default()
        })
        .starts_with("alerts.state_file: /tmp is a directory"));
        let missing = Memory::load(Path::new("/nonexistent/alerts.json")).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("the directory /nonexistent does not exist"),
            "{missing}"
        );
    }

    #[test]
    fn severities_rank_and_lines_follow_rfc5424() {
        assert!(rank("critical") < rank("high"));
        assert!(rank("low") < rank("whatever"));
        let alert = Alert::Coresidency {
            host: "esx-03".into(),
            zones: ["payroll".into(), "finance-frontend".into()],
            vms: ["payroll-01".into(), "fin-fe-01".into()],
            since_ms: 0,
            severity: "high".into(),
        };
        let line = alert.syslog_line(16, 1_793_613_600_123, "");
        assert!(
            line.starts_with("<131>1 2026-11-02T10:00:00.123Z - eastwest-dashboard "),
            "{line}"
        );
        assert!(
            line.contains(" coresidency - coresidency host esx-03 "),
            "{line}"
        );
    }
}
