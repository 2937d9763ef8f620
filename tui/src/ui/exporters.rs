//! The exporters tab.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Cell, Row};

use crate::app::{clock_of_ms, App};

impl App {
    pub(super) fn exporters_view(&self, area: Rect, buf: &mut Buffer) {
        let Some(exporters) = self
            .data
            .exporters
            .as_ref()
            .filter(|e| !e.exporters.is_empty())
        else {
            self.empty("exporters", area, buf);
            return;
        };
        let wide = area.width >= 100;
        let mut titles = vec!["exporter/id", "host", "last seen", "flows", "gaps", "drops"];
        let mut widths = vec![
            Constraint::Fill(2),
            Constraint::Fill(1),
            Constraint::Length(12),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(6),
        ];
        if wide {
            titles.extend(["packets", "templates"]);
            widths.extend([Constraint::Length(9), Constraint::Length(9)]);
        }
        titles.push("state");
        widths.push(Constraint::Length(6));
        let head = Row::new(titles.iter().map(|t| Cell::from(*t)))
            .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
        let rows: Vec<Row> = exporters
            .exporters
            .iter()
            .map(|e| {
                let mut cells = vec![
                    format!("{}/{}", e.exporter, e.source_id),
                    e.name.clone(),
                    clock_of_ms(e.last_seen_ms),
                    e.flows.to_string(),
                    e.sequence_gaps.to_string(),
                    e.drops.to_string(),
                ];
                if wide {
                    cells.extend([e.packets.to_string(), e.templates.to_string()]);
                }
                cells.push(if e.stale { "stale" } else { "ok" }.into());
                let trouble = e.stale || e.sequence_gaps > 0 || e.drops > 0;
                Row::new(cells).style(if trouble {
                    self.violation_style()
                } else {
                    Style::new()
                })
            })
            .collect();
        self.table(rows, head, widths, area, buf);
    }
}
