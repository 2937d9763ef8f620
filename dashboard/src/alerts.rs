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
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eastwest_clickhouse::schema::INVENTORY_EVENTS_TABLE;
use eastwest_core::inventory::{Inventory, CURRENT};
use eastwest_core::policy::Policy;
use serde::{Deserialize, Serialize};

use crate::model::Violation;
use crate::policy::{PolicyConfig, PolicyStore};
use crate::query::{Filters, Format, Params, Sort, TimeWindow, Verdict};
use crate::store::Store;

/// Severities from the most to the least severe; a severity not listed
/// ranks below them all.
pub const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];

fn rank(severity: &str) -> usize {
    SEVERITIES
        .iter()
        .position(|s| *s == severity)
        .unwrap_or(SEVERITIES.len())
}

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
        if rank(&self.min_severity) == SEVERITIES.len() {
            return Err(format!(
                "alerts.min_severity: expected one of {}, got {:?}",
                SEVERITIES.join(", "),
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
fn ca_certificates(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
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

/// `err` and its causes on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// One alert, as the webhook receives it (`kind` tells which).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Alert {
    /// A violating conversation.
    Violation(Box<Violation>),
    /// VMs of two zones that must not share a host do.
    Coresidency {
        host: String,
        zones: [String; 2],
        vms: [String; 2],
        /// Epoch ms; 0 = since the inventory's beginning.
        since_ms: u64,
        severity: String,
    },
}

impl Alert {
    fn severity(&self) -> &str {
        match self {
            Alert::Violation(v) => &v.severity,
            Alert::Coresidency { severity, .. } => severity,
        }
    }

    /// The syslog line's message.
    pub fn message(&self) -> String {
        match self {
            Alert::Violation(v) => format!(
                "violation {} -> {} proto {} port {} ({} -> {}) rule {:?} severity {} flows {} bytes {} last_ms {}",
                name_or(&v.client_vm, v.client_addr.as_deref()),
                name_or(&v.server_vm, v.server_addr.as_deref()),
                v.proto,
                v.server_port,
                v.client_zone,
                v.server_zone,
                v.rule,
                v.severity,
                v.flows,
                v.bytes,
                v.last_ms
            ),
            Alert::Coresidency {
                host,
                zones,
                vms,
                since_ms,
                ..
            } => format!(
                "coresidency host {host} zones {} and {} must not share a host: {} and {} since_ms {since_ms}",
                zones[0], zones[1], vms[0], vms[1]
            ),
        }
    }

    /// The whole RFC 5424 line: `<PRI>1 TIMESTAMP HOST eastwest-dashboard
    /// PID MSGID - MSG`.
    pub fn syslog_line(&self, facility: u8, now_ms: u64, hostname: &str) -> String {
        let level = match self.severity() {
            "critical" => 2,
            "high" => 3,
            "medium" => 4,
            "low" => 5,
            _ => 6,
        };
        let msgid = match self {
            Alert::Violation(_) => "violation",
            Alert::Coresidency { .. } => "coresidency",
        };
        let pri = u16::from(facility) * 8 + level;
        format!(
            "<{pri}>1 {} {} eastwest-dashboard {} {msgid} - {}",
            rfc3339_ms(now_ms),
            if hostname.is_empty() { "-" } else { hostname },
            std::process::id(),
            self.message()
        )
    }
}

fn name_or(vm: &str, addr: Option<&str>) -> String {
    if vm.is_empty() {
        addr.unwrap_or("?").to_string()
    } else {
        vm.to_string()
    }
}

fn rfc3339_ms(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

/// Where alerts go.
#[derive(Debug)]
struct Sinks {
    webhook: Option<(reqwest::Client, String)>,
    syslog: Option<(tokio::net::UdpSocket, SocketAddr)>,
    facility: u8,
    hostname: String,
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

/// An alert the webhook has not taken yet.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pending {
    alert: Alert,
    /// When the webhook first failed to take it.
    since_ms: u64,
    /// Counted as sent (another destination took it).
    counted: bool,
}

/// What the alerter remembers between polls, and in
/// [`AlertsConfig::state_file`] across restarts.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Memory {
    /// [`MEMORY_VERSION`]: a file of another layout is set aside.
    version: u32,
    /// Per conversation: when it last alerted, and its last flow then.
    sent: HashMap<String, (u64, u64)>,
    /// Current co-residency periods announced (host, VMs, since).
    periods: HashSet<String>,
    /// Alerts the webhook did not take yet, oldest first.
    pending: VecDeque<Pending>,
}

const MEMORY_VERSION: u32 = 1;

impl Memory {
    fn new() -> Memory {
        Memory {
            version: MEMORY_VERSION,
            ..Memory::default()
        }
    }

    /// The memory kept in `path`: empty when there is none yet. A file
    /// that cannot be understood (damaged, another version) is renamed to
    /// `PATH.bad` and named in the log, and the alerter starts afresh; one
    /// it may not read is an error (the service's permissions are wrong).
    fn load(path: &Path) -> std::io::Result<Memory> {
        let shown = path.display();
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "alerts.state_file: {shown}: the directory {} does not exist",
                    dir.display()
                ),
            ));
        }
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Memory::new()),
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("alerts.state_file: cannot read {shown}: {e}"),
                ))
            }
        };
        let why = match serde_json::from_slice::<Memory>(&bytes) {
            Ok(memory) if memory.version == MEMORY_VERSION => return Ok(memory),
            Ok(memory) => format!(
                "version {}, this dashboard keeps version {MEMORY_VERSION}",
                memory.version
            ),
            // serde_json names the line, column and field.
            Err(e) => e.to_string(),
        };
        let aside = PathBuf::from(format!("{shown}.bad"));
        let moved = std::fs::rename(path, &aside);
        tracing::error!(
            file = %shown, %why, set_aside = %aside.display(), rename = ?moved.err(),
            "alerts: the state file is not usable; starting with no memory of earlier alerts"
        );
        Ok(Memory::new())
    }
}

/// Write `bytes` to `path` atomically: a temporary file beside it,
/// synced, then renamed over it.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
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
            if rank(&violation.severity) > rank(&self.config.min_severity) {
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
            use std::sync::atomic::Ordering;
            metrics
                .alerts_sent
                .fetch_add(outcome.sent, Ordering::Relaxed);
            metrics
                .alerts_pending
                .store(outcome.pending, Ordering::Relaxed);
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
                verdict: Some(Verdict::Violation),
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

    /// POST `alert` to the webhook; whether it took it (a failure is
    /// logged and counted by reason).
    async fn send_webhook(&self, alert: &Alert) -> bool {
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
                tracing::warn!(reason, err = %error_chain(&err), "alerts: webhook delivery failed");
                reason
            }
        };
        self.count_failure("webhook", reason);
        false
    }

    /// Send `alert` to syslog; whether the datagram went out.
    async fn send_syslog(&self, alert: &Alert, now_ms: u64) -> bool {
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

    fn count_failure(&self, destination: &'static str, reason: &'static str) {
        if let Some(metrics) = &self.metrics {
            metrics.alert_failed(destination, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
