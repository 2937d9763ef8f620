//! The conversations tab: the conversation table with its markers and
//! totals, and one conversation's detail.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Widget, Wrap};

use super::{column_widths, fit, UNKNOWN_MARKER, VIOLATION_MARKER};
use crate::api::{Conversation, VerdictKind};
use crate::app::{clock_of_ms, human_bytes, human_rate, plural, rate, App, Column};

impl App {
    pub(super) fn marker(c: &Conversation) -> &'static str {
        if c.is_violation() {
            VIOLATION_MARKER
        } else if c.verdict == VerdictKind::Unknown {
            UNKNOWN_MARKER
        } else {
            ""
        }
    }

    /// A conversation list: the columns that fit the width.
    fn conversation_table(&self, rows: &[&Conversation], area: Rect, buf: &mut Buffer) {
        let window = self.window();
        let wide = area.width >= 130;
        let medium = area.width >= 100;
        let sort = self.sort();
        // The pair column as wide as its longest entry (up to 34), the
        // zones get the rest.
        let pair = rows
            .iter()
            .map(|c| c.client().chars().count() + c.server().chars().count() + 3)
            .max()
            .unwrap_or(0)
            .clamp(16, 34);
        let mut columns: Vec<(Option<Column>, &str, Constraint, bool)> = vec![
            (None, "", Constraint::Length(1), false),
            (
                Some(Column::Client),
                "client → server",
                Constraint::Length(u16::try_from(pair).unwrap_or(34)),
                false,
            ),
            (Some(Column::Zones), "zones", Constraint::Fill(1), false),
        ];
        if wide {
            columns.push((Some(Column::Host), "host", Constraint::Length(13), false));
        }
        columns.push((
            Some(Column::Service),
            "service",
            Constraint::Length(9),
            false,
        ));
        columns.push((
            Some(Column::BytesPerSec),
            "bytes/s",
            Constraint::Length(10),
            true,
        ));
        if wide {
            columns.push((
                Some(Column::PacketsPerSec),
                "pkts/s",
                Constraint::Length(8),
                true,
            ));
        }
        columns.push((Some(Column::Total), "total", Constraint::Length(9), true));
        if medium {
            columns.push((
                Some(Column::Verdict),
                "verdict",
                Constraint::Length(9),
                false,
            ));
        }
        if wide {
            columns.push((
                Some(Column::LastSeen),
                "last seen",
                Constraint::Length(12),
                false,
            ));
        }
        let head = Row::new(columns.iter().map(|(column, title, _, right)| {
            let mark = match column {
                Some(c)
                    if *c == sort.column
                        || (*c == Column::Client && sort.column == Column::Server) =>
                {
                    if sort.descending {
                        "▼"
                    } else {
                        "▲"
                    }
                }
                _ => "",
            };
            let line = Line::from(format!("{title}{mark}"));
            Cell::from(if *right { line.right_aligned() } else { line })
        }))
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
        let widths: Vec<Constraint> = columns.iter().map(|(_, _, w, _)| *w).collect();
        let fitted = column_widths(&widths, area.width);
        let body: Vec<Row> = rows
            .iter()
            .map(|c| {
                let cells = columns
                    .iter()
                    .zip(&fitted)
                    .map(|((column, _, _, right), width)| {
                        let text = match column {
                            None => App::marker(c).to_string(),
                            Some(Column::Client | Column::Server) => {
                                format!("{} → {}", c.client(), c.server())
                            }
                            Some(Column::Zones) => format!("{} → {}", c.client_zone, c.server_zone),
                            Some(Column::Host) => {
                                if c.same_host {
                                    format!("{}*", c.host())
                                } else {
                                    c.host()
                                }
                            }
                            Some(Column::Service) => c.service(),
                            Some(Column::BytesPerSec) => {
                                human_rate(rate(c.bytes(), c, window), "B")
                            }
                            Some(Column::PacketsPerSec) => {
                                human_rate(rate(c.packets(), c, window), "p")
                            }
                            Some(Column::Total) => human_bytes(c.bytes()),
                            Some(Column::Verdict) => c.verdict.to_string(),
                            Some(Column::LastSeen) => clock_of_ms(c.end_ms),
                        };
                        let line = Line::from(fit(&text, *width));
                        Cell::from(if *right { line.right_aligned() } else { line })
                    });
                Row::new(cells).style(self.row_style(c))
            })
            .collect();
        self.table(body, head, widths, area, buf);
    }
}

