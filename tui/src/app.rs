//! The state of the interactive view and how events change it. No I/O here:
//! key presses and fetch results come in as [`Event`]s (with the time they
//! happened), so the logic is tested without a terminal or a server.

use std::time::{SystemTime, UNIX_EPOCH};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::api::{Conversation, Snapshot};

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A key was pressed.
    Key(KeyEvent),
    /// The terminal was resized; only a redraw is needed.
    Resize,
    /// A fetch finished at `at`.
    Fetched {
        result: Result<Snapshot, String>,
        at: SystemTime,
    },
}

/// What the caller should do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Redraw and go on.
    Continue,
    /// Fetch now instead of waiting for the next interval.
    Refresh,
    /// Leave.
    Quit,
}

/// The interactive view's state.
#[derive(Debug, Clone)]
pub struct App {
    /// Server URL and range, for the header.
    pub server: String,
    pub range: String,
    /// The last snapshot received; kept while the server is unreachable.
    pub snapshot: Option<Snapshot>,
    /// The last fetch error, shown as a banner until a fetch succeeds.
    pub error: Option<String>,
    /// When the last successful snapshot arrived.
    pub updated_at: Option<SystemTime>,
    /// Index of the selected row among [`App::visible`].
    pub selected: usize,
    /// Show only violations.
    pub violations_only: bool,
    /// Colours on (off under `NO_COLOR`).
    pub color: bool,
}

impl App {
    pub fn new(server: &str, range: &str, color: bool) -> App {
        App {
            server: server.to_string(),
            range: range.to_string(),
            snapshot: None,
            error: None,
            updated_at: None,
            selected: 0,
            violations_only: false,
            color,
        }
    }

    /// The rows shown, in server order.
    pub fn visible(&self) -> Vec<&Conversation> {
        self.snapshot
            .iter()
            .flat_map(|s| s.conversations.iter())
            .filter(|c| !self.violations_only || c.is_violation())
            .collect()
    }

    /// The selected conversation, if any row is shown.
    pub fn selected_conversation(&self) -> Option<&Conversation> {
        self.visible().get(self.selected).copied()
    }

    pub fn handle_event(&mut self, event: Event) -> Action {
        match event {
            Event::Key(key) => self.handle_key(key),
            Event::Resize => Action::Continue,
            Event::Fetched { result, at } => {
                match result {
                    Ok(snapshot) => {
                        self.snapshot = Some(snapshot);
                        self.error = None;
                        self.updated_at = Some(at);
                    }
                    Err(message) => self.error = Some(message),
                }
                self.clamp_selection();
                Action::Continue
            }
        }
    }

    fn handle_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::Continue;
        }
        let rows = self.visible().len();
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Action::Quit,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                return Action::Quit
            }
            KeyCode::Char('r') => return Action::Refresh,
            KeyCode::Char('v') => {
                self.violations_only = !self.violations_only;
                self.selected = 0;
            }
            KeyCode::Down | KeyCode::Char('j') => self.selected = self.selected.saturating_add(1),
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::PageDown => self.selected = self.selected.saturating_add(10),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = rows.saturating_sub(1),
            _ => {}
        }
        self.clamp_selection();
        Action::Continue
    }

    fn clamp_selection(&mut self) {
        let rows = self.visible().len();
        self.selected = self.selected.min(rows.saturating_sub(1));
    }
}

