//! Drawing the [`App`]: a header, the totals, a banner while the server is
//! unreachable, the conversations table, the selected row's rule and a key
//! help line. Violations are marked with `!` and, unless `NO_COLOR` is set,
//! drawn in red.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget};

use crate::api::Conversation;
use crate::app::{clock_utc, human_bytes, plural, App};

/// The violation marker in the first column.
pub const VIOLATION_MARKER: &str = "!";

impl App {
    fn violation_style(&self) -> Style {
        let style = Style::new().add_modifier(Modifier::BOLD);
        if self.color {
            style.fg(Color::Red)
        } else {
            style
        }
    }

    fn banner_style(&self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    fn header(&self) -> Line<'_> {
        let updated = match self.updated_at {
            Some(at) => format!("updated {}", clock_utc(at)),
            None => "waiting for the server".to_string(),
        };
        Line::from(format!(
            " eastwest · {} · range {} · {updated}",
            self.server, self.range
        ))
        .style(Style::new().add_modifier(Modifier::REVERSED))
    }

    fn totals(&self) -> Line<'_> {
        let Some(snapshot) = &self.snapshot else {
            return Line::from("");
        };
        let t = snapshot.totals;
        let violations = Span::styled(plural(t.violations, "violation"), {
            if t.violations > 0 {
                self.violation_style()
            } else {
                Style::new()
            }
        });
        Line::from(vec![
            Span::raw(format!(
                " {} · {} · {} packets · {} · ",
                plural(t.conversations, "conversation"),
                plural(t.flows, "flow"),
                t.packets,
                human_bytes(t.bytes)
            )),
            violations,
            Span::raw(if self.violations_only {
                " · showing violations only"
            } else {
                ""
            }),
        ])
    }

    fn row(&self, c: &Conversation) -> Row<'static> {
        let violation = c.is_violation();
        let cells = vec![
            Cell::from(if violation { VIOLATION_MARKER } else { "" }),
            Cell::from(format!("{} → {}", c.source(), c.destination())),
            Cell::from(format!("{} → {}", c.src_zone, c.dst_zone)),
            Cell::from(c.service()),
            Cell::from(Line::from(human_bytes(c.bytes)).right_aligned()),
            Cell::from(Line::from(c.packets.to_string()).right_aligned()),
            Cell::from(if c.same_host {
                format!("{}*", c.verdict)
            } else {
                c.verdict.clone()
            }),
        ];
        let row = Row::new(cells);
        if violation {
            row.style(self.violation_style())
        } else {
            row
        }
    }

    fn detail(&self) -> Line<'_> {
        let Some(c) = self.selected_conversation() else {
            return Line::from("");
        };
        let mut text = String::from(" ");
        if !c.rule.is_empty() {
            text.push_str(&format!("rule: {}", c.rule));
            if !c.severity.is_empty() {
                text.push_str(&format!(" ({})", c.severity));
            }
            text.push_str(" · ");
        }
        if c.same_host {
            text.push_str("same host · ");
        }
        text.push_str(&format!(
            "{} flows · seen by {}",
            c.flows,
            c.observers.join(", ")
        ));
        let line = Line::from(text);
        if c.is_violation() {
            line.style(self.violation_style())
        } else {
            line
        }
    }

    fn empty_message(&self) -> String {
        if self.snapshot.is_none() {
            return " waiting for the first answer…".into();
        }
        if self.violations_only {
            return " no violations in this range".into();
        }
        if self.range == "all" {
            " no conversations stored yet".into()
        } else {
            format!(
                " no conversations in the last {}; try --range all",
                self.range
            )
        }
    }
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let banner_height = u16::from(self.error.is_some());
        let [header, totals, banner, table, detail, help] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(banner_height),
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.header().render(header, buf);
        self.totals().render(totals, buf);
        if let Some(error) = &self.error {
            Paragraph::new(format!(" ✖ {error} · retrying"))
                .style(self.banner_style())
                .render(banner, buf);
        }
        let rows: Vec<Row> = self.visible().into_iter().map(|c| self.row(c)).collect();
        if rows.is_empty() {
            Paragraph::new(self.empty_message()).render(table, buf);
        } else {
            let widths = [
                Constraint::Length(1),
                Constraint::Fill(3),
                Constraint::Fill(2),
                Constraint::Length(9),
                Constraint::Length(9),
                Constraint::Length(7),
                Constraint::Length(10),
            ];
            let head = Row::new([
                Cell::from(""),
                Cell::from("Source → Destination"),
                Cell::from("Zones"),
                Cell::from("Service"),
                Cell::from(Line::from("Bytes").right_aligned()),
                Cell::from(Line::from("Packets").right_aligned()),
                Cell::from("Verdict"),
            ])
            .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
            let mut state = TableState::default().with_selected(Some(self.selected));
            StatefulWidget::render(
                Table::new(rows, widths)
                    .header(head)
                    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
                table,
                buf,
                &mut state,
            );
        }
        self.detail().render(detail, buf);
        Line::from(" q quit · ↑↓ select · v violations only · r refresh · * same host")
            .style(Style::new().add_modifier(Modifier::DIM))
            .render(help, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tests::snapshot;
    use crate::app::Event;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use std::time::{Duration, UNIX_EPOCH};

    fn draw(app: &App) -> Buffer {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal
            .draw(|frame| frame.render_widget(app, frame.area()))
            .unwrap();
        terminal.backend().buffer().clone()
    }

    fn line(buf: &Buffer, y: u16) -> String {
        (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
    }

    fn find(buf: &Buffer, needle: &str) -> Option<u16> {
        (0..buf.area.height).find(|&y| line(buf, y).contains(needle))
    }

    fn loaded(color: bool) -> App {
        let mut app = App::new("http://127.0.0.1:8080", "all", color);
        app.handle_event(Event::Fetched {
            result: Ok(snapshot()),
            at: UNIX_EPOCH + Duration::from_secs(1_793_577_723),
        });
        app
    }

    #[test]
    fn violation_row_is_marked_and_red() {
        let buf = draw(&loaded(true));
        let y = find(&buf, "payroll-01 → fin-web-01").expect("violation row drawn");
        let text = line(&buf, y);
        assert!(text.starts_with("! payroll-01 → fin-web-01"), "{text:?}");
        assert!(text.contains("TCP/443"), "{text:?}");
        assert!(text.contains("50.8 KiB"), "{text:?}");
        assert!(text.contains("violation*"), "{text:?}");
        assert_eq!(buf[(0, y)].fg, Color::Red);
        assert_eq!(buf[(2, y)].fg, Color::Red);
        // An allowed row is not red, and has no marker.
        let y = find(&buf, "web-01 → app-01").unwrap();
        assert!(line(&buf, y).starts_with("  web-01"));
        assert_ne!(buf[(2, y)].fg, Color::Red);
        // Header and totals.
        assert!(line(&buf, 0).contains("updated 00:02:03 UTC"));
        assert!(line(&buf, 1).contains("3 conversations · 6 flows · 60 packets"));
        assert!(line(&buf, 1).contains("1 violation"));
    }

    #[test]
    fn no_color_keeps_the_marker_without_red() {
        let buf = draw(&loaded(false));
        let y = find(&buf, "payroll-01 → fin-web-01").unwrap();
        assert!(line(&buf, y).starts_with("! payroll-01"));
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                assert_ne!(buf[(x, y)].fg, Color::Red, "red at {x},{y}");
                assert_ne!(buf[(x, y)].bg, Color::Red, "red at {x},{y}");
            }
        }
    }

    #[test]
    fn banner_when_unreachable_and_rule_of_the_selected_row() {
        let mut app = loaded(true);
        app.handle_event(Event::Fetched {
            result: Err("server http://127.0.0.1:8080 unreachable: connection refused".into()),
            at: UNIX_EPOCH,
        });
        app.handle_event(Event::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Down,
            crossterm::event::KeyModifiers::NONE,
        )));
        let buf = draw(&app);
        assert!(line(&buf, 2).contains("✖ server http://127.0.0.1:8080 unreachable"));
        assert_eq!(buf[(1, 2)].bg, Color::Red);
        // The old rows stay, and the selected violation shows its rule.
        assert!(find(&buf, "payroll-01 → fin-web-01").is_some());
        assert!(line(&buf, 22)
            .contains("rule: payroll must never talk to the finance front end (critical)"));
    }

    #[test]
    fn empty_states() {
        let app = App::new("http://x", "24h", true);
        assert!(find(&draw(&app), "waiting for the first answer").is_some());
        let mut app = App::new("http://x", "24h", true);
        let mut empty = snapshot();
        empty.conversations.clear();
        app.handle_event(Event::Fetched {
            result: Ok(empty),
            at: UNIX_EPOCH,
        });
        assert!(find(&draw(&app), "try --range all").is_some());
    }
}
