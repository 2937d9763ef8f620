//! The hosts tab.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Row};

use crate::app::{clock_of_ms, human_bytes, App};

impl App {
    pub(super) fn hosts_view(&self, area: Rect, buf: &mut Buffer) {
        let hosts = self.hosts();
        if hosts.is_empty() {
            self.empty("hosts", area, buf);
            return;
        }
        let mut column = 0;
        let mut right_after_first = |text: String| {
            column = (column + 1) % 8;
            let line = Line::from(text);
            Cell::from(if column == 1 {
                line
            } else {
                line.right_aligned()
            })
        };
        let head = Row::new(
            [
                "host",
                "VMs",
                "convs",
                "local",
                "local bytes",
                "cross-zone",
                "violations",
                "last seen",
            ]
            .map(String::from)
            .map(&mut right_after_first),
        )
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
        let rows: Vec<Row> = hosts
            .iter()
            .map(|h| {
                let style = if h.violations > 0 {
                    self.violation_style()
                } else {
                    Style::new()
                };
                Row::new(
                    [
                        h.host.clone(),
                        h.vms.to_string(),
                        h.conversations.to_string(),
                        h.local_conversations.to_string(),
                        human_bytes(h.local_bytes),
                        h.local_cross_zone.to_string(),
                        h.violations.to_string(),
                        clock_of_ms(h.last_ms),
                    ]
                    .map(&mut right_after_first),
                )
                .style(style)
            })
            .collect();
        let widths = vec![
            Constraint::Fill(1),
            Constraint::Length(4),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(11),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(12),
        ];
        self.table(rows, head, widths, area, buf);
    }
}
