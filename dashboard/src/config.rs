//! Configuration of the dashboard: a TOML file (every key optional, unknown
//! keys refused) with command-line overrides. `deploy/dashboard.toml` is the
//! documented example.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::{parse_digest_hex, Auth, Role, TokenEntry};
use crate::store::ClickHouseSettings;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port the HTTP server listens on.
    pub listen: String,
    pub clickhouse: ClickHouseConfig,
    pub api: ApiConfig,
    pub auth: AuthConfig,
    /// `[policy]`: the inventory and policy files (see [`crate::policy`]).
    pub policy: crate::policy::PolicyConfig,
    pub report: ReportConfig,
    /// `[alerts]`: webhook and syslog (see [`crate::alerts`]).
    pub alerts: crate::alerts::AlertsConfig,
    /// `[tls]`: serve HTTPS (see [`crate::tls`]).
    pub tls: crate::tls::TlsConfig,
    /// `[packets]`: fetching packets from the exporters (see
    /// [`crate::packets`]).
    pub packets: crate::packets::PacketsConfig,
}

/// `[clickhouse]`: where the flows are.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP interface of the server.
    pub url: String,
    /// Database holding the `flows` table.
    pub database: String,
    /// User name; the server's default user when absent.
    pub user: Option<String>,
    /// Password of `user`.
    pub password: Option<String>,
    /// Create the database and tables at start-up if missing (idempotent).
    /// Turn off for a read-only user.
    pub migrate: bool,
    /// Longest a query may take before the API answers 503.
    pub timeout_seconds: u64,
}

/// `[api]`: limits of the JSON API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Largest `limit` a client may ask for.
    pub max_limit: u64,
    /// An exporter not heard from for this long is reported `stale`.
    pub stale_after_seconds: u64,
    /// Most `flows_1m` rows a time series with a step under an hour may
    /// read; past it the step becomes hourly.
    pub timeseries_max_minute_rows: u64,
    /// The live dataset (the collector's `enrich.dataset_default`): kept by
    /// retention, never deleted through the API.
    pub live_dataset: String,
}

/// `[report]`: how report PDFs are made.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Headless Chromium (path or name on PATH) that prints the PDF.
    pub chromium: String,
    /// Longest a PDF may take to print.
    pub timeout_seconds: u64,
}

impl Default for ReportConfig {
    fn default() -> ReportConfig {
        ReportConfig {
            chromium: "chromium".into(),
            timeout_seconds: 60,
        }
    }
}

/// `[auth]`: who may call the API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `auto` (on unless `listen` is a loopback address), `on` or `off`.
    pub mode: AuthMode,
    /// Accepted tokens (`[[auth.tokens]]`).
    pub tokens: Vec<TokenConfig>,
}

/// When tokens are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// On unless the server listens on loopback only.
    #[default]
    Auto,
    On,
    Off,
}

/// `[[auth.tokens]]`: one accepted token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Shown in logs (never the token).
    pub name: String,
    /// SHA-256 of the token, 64 hex digits (`eastwest-dashboard --hash-token`).
    pub sha256: String,
    /// `viewer`, `responder` (may also download packets) or `admin`.
    pub role: Role,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:8080".into(),
            clickhouse: ClickHouseConfig::default(),
            api: ApiConfig::default(),
            auth: AuthConfig::default(),
            policy: crate::policy::PolicyConfig::default(),
            report: ReportConfig::default(),
            alerts: crate::alerts::AlertsConfig::default(),
            tls: crate::tls::TlsConfig::default(),
            packets: crate::packets::PacketsConfig::default(),
        }
    }
}

impl Default for ClickHouseConfig {
    fn default() -> ClickHouseConfig {
        ClickHouseConfig {
            url: "http://127.0.0.1:18123".into(),
            database: "eastwest".into(),
            user: None,
            password: None,
            migrate: true,
            timeout_seconds: 30,
        }
    }
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            max_limit: 10_000,
            stale_after_seconds: 300,
            timeseries_max_minute_rows: crate::api::DEFAULT_MAX_MINUTE_ROWS,
            live_dataset: "live".to_string(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A bad `[alerts]` value (the message names the key).
    #[error("{0}")]
    Alerts(String),
    /// A `[tls]` file that cannot be used (the message names key and file).
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A `[packets]` value that cannot be used (the message names the key).
    #[error("{0}")]
    Packets(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("listen: {value:?} is not an address:port")]
    Listen { value: String },
    #[error("clickhouse.url: {value:?} must start with http:// or https://")]
    Url { value: String },
    #[error("clickhouse.database: must not be empty")]
    Database,
    #[error("clickhouse.timeout_seconds: must be at least 1")]
    Timeout,
    #[error("api.max_limit: must be at least 1")]
    MaxLimit,
    #[error("api.stale_after_seconds: must be at least 1")]
    StaleAfter,
    #[error("report.timeout_seconds: must be at least 1")]
    ReportTimeout,
    #[error(
        "auth.tokens[{index}].sha256: expected 64 hex digits (eastwest-dashboard --hash-token)"
    )]
    TokenDigest { index: usize },
    #[error("auth.tokens[{index}].name: must not be empty")]
    TokenName { index: usize },
    #[error("auth.tokens: authentication is on ({why}) but no token is configured")]
    NoTokens { why: &'static str },
}

