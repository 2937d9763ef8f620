//! The command line and the optional config file, resolved into what the
//! view runs with. Precedence: flag, then environment variable (the token
//! only: `EASTWEST_TOKEN`), then the config file, then the default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde::Deserialize;

use crate::api::Range;
use crate::app::Filter;

/// Command line of `eastwest-tui`.
#[derive(Debug, Parser)]
#[command(
    name = "eastwest-tui",
    version,
    about = "Terminal view of eastwest's VM-to-VM conversations and policy violations",
    after_help = "Keys: ? in the view lists them. Config file keys: server, token, interval, \
                  range, dataset, limit (see the crate README)."
)]
pub struct Cli {
    /// Config file (TOML). Default: $XDG_CONFIG_HOME/eastwest/tui.toml or
    /// ~/.config/eastwest/tui.toml, when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Base URL of the dashboard [default: http://127.0.0.1:8080].
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// API token (sent as `Authorization: Bearer`); prefer the environment
    /// variable or the config file, which other users cannot read in `ps`.
    #[arg(long, env = "EASTWEST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Refresh interval: seconds (`2`, `0.5`) or with a unit (`2s`, `500ms`)
    /// [default: 2s].
    #[arg(long, value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// Time range: all, a span ending now (5m, 1h, 24h, 7d) or FROM..TO
    /// (RFC 3339 or epoch seconds) [default: 1h].
    #[arg(long, value_parser = Range::parse)]
    pub range: Option<Range>,
    /// Initial filter: `vm:NAME zone:NAME port:N verdict:V` and free words.
    #[arg(long, value_parser = Filter::parse, default_value = "")]
    pub filter: Filter,
    /// Only this dataset (`live` or a replay's name); without --range, its
    /// whole time span.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Most rows fetched per list [default: 500].
    #[arg(long)]
    pub limit: Option<u64>,
    /// Print one snapshot of the conversations and exit.
    #[arg(long)]
    pub once: bool,
    /// Output of --once.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, requires = "once")]
    pub format: OutputFormat,
    /// Check the configuration (file + flags), print it (token hidden), exit.
    #[arg(long)]
    pub check_config: bool,
}

/// How `--once` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

/// `2`, `0.5`, `2s`, `500ms` → a duration from 100 ms to 1 day.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("expected seconds like 2, 0.5, 2s or 500ms, got {text:?}"))?;
    let secs = value * scale;
    if !secs.is_finite() || !(0.1..=86_400.0).contains(&secs) {
        return Err(format!("must be between 100ms and 1 day, got {text:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The config file; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub server: Option<String>,
    pub token: Option<String>,
    pub interval: Option<String>,
    pub range: Option<String>,
    pub dataset: Option<String>,
    pub limit: Option<u64>,
}

/// What the TUI runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub server: String,
    pub token: Option<String>,
    /// Where the token came from: `flag or EASTWEST_TOKEN`, or the file.
    pub token_source: Option<String>,
    pub interval: Duration,
    pub range: Range,
    pub filter: Filter,
    pub dataset: Option<String>,
    pub limit: u64,
    /// The config file read, if any.
    pub file: Option<PathBuf>,
}

/// Why the configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("{path}: {key}: {reason}")]
    Value {
        path: String,
        key: &'static str,
        reason: String,
    },
    #[error("--limit: must be 1 or more")]
    Limit,
}

/// The default config file, when it exists.
pub fn default_file(xdg: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let base = xdg
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")))?;
    let path = base.join("eastwest").join("tui.toml");
    path.is_file().then_some(path)
}

fn read_file(path: &Path) -> Result<File, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    // toml's message names the line, the column and the key.
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: shown,
        reason: e.to_string().trim_end().replace('\n', " "),
    })
}

impl Cli {
    /// Flags over the environment over the file (`file` is `--config`, or
    /// the default file when it exists).
    pub fn resolve(&self, file: Option<PathBuf>) -> Result<Resolved, ConfigError> {
        let contents = match &file {
            Some(path) => read_file(path)?,
            None => File::default(),
        };
        let shown = file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let value_error = |key, reason| ConfigError::Value {
            path: shown.clone(),
            key,
            reason,
        };
        let interval = match (self.interval, &contents.interval) {
            (Some(d), _) => d,
            (None, Some(text)) => parse_interval(text).map_err(|r| value_error("interval", r))?,
            (None, None) => Duration::from_secs(2),
        };
        let dataset = self.dataset.clone().or(contents.dataset);
        let range = match (&self.range, &contents.range) {
            (Some(r), _) => r.clone(),
            (None, Some(text)) => Range::parse(text).map_err(|r| value_error("range", r))?,
            // A dataset is shown whole: a replay keeps its capture's own
            // time, which "the last hour" would miss.
            (None, None) if dataset.is_some() => Range::Span("all".into()),
            (None, None) => Range::Span("1h".into()),
        };
        let limit = self.limit.or(contents.limit).unwrap_or(500);
        if limit == 0 {
            return Err(ConfigError::Limit);
        }
        let (token, token_source) = match (&self.token, contents.token) {
            (Some(t), _) => (
                Some(t.clone()),
                Some("--token or EASTWEST_TOKEN".to_string()),
            ),
            (None, Some(t)) => (Some(t), Some(shown.clone())),
            (None, None) => (None, None),
        };
        Ok(Resolved {
            server: self
                .server
                .clone()
                .or(contents.server)
                .unwrap_or_else(|| "http://127.0.0.1:8080".into()),
            token,
            token_source,
            interval,
            range,
            filter: self.filter.clone(),
            dataset,
            limit,
            file,
        })
    }
}

