//! The zones tab: the matrix of traffic between zones.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, Widget, Wrap};

use super::{fit, VIOLATION_MARKER};
use crate::app::{human_bytes, plural, App};

impl App {
    pub(super) fn zones_view(&self, area: Rect, buf: &mut Buffer) {
        let Some(matrix) = self.data.matrix.as_ref().filter(|m| !m.zones.is_empty()) else {
            self.empty("zones", area, buf);
            return;
        };
        let zones = &matrix.zones;
        let label = zones
            .iter()
            .map(|z| z.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(6, 18);
        let [grid, detail] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(2)]).areas(area);
        let cell_width: u16 = 10;
        let mut widths = vec![Constraint::Length(u16::try_from(label).unwrap_or(18))];
        widths.extend(zones.iter().map(|_| Constraint::Length(cell_width)));
        let mut head = vec![Cell::from("client↓ server→")];
        head.extend(
            zones
                .iter()
                .map(|z| Cell::from(Line::from(fit(z, cell_width)).right_aligned())),
        );
        let rows: Vec<Row> = zones
            .iter()
            .enumerate()
            .map(|(r, client)| {
                let label = u16::try_from(label).unwrap_or(18);
                let mut cells =
                    vec![Cell::from(fit(client, label))
                        .style(Style::new().add_modifier(Modifier::BOLD))];
                for (c, server) in zones.iter().enumerate() {
                    let (text, mut style) = match matrix.cell(client, server) {
                        Some(cell) if cell.violations > 0 => (
                            format!("{VIOLATION_MARKER}{}", human_bytes(cell.bytes)),
                            self.violation_style(),
                        ),
                        Some(cell) => (human_bytes(cell.bytes), Style::new()),
                        None => ("·".into(), Style::new().add_modifier(Modifier::DIM)),
                    };
                    if (r, c) == self.cell {
                        style = style.add_modifier(Modifier::REVERSED);
                    }
                    cells.push(Cell::from(Line::from(text).right_aligned()).style(style));
                }
                Row::new(cells)
            })
            .collect();
        Widget::render(
            Table::new(rows, widths).header(
                Row::new(head)
                    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)),
            ),
            grid,
            buf,
        );
        let (client, server) = (
            &zones[self.cell.0.min(zones.len() - 1)],
            &zones[self.cell.1.min(zones.len() - 1)],
        );
        let text = match matrix.cell(client, server) {
            Some(cell) => format!(
                " {client} → {server}: {} · {} · {} · {}",
                plural(cell.conversations, "conversation"),
                plural(cell.flows, "flow"),
                human_bytes(cell.bytes),
                plural(cell.violations, "violation")
            ),
            None => format!(" {client} → {server}: no traffic"),
        };
        let style = match matrix.cell(client, server) {
            Some(cell) if cell.violations > 0 => self.violation_style(),
            _ => Style::new(),
        };
        Paragraph::new(Line::from(text).style(style))
            .wrap(Wrap { trim: false })
            .render(detail, buf);
    }
}