impl Config {
    /// Read and check a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Config::parse(&shown, &text)
    }

    /// Parse TOML text; `origin` names it in errors. Does not [`check`](Config::check).
    pub fn parse(origin: &str, text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string().trim_end().replace('\n', " "),
        })
    }

    /// The listen address, checked.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| ConfigError::Listen {
            value: self.listen.clone(),
        })
    }

    /// Check every value that parsing alone does not.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        let url = &self.clickhouse.url;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Url { value: url.clone() });
        }
        if self.clickhouse.database.is_empty() {
            return Err(ConfigError::Database);
        }
        if self.clickhouse.timeout_seconds == 0 {
            return Err(ConfigError::Timeout);
        }
        self.packets.client().map_err(ConfigError::Packets)?;
        if self.api.max_limit == 0 {
            return Err(ConfigError::MaxLimit);
        }
        if self.api.stale_after_seconds == 0 {
            return Err(ConfigError::StaleAfter);
        }
        if self.report.timeout_seconds == 0 {
            return Err(ConfigError::ReportTimeout);
        }
        self.auth()?;
        self.alerts.check().map_err(ConfigError::Alerts)?;
        self.tls.server_config()?;
        Ok(())
    }

    /// The token check to apply: off on loopback in `auto` mode, else the
    /// configured tokens (at least one).
    pub fn auth(&self) -> Result<Auth, ConfigError> {
        let why = match self.auth.mode {
            AuthMode::Off => return Ok(Auth::Disabled),
            AuthMode::Auto if self.listen_addr()?.ip().is_loopback() => return Ok(Auth::Disabled),
            AuthMode::Auto => "listen is not a loopback address",
            AuthMode::On => "auth.mode = \"on\"",
        };
        let mut entries = Vec::new();
        for (index, token) in self.auth.tokens.iter().enumerate() {
            if token.name.is_empty() {
                return Err(ConfigError::TokenName { index });
            }
            let digest =
                parse_digest_hex(&token.sha256).ok_or(ConfigError::TokenDigest { index })?;
            entries.push(TokenEntry {
                name: token.name.clone(),
                digest,
                role: token.role,
            });
        }
        if entries.is_empty() {
            return Err(ConfigError::NoTokens { why });
        }
        Ok(Auth::Tokens(entries))
    }

    /// What [`ClickHouseStore::connect`](crate::store::ClickHouseStore::connect) needs.
    pub fn clickhouse_settings(&self) -> ClickHouseSettings {
        ClickHouseSettings {
            url: self.clickhouse.url.clone(),
            database: self.clickhouse.database.clone(),
            user: self.clickhouse.user.clone(),
            password: self.clickhouse.password.clone(),
            migrate: self.clickhouse.migrate,
            timeout: Duration::from_secs(self.clickhouse.timeout_seconds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        let config = Config::parse("t", "").unwrap();
        assert_eq!(config, Config::default());
        config.check().unwrap();
    }

    #[test]
    fn the_example_in_deploy_parses_and_checks() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/dashboard.toml");
        let config = Config::load(&path).unwrap();
        config.check().unwrap();
    }

    #[test]
    fn auth_is_on_outside_loopback() {
        let digest = crate::auth::token_digest_hex("t");
        let text = format!(
            "listen = \"0.0.0.0:8080\"\n[[auth.tokens]]\nname = \"noc\"\nsha256 = \"{digest}\"\nrole = \"viewer\"\n"
        );
        let config = Config::parse("t", &text).unwrap();
        config.check().unwrap();
        assert!(matches!(config.auth().unwrap(), Auth::Tokens(t) if t.len() == 1));
        assert_eq!(Config::default().auth().unwrap(), Auth::Disabled);
        let off = Config::parse("t", "listen = \"0.0.0.0:1\"\n[auth]\nmode = \"off\"").unwrap();
        assert_eq!(off.auth().unwrap(), Auth::Disabled);
        let err = Config::parse(
            "t",
            "[[auth.tokens]]\nname = \"x\"\nsha256 = \"\"\nrole = \"root\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("root"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::parse("t", "[clickhouse]\ndatabse = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("databse"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            ("listen = \"localhost\"", "listen"),
            ("[clickhouse]\nurl = \"127.0.0.1:8123\"", "clickhouse.url"),
            ("[clickhouse]\ndatabase = \"\"", "clickhouse.database"),
            (
                "[clickhouse]\ntimeout_seconds = 0",
                "clickhouse.timeout_seconds",
            ),
            ("[api]\nmax_limit = 0", "api.max_limit"),
            ("listen = \"0.0.0.0:8080\"", "auth.tokens"),
            ("[auth]\nmode = \"on\"", "auth.tokens"),
            (
                "[auth]\nmode = \"on\"\n[[auth.tokens]]\nname = \"a\"\nsha256 = \"abc\"\nrole = \"admin\"",
                "auth.tokens[0].sha256",
            ),
        ];
        for (text, key) in cases {
            let err = Config::parse("t", text).unwrap().check().unwrap_err();
            assert!(err.to_string().starts_with(key), "{text}: {err}");
        }
    }
}
