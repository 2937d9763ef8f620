//! What surrounds the view: the header, the tabs, the sparklines, the
//! banner, the status line and the keys popup.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Sparkline, Widget};

use super::KEYS;
use crate::app::{clock_utc, human_rate, App, Connection, Input, Tab, View};

impl App {
    pub(super) fn header(&self) -> Line<'_> {
        let policy = match &self.data.policy {
            Some(p) => {
                let mut text = p.revision.clone().unwrap_or_else(|| "none".into());
                if p.error.is_some() {
                    // The file on disk does not load; the revision shown is
                    // the last one that did.
                    text.push_str(" (reload failed)");
                }
                text
            }
            None => "?".into(),
        };
        let state = if self.paused {
            "⏸ paused".to_string()
        } else {
            match &self.connection {
                Connection::Connecting => "… connecting".into(),
                Connection::Connected { at } => format!("● live {}", clock_utc(*at)),
                Connection::Lost { .. } => "✖ lost".into(),
            }
        };
        // No scheme, so that the clock fits in 80 columns.
        let server = self
            .settings
            .server
            .trim_start_matches("http://")
            .trim_start_matches("https://");
        Line::from(format!(
            " {server} · range {} · policy {policy} · {state}",
            self.settings.range
        ))
        .style(Style::new().add_modifier(Modifier::REVERSED))
    }

    pub(super) fn tabs(&self) -> Line<'_> {
        let mut spans = vec![Span::raw(" ")];
        for (i, tab) in Tab::ALL.iter().enumerate() {
            let text = format!(" {} {} ", i + 1, tab.title());
            let style = if *tab == self.tab {
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
            } else {
                Style::new()
            };
            spans.push(Span::styled(text, style));
        }
        if !self.filter.is_empty() {
            spans.push(Span::styled(
                format!(" / {}", self.filter),
                Style::new().add_modifier(Modifier::BOLD),
            ));
        }
        Line::from(spans)
    }

    pub(super) fn sparklines(&self, area: Rect, buf: &mut Buffer) {
        let [total, violating] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
        let points = self
            .data
            .timeseries
            .as_ref()
            .map_or(&[][..], |t| &t.points[..]);
        let step = self
            .data
            .timeseries
            .as_ref()
            .map_or(60_000, |t| t.step_ms.max(1));
        let max = points.iter().map(|p| p.bytes).max().unwrap_or(0).max(1);
        for (area, label, pick, style) in [
            (
                total,
                "traffic  ",
                (|p: &crate::api::Point| p.bytes) as fn(&crate::api::Point) -> u64,
                Style::new(),
            ),
            (
                violating,
                "violating",
                |p: &crate::api::Point| p.violation_bytes,
                self.violation_style(),
            ),
        ] {
            let [label_area, spark, value] = Layout::horizontal([
                Constraint::Length(11),
                Constraint::Fill(1),
                Constraint::Length(13),
            ])
            .areas(area);
            Line::from(format!(" {label}")).render(label_area, buf);
            let width = usize::from(spark.width);
            let data: Vec<u64> = points
                .iter()
                .skip(points.len().saturating_sub(width))
                .map(pick)
                // Anything above zero shows as at least the lowest bar.
                .map(|v| if v > 0 { v.max(max.div_ceil(8)) } else { 0 })
                .collect();
            // One scale for both lines: violating traffic shows as the
            // part of the total it is.
            Sparkline::default()
                .data(data)
                .max(max)
                .style(style)
                .render(spark, buf);
            let text = match points.last() {
                // Lossy on purpose: a display value.
                #[allow(clippy::cast_precision_loss)]
                Some(last) => human_rate(pick(last) as f64 * 1000.0 / step as f64, "B"),
                None => "–".into(),
            };
            Line::from(text).right_aligned().render(value, buf);
        }
    }

    pub(super) fn banner(&self) -> Option<String> {
        match &self.connection {
            Connection::Lost { since, reason } => Some(format!(
                " ✖ lost since {}, reconnecting: {reason}",
                clock_utc(*since)
            )),
            _ => None,
        }
    }

    /// The error of the current view's request, if the server refused it.
    pub(super) fn view_error(&self) -> Option<&str> {
        self.requests()
            .last()
            .and_then(|r| self.errors.get(r.endpoint()))
            .map(String::as_str)
    }

    /// Second line from the bottom: what is being typed, a notice, or the
    /// selected row's rule and evidence.
    pub(super) fn status(&self) -> Line<'_> {
        if let Some(input) = &self.input {
            let (label, text, hint) = match input {
                Input::Filter(t) => (
                    "filter",
                    t,
                    "vm: zone: port: verdict: words · ⏎ apply · Esc cancel",
                ),
                Input::Range(t) => ("range", t, "5m 1h 24h all or FROM..TO · ⏎ apply"),
            };
            let mut spans = vec![
                Span::styled(
                    format!(" {label}: "),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(text.as_str()),
                Span::styled("▏", Style::new().add_modifier(Modifier::SLOW_BLINK)),
                Span::styled(
                    format!("  {hint}"),
                    Style::new().add_modifier(Modifier::DIM),
                ),
            ];
            if let Some(notice) = &self.notice {
                spans.push(Span::styled(format!("  {notice}"), self.violation_style()));
            }
            return Line::from(spans);
        }
        if let Some(notice) = &self.notice {
            return Line::from(format!(" {notice}")).style(self.violation_style());
        }
        let mut parts = Vec::new();
        if matches!(
            self.frame().view,
            View::Tab(Tab::Conversations | Tab::Violations)
                | View::Vm(_)
                | View::Host(_)
                | View::ZonePair { .. }
        ) {
            let sort = self.sort();
            parts.push(format!(
                "sort {} {}",
                sort.column.title(),
                if sort.descending { "▼" } else { "▲" }
            ));
        }
        let mut line = String::from(" ");
        let mut style = Style::new();
        if !matches!(self.frame().view, View::Conversation(_)) {
            if let Some(c) = self.selected_conversation() {
                if !c.rule.is_empty() {
                    line.push_str(&format!("rule: {}", c.rule));
                    if let Some(severity) = c.severity {
                        line.push_str(&format!(" ({severity})"));
                    }
                    line.push_str(" · ");
                }
                if c.same_host {
                    line.push_str("same host · ");
                }
                line.push_str(&format!("seen by {}", c.seen_by().join(", ")));
                style = self.row_style(c);
            }
        }
        let right = parts.join(" · ");
        Line::from(vec![
            Span::styled(line, style),
            Span::styled(
                if right.is_empty() {
                    String::new()
                } else {
                    format!(" │ {right}")
                },
                Style::new().add_modifier(Modifier::DIM),
            ),
        ])
    }
}

impl App {
    pub(super) fn help(&self, area: Rect, buf: &mut Buffer) {
        let width = area.width.min(72);
        let height = area.height.min(u16::try_from(KEYS.len()).unwrap_or(20) + 4);
        let popup = Rect {
            x: area.x + (area.width - width) / 2,
            y: area.y + (area.height - height) / 2,
            width,
            height,
        };
        Clear.render(popup, buf);
        let mut lines: Vec<Line> = KEYS
            .iter()
            .map(|(key, what)| {
                Line::from(vec![
                    Span::styled(
                        format!(" {key:<8}"),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(format!(" {what}")),
                ])
            })
            .collect();
        lines.push(Line::from(
            " ! violation · ? unknown endpoint · * same host · any key closes",
        ));
        Paragraph::new(lines)
            .block(Block::default().borders(Borders::ALL).title(" keys "))
            .render(popup, buf);
    }
}
