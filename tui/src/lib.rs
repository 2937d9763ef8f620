//! eastwest-tui: a terminal client of the dashboard's JSON API.
//!
//! * [`api`] — the API's types and an HTTP client.
//! * [`app`] — the interactive state and [`App::handle_event`](app::App::handle_event).
//! * [`ui`] — drawing the state (`impl Widget for &App`).
//! * [`once`] — one snapshot printed as a table, JSON or CSV.
//!
//! [`run`] wires them: a background task fetches every interval, a thread
//! reads the keyboard, both send [`Event`](app::Event)s to one loop that
//! updates the state and redraws.

pub mod api;
pub mod app;
pub mod once;
pub mod ui;

use std::time::{Duration, SystemTime};

use clap::{Parser, ValueEnum};
use tokio::sync::{mpsc, Notify};

use crate::api::{ApiClient, Filters};
use crate::app::{Action, App, Event};

/// Command line of `eastwest-tui`.
#[derive(Debug, Parser)]
#[command(
    name = "eastwest-tui",
    version,
    about = "Terminal view of eastwest's VM-to-VM conversations"
)]
pub struct Cli {
    /// Base URL of the dashboard.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
    pub server: String,
    /// Refresh interval: seconds (`2`, `0.5`) or with a unit (`2s`, `500ms`).
    #[arg(long, default_value = "2s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Time range: all, or a span like 1h, 24h, 7d.
    #[arg(long, default_value = "24h")]
    pub range: String,
    /// Only this verdict: allowed, violation or unknown.
    #[arg(long)]
    pub verdict: Option<String>,
    /// Only this dataset (`live` or a replay's name).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Most conversations to fetch.
    #[arg(long, default_value_t = 500)]
    pub limit: u64,
    /// Print one snapshot and exit.
    #[arg(long)]
    pub once: bool,
    /// Output of --once.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, requires = "once")]
    pub format: OutputFormat,
}

/// How `--once` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

/// `2`, `0.5`, `2s`, `500ms` → a duration of at least 100 ms.
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

impl Cli {
    /// The API client for these flags; requests time out after the interval
    /// or 5 s, whichever is longer.
    pub fn client(&self) -> Result<ApiClient, api::FetchError> {
        let filters = Filters {
            range: self.range.clone(),
            verdict: self.verdict.clone(),
            dataset: self.dataset.clone(),
            limit: self.limit,
        };
        ApiClient::new(
            &self.server,
            filters,
            self.interval.max(Duration::from_secs(5)),
        )
    }
}

/// Colours are on unless `NO_COLOR` is set to a non-empty value (no-color.org).
pub fn color_enabled(no_color: Option<std::ffi::OsString>) -> bool {
    no_color.is_none_or(|v| v.is_empty())
}

/// The interactive view, until the user quits.
pub async fn run(client: ApiClient, interval: Duration, color: bool) -> std::io::Result<()> {
    let mut app = App::new(client.server(), &client.filters().range, color);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let refresh = std::sync::Arc::new(Notify::new());

    let fetch_tx = tx.clone();
    let fetch_now = std::sync::Arc::clone(&refresh);
    let fetcher = tokio::spawn(async move {
        loop {
            let result = client.conversations().await.map_err(|e| e.to_string());
            let event = Event::Fetched {
                result,
                at: SystemTime::now(),
            };
            if fetch_tx.send(event).is_err() {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = fetch_now.notified() => {}
            }
        }
    });

    // crossterm's read blocks, so it gets its own thread; it ends when the
    // loop below has dropped the receiver and the next key arrives, or with
    // the process.
    std::thread::spawn(move || loop {
        let event = match crossterm::event::read() {
            Ok(crossterm::event::Event::Key(key)) => Event::Key(key),
            Ok(crossterm::event::Event::Resize(..)) => Event::Resize,
            Ok(_) => continue,
            Err(_) => break,
        };
        if tx.send(event).is_err() {
            break;
        }
    });

    let mut terminal = ratatui::init();
    let result = async {
        terminal.draw(|frame| frame.render_widget(&app, frame.area()))?;
        while let Some(event) = rx.recv().await {
            match app.handle_event(event) {
                Action::Quit => break,
                Action::Refresh => refresh.notify_one(),
                Action::Continue => {}
            }
            terminal.draw(|frame| frame.render_widget(&app, frame.area()))?;
        }
        Ok(())
    }
    .await;
    ratatui::restore();
    fetcher.abort();
    result
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
    fn no_color() {
        assert!(color_enabled(None));
        assert!(color_enabled(Some("".into())));
        assert!(!color_enabled(Some("1".into())));
    }

    #[test]
    fn format_needs_once() {
        assert!(Cli::try_parse_from(["eastwest-tui", "--format", "json"]).is_err());
        let cli = Cli::try_parse_from(["eastwest-tui", "--once", "--format", "csv"]).unwrap();
        assert_eq!(cli.format, OutputFormat::Csv);
        assert_eq!(cli.interval, Duration::from_secs(2));
    }
}
