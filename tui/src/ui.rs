//! Drawing the [`App`] (`impl Widget for &App`): a header (server, range,
//! policy revision, connection state), the tabs, sparklines of total and
//! violating traffic, a banner while the server is unreachable, the current
//! view, a status line (the selected row's rule, the filter being typed)
//! and the keys. Violations are marked with `!` and, unless `NO_COLOR` is
//! set, drawn in red. Narrow terminals (80 columns) get fewer columns;
//! from 100 and 130 columns more appear.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, StatefulWidget, Table, TableState, Widget, Wrap};

use crate::api::Conversation;
use crate::app::{clock_of_ms, App, Connection, Tab, View};

mod conversations;
mod exporters;
mod frame;
mod hosts;
mod violations;
mod zones;

/// The marker of a violating row.
pub const VIOLATION_MARKER: &str = "!";
/// The marker of a row with an endpoint outside the inventory.
pub const UNKNOWN_MARKER: &str = "?";

/// The keys, for the footer (short) and the help screen (long).
pub(super) const KEYS: [(&str, &str); 15] = [
    ("q", "quit"),
    ("?", "help: this screen"),
    ("1-5 Tab", "switch tab (Shift-Tab back)"),
    ("↑↓ j k", "select (PgUp/PgDn, g/G first/last)"),
    ("←→ h l", "move in the zone matrix"),
    (
        "Enter",
        "open: a conversation, its VMs, a host, a zone pair",
    ),
    ("Esc", "back (at the top: clear the filter)"),
    ("/", "filter: vm:NAME zone:NAME port:N verdict:V, or words"),
    ("v", "violations only (on/off)"),
    ("s S", "sort by the next column / reverse the order"),
    ("r", "range: 5m → 1h → 24h → all"),
    ("R", "custom range: FROM..TO (RFC 3339 or epoch seconds)"),
    ("p", "pause / resume fetching"),
    ("F5", "fetch now"),
    ("w", "save the selected conversation's packets (pcapng)"),
];

/// What the footer shows.
const FOOTER: &str = " q quit · ? help · / filter · ⏎ open · Esc back · p pause · r range · s sort";

/// `text` cut to `width` characters, the last one `…` when cut.
pub fn fit(text: &str, width: u16) -> String {
    let width = usize::from(width);
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        out.push('…');
    }
    out
}

/// The widths a table with these constraints and 1 column of spacing gives
/// its columns in `width` (as ratatui's `Table` lays them out).
pub(super) fn column_widths(widths: &[Constraint], width: u16) -> Vec<u16> {
    Layout::horizontal(widths.iter().copied())
        .spacing(1)
        .split(Rect::new(0, 0, width, 1))
        .iter()
        .map(|r| r.width)
        .collect()
}

impl App {
    fn color(&self) -> bool {
        self.settings.color
    }

    fn violation_style(&self) -> Style {
        let style = Style::new().add_modifier(Modifier::BOLD);
        if self.color() {
            style.fg(Color::Red)
        } else {
            style
        }
    }