impl App {
    pub(super) fn conversations_view(
        &self,
        title: Option<Line<'_>>,
        what: &str,
        area: Rect,
        buf: &mut Buffer,
    ) {
        let mut area = area;
        if let Some(title) = title {
            let [top, rest] =
                Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
            title.render(top, buf);
            area = rest;
        }
        if let Some(error) = self.view_error() {
            let [top, rest] =
                Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
            Line::from(format!(" {error}"))
                .style(self.violation_style())
                .render(top, buf);
            area = rest;
        }
        let rows = self.rows();
        if rows.is_empty() {
            self.empty(what, area, buf);
        } else {
            self.conversation_table(&rows, area, buf);
        }
    }

    pub(super) fn totals_line(&self) -> Option<Line<'_>> {
        let page = self.data.conversations.as_ref()?;
        let t = page.totals;
        let violations = Span::styled(
            plural(t.violations, "violation"),
            if t.violations > 0 {
                self.violation_style()
            } else {
                Style::new()
            },
        );
        Some(Line::from(vec![
            Span::raw(format!(
                " {} · {} · {} · {} · ",
                plural(t.conversations, "conversation"),
                plural(t.flows, "flow"),
                plural(t.packets, "packet"),
                human_bytes(t.bytes)
            )),
            violations,
        ]))
    }
}

impl App {
    pub(super) fn conversation_detail(&self, c: &Conversation, area: Rect, buf: &mut Buffer) {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let style = self.row_style(c);
        let verdict = match c.severity {
            None => c.verdict.to_string(),
            Some(severity) => format!("{} ({severity})", c.verdict),
        };
        let endpoint = |role: &str, vm: &str, addr: &Option<String>, zone: &str, host: &str| {
            let mut text = format!(
                " {role} {}",
                if vm.is_empty() { "(unknown VM)" } else { vm }
            );
            if let Some(addr) = addr {
                text.push_str(&format!(" {addr}"));
            }
            text.push_str(&format!(" · zone {zone}"));
            if !host.is_empty() {
                text.push_str(&format!(" · host {host}"));
            }
            text
        };
        let selected = self.frame().selected;
        let pick = |i: usize, text: String| {
            let line = Line::from(text);
            if i == selected {
                line.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                line
            }
        };
        let mut lines = vec![
            Line::from(format!(
                " {} {} → {} · {}",
                App::marker(c),
                c.client(),
                c.server(),
                c.service()
            ))
            .style(style.patch(bold)),
            Line::from(format!(" verdict {verdict}")).style(style),
        ];
        if !c.rule.is_empty() {
            lines.push(Line::from(format!(" rule    {}", c.rule)).style(style));
        }
        lines.push(Line::from(""));
        lines.push(pick(
            0,
            endpoint(
                "client",
                &c.client_vm,
                &c.client_addr,
                &c.client_zone,
                &c.client_host,
            ),
        ));
        lines.push(pick(
            1,
            endpoint(
                "server",
                &c.server_vm,
                &c.server_addr,
                &c.server_zone,
                &c.server_host,
            ),
        ));
        lines.push(Line::from(""));
        if c.bytes_fwd + c.bytes_rev > 0 {
            lines.push(Line::from(format!(
                " client → server  {:>10}  {}",
                human_bytes(c.bytes_fwd),
                plural(c.packets_fwd, "packet")
            )));
            lines.push(Line::from(format!(
                " server → client  {:>10}  {}",
                human_bytes(c.bytes_rev),
                plural(c.packets_rev, "packet")
            )));
        }
        lines.push(Line::from(format!(
            " total            {:>10}  {} · {}",
            human_bytes(c.bytes()),
            plural(c.packets(), "packet"),
            plural(c.flows, "flow")
        )));
        lines.push(Line::from(format!(
            " seen {} – {} by {}",
            clock_of_ms(c.start_ms),
            clock_of_ms(c.end_ms),
            c.seen_by().join(", ")
        )));
        if c.same_host {
            lines.push(Line::from(
                " same host: switched inside the hypervisor, never on the physical wire",
            ));
        }
        if !c.policy_revision.is_empty() {
            lines.push(Line::from(format!(
                " policy revision {}",
                c.policy_revision
            )));
        }
        lines.push(Line::from(""));
        lines.push(
            Line::from(" ↑↓ choose a VM · ⏎ open it · Esc back")
                .style(Style::new().add_modifier(Modifier::DIM)),
        );
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(area, buf);
    }
}
