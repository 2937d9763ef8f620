//! The violations tab.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Cell, Row};

use super::{column_widths, fit};
use crate::app::{clock_of_ms, human_bytes, App};

impl App {
    pub(super) fn violations_view(&self, area: Rect, buf: &mut Buffer) {
        let rows = self.rows();
        if rows.is_empty() {
            self.empty("violations", area, buf);
            return;
        }
        let wide = area.width >= 120;
        let pair = rows
            .iter()
            .map(|c| c.client().chars().count() + c.server().chars().count() + 3)
            .max()
            .unwrap_or(0)
            .clamp(16, 34);
        let mut widths = vec![
            Constraint::Length(1),
            Constraint::Length(8),
            Constraint::Length(u16::try_from(pair).unwrap_or(34)),
        ];
        let mut titles = vec!["", "last", "client → server"];
        if wide {
            widths.push(Constraint::Fill(3));
            titles.push("zones");
        }
        widths.extend([Constraint::Length(9), Constraint::Length(8)]);
        titles.extend(["service", "severity"]);
        if wide {
            widths.push(Constraint::Length(9));
            titles.push("bytes");
        }
        widths.push(Constraint::Fill(4));
        titles.push("rule");
        let head = Row::new(titles.iter().map(|t| Cell::from(*t)))
            .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
        let fitted = column_widths(&widths, area.width);
        let body: Vec<Row> = rows
            .iter()
            .map(|c| {
                let mut cells = vec![
                    App::marker(c).to_string(),
                    clock_of_ms(c.end_ms).trim_end_matches(" UTC").to_string(),
                    format!("{} → {}", c.client(), c.server()),
                ];
                if wide {
                    cells.push(format!("{} → {}", c.client_zone, c.server_zone));
                }
                cells.extend([
                    c.service(),
                    c.severity.map_or(String::new(), |s| s.to_string()),
                ]);
                if wide {
                    cells.push(human_bytes(c.bytes()));
                }
                cells.push(c.rule.clone());
                let cells = cells
                    .iter()
                    .zip(&fitted)
                    .map(|(text, width)| fit(text, *width));
                Row::new(cells).style(self.row_style(c))
            })
            .collect();
        self.table(body, head, widths, area, buf);
    }
}