impl Resolved {
    /// The settings as `--check-config` prints them; the token is never
    /// shown, only where it comes from.
    pub fn describe(&self) -> String {
        format!(
            "config file: {}\nserver: {}\ntoken: {}\ninterval: {:?}\nrange: {}\nfilter: {}\ndataset: {}\nlimit: {}\n",
            self.file
                .as_ref()
                .map_or("(none)".into(), |p| p.display().to_string()),
            self.server,
            self.token_source
                .as_ref()
                .map_or("(none)".into(), |s| format!("set, from {s}")),
            self.interval,
            self.range,
            self.filter,
            self.dataset.as_deref().unwrap_or("(any)"),
            self.limit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_interval("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_interval("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_interval("500ms").unwrap(), Duration::from_millis(500));
        for bad in ["", "fast", "0", "10ms", "-1", "NaN", "2d"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_needs_once() {
        assert!(Cli::try_parse_from(["eastwest-tui", "--format", "json"]).is_err());
        let cli = Cli::try_parse_from(["eastwest-tui", "--once", "--format", "csv"]).unwrap();
        assert_eq!(cli.format, OutputFormat::Csv);
    }

    #[test]
    fn defaults_flags_file() {
        let cli = Cli::try_parse_from(["eastwest-tui"]).unwrap();
        let r = cli.resolve(None).unwrap();
        assert_eq!(r.server, "http://127.0.0.1:8080");
        assert_eq!(r.interval, Duration::from_secs(2));
        assert_eq!(r.range, Range::Span("1h".into()));
        assert_eq!(r.limit, 500);
        // A dataset opens on its whole span, unless a range is given.
        let dataset = Cli::try_parse_from(["eastwest-tui", "--dataset", "incident-7"]).unwrap();
        assert_eq!(
            dataset.resolve(None).unwrap().range,
            Range::Span("all".into())
        );
        let ranged =
            Cli::try_parse_from(["eastwest-tui", "--dataset", "lab", "--range", "24h"]).unwrap();
        assert_eq!(
            ranged.resolve(None).unwrap().range,
            Range::Span("24h".into())
        );

        let dir = std::env::temp_dir().join(format!("eastwest-tui-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tui.toml");
        std::fs::write(
            &path,
            "server = \"http://dash:8080\"\ntoken = \"s3cret\"\ninterval = \"5s\"\nrange = \"all\"\n",
        )
        .unwrap();
        let r = cli.resolve(Some(path.clone())).unwrap();
        assert_eq!(r.server, "http://dash:8080");
        assert_eq!(r.token.as_deref(), Some("s3cret"));
        assert_eq!(r.interval, Duration::from_secs(5));
        assert_eq!(r.range, Range::Span("all".into()));
        let described = r.describe();
        assert!(!described.contains("s3cret"), "{described}");
        assert!(described.contains("token: set, from"), "{described}");

        // Flags win over the file.
        let cli = Cli::try_parse_from([
            "eastwest-tui",
            "--server",
            "http://other:1",
            "--token",
            "t2",
            "--range",
            "5m",
            "--filter",
            "verdict:violation",
        ])
        .unwrap();
        let r = cli.resolve(Some(path.clone())).unwrap();
        assert_eq!(r.server, "http://other:1");
        assert_eq!(r.token.as_deref(), Some("t2"));
        assert_eq!(r.range, Range::Span("5m".into()));
        assert_eq!(r.filter.verdict.as_deref(), Some("violation"));

        // Errors name the file and the key or line.
        std::fs::write(&path, "server = \"x\"\ncolour = true\n").unwrap();
        let err = Cli::try_parse_from(["eastwest-tui"])
            .unwrap()
            .resolve(Some(path.clone()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tui.toml") && err.contains("colour"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        std::fs::write(&path, "interval = \"fast\"\n").unwrap();
        let err = Cli::try_parse_from(["eastwest-tui"])
            .unwrap()
            .resolve(Some(path.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tui.toml: interval: expected seconds"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();

        assert!(Cli::try_parse_from(["eastwest-tui", "--filter", "port:x"]).is_err());
        assert!(Cli::try_parse_from(["eastwest-tui", "--range", "forever"]).is_err());
    }

    #[test]
    fn example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/tui.toml");
        let cli = Cli::try_parse_from(["eastwest-tui"]).unwrap();
        let r = cli.resolve(Some(path)).unwrap();
        assert_eq!(r.server, "http://127.0.0.1:8080");
        assert_eq!(r.interval, Duration::from_secs(2));
        assert_eq!(r.range, Range::Span("1h".into()));
        assert_eq!(r.token, None);
    }

    #[test]
    fn default_file_only_when_present() {
        let dir = std::env::temp_dir().join(format!("eastwest-tui-xdg-{}", std::process::id()));
        assert_eq!(default_file(Some(dir.clone()), None), None);
        std::fs::create_dir_all(dir.join("eastwest")).unwrap();
        std::fs::write(dir.join("eastwest/tui.toml"), "").unwrap();
        assert_eq!(
            default_file(Some(dir.clone()), None),
            Some(dir.join("eastwest/tui.toml"))
        );
        // A relative XDG_CONFIG_HOME is ignored (XDG spec), HOME is used.
        assert_eq!(default_file(Some("rel".into()), Some(dir.clone())), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
