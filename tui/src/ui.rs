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
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, StatefulWidget, Table, TableState,
    Widget, Wrap,
};

use crate::api::Conversation;
use crate::app::{
    clock_of_ms, clock_utc, human_bytes, human_rate, plural, rate, App, Column, Connection, Input,
    Tab, View,
};

/// The marker of a violating row.
pub const VIOLATION_MARKER: &str = "!";
/// The marker of a row with an endpoint outside the inventory.
pub const UNKNOWN_MARKER: &str = "?";

/// The keys, for the footer (short) and the help screen (long).
const KEYS: [(&str, &str); 14] = [
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
fn column_widths(widths: &[Constraint], width: u16) -> Vec<u16> {
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
        } else if c.verdict == "unknown" {
            self.unknown_style()
        } else {
            Style::new()
        }
    }

    fn header(&self) -> Line<'_> {
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

    fn tabs(&self) -> Line<'_> {
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

    fn sparklines(&self, area: Rect, buf: &mut Buffer) {
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

    fn banner(&self) -> Option<String> {
        match &self.connection {
            Connection::Lost { since, reason } => Some(format!(
                " ✖ lost since {}, reconnecting: {reason}",
                clock_utc(*since)
            )),
            _ => None,
        }
    }

    /// The error of the current view's request, if the server refused it.
    fn view_error(&self) -> Option<&str> {
        self.requests()
            .last()
            .and_then(|r| self.errors.get(r.endpoint()))
            .map(String::as_str)
    }

    /// Second line from the bottom: what is being typed, a notice, or the
    /// selected row's rule and evidence.
    fn status(&self) -> Line<'_> {
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
                    if !c.severity.is_empty() {
                        line.push_str(&format!(" ({})", c.severity));
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

    fn marker(c: &Conversation) -> &'static str {
        if c.is_violation() {
            VIOLATION_MARKER
        } else if c.verdict == "unknown" {
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
                            Some(Column::Verdict) => c.verdict.clone(),
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

    fn conversations_view(
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

    fn totals_line(&self) -> Option<Line<'_>> {
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

    fn violations_view(&self, area: Rect, buf: &mut Buffer) {
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
                cells.extend([c.service(), c.severity.clone()]);
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

    fn zones_view(&self, area: Rect, buf: &mut Buffer) {
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

    fn hosts_view(&self, area: Rect, buf: &mut Buffer) {
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

    fn exporters_view(&self, area: Rect, buf: &mut Buffer) {
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

    fn conversation_detail(&self, c: &Conversation, area: Rect, buf: &mut Buffer) {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let style = self.row_style(c);
        let verdict = if c.severity.is_empty() {
            c.verdict.clone()
        } else {
            format!("{} ({})", c.verdict, c.severity)
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

    fn help(&self, area: Rect, buf: &mut Buffer) {
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