/// `HH:MM:SS UTC` of a time.
pub fn clock_utc(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `1 flow`, `2 flows`.
pub fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// `1.5 MiB`, `512 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Lossy on purpose: a display value.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.2} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::Totals;
    use std::time::Duration;

    pub(crate) fn conversation(src: &str, dst: &str, verdict: &str, bytes: u64) -> Conversation {
        Conversation {
            src_vm: src.into(),
            src_addr: None,
            dst_vm: dst.into(),
            dst_addr: None,
            src_zone: "payroll".into(),
            dst_zone: "finance-frontend".into(),
            proto: 6,
            dst_port: 443,
            verdict: verdict.into(),
            rule: if verdict == "violation" {
                "payroll must never talk to the finance front end".into()
            } else {
                String::new()
            },
            severity: if verdict == "violation" {
                "critical".into()
            } else {
                String::new()
            },
            same_host: verdict == "violation",
            observers: vec!["esx-03".into()],
            flows: 2,
            packets: 20,
            bytes,
            start_ms: 1_793_577_600_000,
            end_ms: 1_793_577_660_000,
        }
    }

    pub(crate) fn snapshot() -> Snapshot {
        let conversations = vec![
            conversation("web-01", "app-01", "allowed", 4_000_000),
            conversation("payroll-01", "fin-web-01", "violation", 52_000),
            conversation("app-01", "db-01", "allowed", 9_000),
        ];
        Snapshot {
            from_ms: None,
            to_ms: None,
            sort: "-bytes".into(),
            limit: 500,
            offset: 0,
            totals: Totals {
                conversations: 3,
                violations: 1,
                flows: 6,
                packets: 60,
                bytes: 4_061_000,
            },
            conversations,
        }
    }

    fn key(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn quit_keys() {
        let mut app = App::new("http://x", "all", true);
        assert_eq!(app.handle_event(key(KeyCode::Char('q'))), Action::Quit);
        assert_eq!(app.handle_event(key(KeyCode::Esc)), Action::Quit);
        let ctrl_c = Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(app.handle_event(ctrl_c), Action::Quit);
        assert_eq!(app.handle_event(key(KeyCode::Char('c'))), Action::Continue);
        assert_eq!(app.handle_event(key(KeyCode::Char('r'))), Action::Refresh);
    }

    #[test]
    fn selection_stays_inside_the_rows() {
        let mut app = App::new("http://x", "all", true);
        app.handle_event(key(KeyCode::Down));
        assert_eq!(app.selected, 0, "no rows yet");
        app.handle_event(Event::Fetched {
            result: Ok(snapshot()),
            at: at(10),
        });
        app.handle_event(key(KeyCode::Down));
        app.handle_event(key(KeyCode::Down));
        app.handle_event(key(KeyCode::Down));
        assert_eq!(app.selected, 2);
        app.handle_event(key(KeyCode::Up));
        assert_eq!(app.selected_conversation().unwrap().src_vm, "payroll-01");
        app.handle_event(key(KeyCode::Home));
        assert_eq!(app.selected, 0);
        app.handle_event(key(KeyCode::End));
        assert_eq!(app.selected, 2);
        // A smaller snapshot pulls the selection back in.
        let mut small = snapshot();
        small.conversations.truncate(1);
        app.handle_event(Event::Fetched {
            result: Ok(small),
            at: at(12),
        });
        assert_eq!(app.selected, 0);
    }

    #[test]
    fn violations_only_filters_rows() {
        let mut app = App::new("http://x", "all", true);
        app.handle_event(Event::Fetched {
            result: Ok(snapshot()),
            at: at(10),
        });
        assert_eq!(app.visible().len(), 3);
        app.handle_event(key(KeyCode::Char('v')));
        let rows = app.visible();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].src_vm, "payroll-01");
    }

    #[test]
    fn errors_keep_the_last_snapshot_until_a_fetch_succeeds() {
        let mut app = App::new("http://x", "all", true);
        app.handle_event(Event::Fetched {
            result: Ok(snapshot()),
            at: at(10),
        });
        app.handle_event(Event::Fetched {
            result: Err("server http://x unreachable: connection refused".into()),
            at: at(12),
        });
        assert!(app.error.as_deref().unwrap().contains("unreachable"));
        assert_eq!(app.visible().len(), 3);
        assert_eq!(app.updated_at, Some(at(10)));
        app.handle_event(Event::Fetched {
            result: Ok(snapshot()),
            at: at(14),
        });
        assert_eq!(app.error, None);
        assert_eq!(app.updated_at, Some(at(14)));
    }

    #[test]
    fn formatting() {
        assert_eq!(clock_utc(at(86_400 + 3_723)), "01:02:03 UTC");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(plural(1, "flow"), "1 flow");
        assert_eq!(plural(0, "flow"), "0 flows");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(52 * 1024 * 1024), "52.0 MiB");
    }
}