    fn unknown_style(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::Yellow)
        } else {
            Style::new()
        }
    }

    fn banner_style(&self) -> Style {
        if self.color() {
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    fn row_style(&self, c: &Conversation) -> Style {
        if c.is_violation() {
            self.violation_style()
        } else if c.verdict == crate::api::VerdictKind::Unknown {
            self.unknown_style()
        } else {
            Style::new()
        }
    }
}

impl App {
    fn table(
        &self,
        rows: Vec<Row<'_>>,
        head: Row<'_>,
        widths: Vec<Constraint>,
        area: Rect,
        buf: &mut Buffer,
    ) {
        let mut state = TableState::default().with_selected(Some(self.frame().selected));
        StatefulWidget::render(
            Table::new(rows, widths)
                .header(head)
                .column_spacing(1)
                .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
            area,
            buf,
            &mut state,
        );
    }

    fn empty(&self, what: &str, area: Rect, buf: &mut Buffer) {
        let text = if let Some(error) = self.view_error() {
            format!(" {error}")
        } else if matches!(self.connection, Connection::Connecting) {
            " waiting for the first answer…".into()
        } else if !self.filter.is_empty() {
            format!(
                " no {what} match the filter ({}); Esc clears it",
                self.filter
            )
        } else if self.settings.range.to_string() == "all" {
            format!(" no {what} stored yet")
        } else {
            format!(
                " no {what} in the last {}; r changes the range",
                self.settings.range
            )
        };
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .render(area, buf);
    }
}

impl App {
    fn title(&self, text: String) -> Line<'static> {
        Line::from(format!(" {text} · Esc back")).style(Style::new().add_modifier(Modifier::BOLD))
    }

    fn body(&self, area: Rect, buf: &mut Buffer) {
        match &self.frame().view {
            View::Tab(Tab::Conversations) => {
                let [totals, rest] =
                    Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
                if let Some(line) = self.totals_line() {
                    line.render(totals, buf);
                }
                self.conversations_view(None, "conversations", rest, buf);
            }
            View::Tab(Tab::Violations) => {
                if let Some(error) = self.view_error() {
                    Paragraph::new(format!(" {error}"))
                        .wrap(Wrap { trim: false })
                        .render(area, buf);
                } else {
                    self.violations_view(area, buf);
                }
            }
            View::Tab(Tab::Zones) => self.zones_view(area, buf),
            View::Tab(Tab::Hosts) => self.hosts_view(area, buf),
            View::Tab(Tab::Exporters) => self.exporters_view(area, buf),
            View::Conversation(c) => self.conversation_detail(c, area, buf),
            View::Vm(name) => {
                let mut text = format!("VM {name}");
                if let Some(vm) = self.data.vm.as_ref().filter(|v| v.name == *name) {
                    if !vm.zones.is_empty() {
                        text.push_str(&format!(" · zone {}", vm.zones.join(", ")));
                    }
                    let placements: Vec<String> = vm
                        .placements
                        .iter()
                        .map(|p| {
                            format!(
                                "{} {}–{}",
                                p.host,
                                clock_of_ms(p.first_ms).trim_end_matches(" UTC"),
                                clock_of_ms(p.last_ms).trim_end_matches(" UTC")
                            )
                        })
                        .collect();
                    if !placements.is_empty() {
                        text.push_str(&format!(" · on {}", placements.join(", ")));
                    }
                }
                self.conversations_view(Some(self.title(text)), "conversations", area, buf);
            }
            View::Host(name) => {
                let mut text = format!("host {name} · locally switched");
                if let Some(host) = self.data.host.as_ref().filter(|h| h.host == *name) {
                    if !host.vms.is_empty() {
                        text.push_str(&format!(" · VMs {}", host.vms.join(", ")));
                    }
                }
                self.conversations_view(Some(self.title(text)), "local conversations", area, buf);
            }
            View::ZonePair { client, server } => {
                self.conversations_view(
                    Some(self.title(format!("zones {client} → {server}"))),
                    "conversations",
                    area,
                    buf,
                );
            }
        }
    }
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let banner = self.banner();
        let [header, tabs, sparks, banner_area, body, status, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(2),
            Constraint::Length(u16::from(banner.is_some())),
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.header().render(header, buf);
        self.tabs().render(tabs, buf);
        self.sparklines(sparks, buf);
        if let Some(text) = banner {
            Paragraph::new(text)
                .style(self.banner_style())
                .render(banner_area, buf);
        }
        self.body(body, buf);
        self.status().render(status, buf);
        Line::from(FOOTER)
            .style(Style::new().add_modifier(Modifier::DIM))
            .render(footer, buf);
        if self.help {
            self.help(area, buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FetchError, Request};
    use crate::app::tests::{at, key, loaded, refresh, settings, type_text, FakeClient};
    use crate::app::{Event, Settings};
    use crossterm::event::KeyCode;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| frame.render_widget(app, frame.area()))
            .unwrap();
        terminal
    }

    fn line(buf: &Buffer, y: u16) -> String {
        (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
    }

    fn find(buf: &Buffer, needle: &str) -> Option<u16> {
        (0..buf.area.height).find(|&y| line(buf, y).contains(needle))
    }

    /// The app on `tab` with the fake's answers.
    async fn on_tab(tab: char) -> (App, FakeClient) {
        let (mut app, client) = loaded().await;
        app.handle_event(key(KeyCode::Char(tab)));
        refresh(&mut app, &client, 2).await;
        (app, client)
    }

    /// Snapshots of every tab, at 80×24 and 160×48.
    #[tokio::test]
    async fn every_tab_at_both_sizes() {
        for (tab, name) in [
            ('1', "conversations"),
            ('2', "violations"),
            ('3', "zones"),
            ('4', "hosts"),
            ('5', "exporters"),
        ] {
            let (app, _) = on_tab(tab).await;
            for (w, h) in [(80, 24), (160, 48)] {
                insta::assert_snapshot!(format!("{name}_{w}x{h}"), draw(&app, w, h).backend());
            }
        }
    }

    #[tokio::test]
    async fn drill_down_views_and_help() {
        let (mut app, client) = loaded().await;
        app.handle_event(key(KeyCode::Down));
        app.handle_event(key(KeyCode::Enter));
        insta::assert_snapshot!("conversation_80x24", draw(&app, 80, 24).backend());
        app.handle_event(key(KeyCode::Down));
        app.handle_event(key(KeyCode::Enter));
        refresh(&mut app, &client, 3).await;
        insta::assert_snapshot!("vm_80x24", draw(&app, 80, 24).backend());
        app.handle_event(key(KeyCode::Char('?')));
        insta::assert_snapshot!("help_80x24", draw(&app, 80, 24).backend());
    }

    #[tokio::test]
    async fn violation_row_is_marked_and_red() {
        let (app, _) = loaded().await;
        let terminal = draw(&app, 80, 24);
        let buf = terminal.backend().buffer();
        let y = find(buf, "fin-fe-01 → payroll-01").expect("violation row drawn");
        let text = line(buf, y);
        assert!(text.starts_with("! fin-fe-01 → payroll-01"), "{text:?}");
        assert!(text.contains("TCP/443"), "{text:?}");
        assert_eq!(buf[(0, y)].fg, Color::Red);
        assert_eq!(buf[(2, y)].fg, Color::Red);
        // An allowed row is neither red nor marked.
        let y = find(buf, "web-01 → app-01").unwrap();
        assert!(line(buf, y).starts_with("  web-01"));
        assert_ne!(buf[(2, y)].fg, Color::Red);
        // Header: range, policy revision, connection state.
        assert!(line(buf, 0).contains("range 5m · policy r7 · ● live 10:00:01 UTC"));
        // The violating sparkline is red.
        assert_eq!(buf[(12, 3)].fg, Color::Red);
    }

    #[tokio::test]
    async fn no_color_keeps_the_marker_without_red() {
        let client = FakeClient::default();
        let mut app = App::new(Settings {
            color: false,
            ..settings()
        });
        refresh(&mut app, &client, 1).await;
        app.handle_event(key(KeyCode::Char('3')));
        refresh(&mut app, &client, 2).await;
        for tab in ['1', '3'] {
            app.handle_event(key(KeyCode::Char(tab)));
            let terminal = draw(&app, 80, 24);
            let buf = terminal.backend().buffer();
            assert!(find(buf, "!").is_some());
            for y in 0..buf.area.height {
                for x in 0..buf.area.width {
                    assert_eq!(buf[(x, y)].fg, Color::Reset, "colour at {x},{y}");
                    assert_eq!(buf[(x, y)].bg, Color::Reset, "colour at {x},{y}");
                }
            }
        }
    }

    #[tokio::test]
    async fn lost_server_banner_keeps_the_rows() {
        let (mut app, _) = loaded().await;
        refresh(
            &mut app,
            &FakeClient {
                down: true,
                ..FakeClient::default()
            },
            4,
        )
        .await;
        let terminal = draw(&app, 80, 24);
        insta::assert_snapshot!("lost_80x24", terminal.backend());
        let buf = terminal.backend().buffer();
        let y = find(buf, "✖ lost since").unwrap();
        assert!(line(buf, y).starts_with(" ✖ lost since 10:00:04 UTC, reconnecting: server"));
        assert_eq!(buf[(1, y)].bg, Color::Red);
        assert!(line(buf, 0).contains("✖ lost"));
        assert!(find(buf, "fin-fe-01 → payroll-01").is_some());
    }

    #[tokio::test]
    async fn filter_prompt_notice_and_refused_request() {
        let (mut app, _) = loaded().await;
        app.handle_event(key(KeyCode::Char('/')));
        type_text(&mut app, "port:x");
        app.handle_event(key(KeyCode::Enter));
        let terminal = draw(&app, 80, 24);
        let buf = terminal.backend().buffer();
        assert!(
            line(buf, 22).starts_with(" filter: port:x▏"),
            "{}",
            line(buf, 22)
        );
        app.handle_event(key(KeyCode::Esc));

        app.handle_event(key(KeyCode::Char('5')));
        app.handle_event(Event::Fetched {
            request: Request::Exporters,
            result: Err(FetchError::Status {
                path: "/api/v1/exporters".into(),
                status: 404,
                message: "not found".into(),
            }),
            at: at(3),
        });
        let terminal = draw(&app, 80, 24);
        let buf = terminal.backend().buffer();
        assert!(find(buf, "/api/v1/exporters: server answered 404: not found").is_some());
    }

    #[test]
    fn empty_states() {
        let app = App::new(settings());
        let terminal = draw(&app, 80, 24);
        assert!(find(terminal.backend().buffer(), "waiting for the first answer").is_some());
        assert!(find(terminal.backend().buffer(), "… connecting").is_some());
    }
}
