//! Handling events: fetched answers, keys and the line being typed,
//! moving between tabs and views.

use std::time::SystemTime;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::filter::Filter;
use super::{Action, App, Column, Connection, Event, Frame, Input, Tab, View};
use crate::api::{Conversation, Download, FetchError, Range, Request, Response, VerdictKind};

impl App {
    pub fn handle_event(&mut self, event: Event) -> Action {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.handle_key(key),
            Event::Key(_) | Event::Resize => Action::Continue,
            Event::Saved { file, result } => {
                self.notice = Some(match result {
                    Ok(bytes) => format!("packets saved to {} ({bytes} bytes)", file.display()),
                    Err(reason) => format!("packets not saved: {reason}"),
                });
                Action::Continue
            }
            Event::Fetched {
                request,
                result,
                at,
            } => {
                self.fetched(request, result, at);
                Action::Continue
            }
        }
    }

    fn fetched(&mut self, request: Request, result: Result<Response, FetchError>, at: SystemTime) {
        let path = request.endpoint();
        match result {
            Ok(response) => {
                self.connection = Connection::Connected { at };
                self.errors.remove(path);
                // An answer to a question no longer asked (the filter, range
                // or view changed meanwhile) is dropped.
                if !self.requests().contains(&request) {
                    return;
                }
                match response {
                    Response::Conversations(p) => self.data.conversations = Some(p),
                    Response::Violations(mut p) => {
                        // Rows of `violations` carry no verdict field.
                        for v in &mut p.violations {
                            v.verdict = VerdictKind::Violation;
                        }
                        self.data.violations = Some(p);
                    }
                    Response::ZoneMatrix(m) => self.data.matrix = Some(m),
                    Response::Hosts(h) => self.data.hosts = Some(h),
                    Response::Host(h) => self.data.host = Some(h),
                    Response::Vm(v) => self.data.vm = Some(v),
                    Response::Timeseries(t) => self.data.timeseries = Some(t),
                    Response::Exporters(e) => self.data.exporters = Some(e),
                    Response::Policy(p) => self.data.policy = Some(p),
                }
            }
            Err(err) if err.is_unreachable() => {
                let since = match &self.connection {
                    Connection::Lost { since, .. } => *since,
                    _ => at,
                };
                self.connection = Connection::Lost {
                    since,
                    reason: err.to_string(),
                };
            }
            Err(err) => {
                self.connection = Connection::Connected { at };
                self.errors.insert(path, err.to_string());
            }
        }
        self.clamp_selection();
    }

    fn handle_key(&mut self, key: KeyEvent) -> Action {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Action::Quit;
        }
        if self.input.is_some() {
            return self.handle_input(key);
        }
        if self.help {
            self.help = false;
            return Action::Continue;
        }
        self.notice = None;
        let rows = self.row_count();
        let before = self.requests();
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('/') => self.input = Some(Input::Filter(self.filter.to_string())),
            KeyCode::Char('R') => self.input = Some(Input::Range(self.settings.range.to_string())),
            KeyCode::Char('r') => {
                let now = self.settings.range.to_string();
                let next = Range::PRESETS
                    .iter()
                    .position(|p| *p == now)
                    .map_or(0, |i| (i + 1) % Range::PRESETS.len());
                self.settings.range = Range::Span(Range::PRESETS[next].to_string());
            }
            KeyCode::Char('p') => {
                self.paused = !self.paused;
                if !self.paused {
                    return Action::Refresh;
                }
            }
            KeyCode::F(5) => return Action::Refresh,
            KeyCode::Char('w') => {
                let Some(c) = self.selected_conversation() else {
                    self.notice = Some("select a conversation to save its packets".into());
                    return Action::Continue;
                };
                let download = Download::of(
                    c,
                    self.settings.dataset.as_deref(),
                    std::path::Path::new("."),
                );
                self.notice = Some(format!("saving packets to {}…", download.file.display()));
                self.download = Some(download);
                return Action::SavePackets;
            }
            KeyCode::Char('s') => {
                let sort = &mut self.sorts[self.tab.index()];
                sort.column = sort.column.next();
                sort.descending = !matches!(
                    sort.column,
                    Column::Client
                        | Column::Server
                        | Column::Zones
                        | Column::Host
                        | Column::Service
                );
            }
            KeyCode::Char('S') => {
                let sort = &mut self.sorts[self.tab.index()];
                sort.descending = !sort.descending;
            }
            KeyCode::Char('v') => {
                self.filter.verdict = match self.filter.verdict {
                    Some(_) => None,
                    None => Some("violation".into()),
                };
            }
            KeyCode::Tab => self.switch_tab((self.tab.index() + 1) % Tab::ALL.len()),
            KeyCode::BackTab => {
                self.switch_tab((self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len())
            }
            KeyCode::Char(c @ '1'..='5') => {
                self.switch_tab(usize::from(c as u8 - b'1'));
            }
            KeyCode::Enter => self.drill(),
            KeyCode::Esc | KeyCode::Backspace => {
                if self.stack.len() > 1 {
                    self.stack.pop();
                } else if !self.filter.is_empty() {
                    self.filter = Filter::default();
                }
            }
            code if self.is_matrix() => self.move_cell(code),
            KeyCode::Down | KeyCode::Char('j') => self.select(|s| s.saturating_add(1)),
            KeyCode::Up | KeyCode::Char('k') => self.select(|s| s.saturating_sub(1)),
            KeyCode::PageDown => self.select(|s| s.saturating_add(10)),
            KeyCode::PageUp => self.select(|s| s.saturating_sub(10)),
            KeyCode::Home | KeyCode::Char('g') => self.select(|_| 0),
            KeyCode::End | KeyCode::Char('G') => self.select(|_| rows.saturating_sub(1)),
            _ => {}
        }
        self.clamp_selection();
        if self.requests() == before {
            Action::Continue
        } else {
            Action::Refresh
        }
    }

    fn handle_input(&mut self, key: KeyEvent) -> Action {
        let Some(input) = &mut self.input else {
            return Action::Continue;
        };
        let text = match input {
            Input::Filter(t) | Input::Range(t) => t,
        };
        match key.code {
            KeyCode::Esc => self.input = None,
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            KeyCode::Enter => {
                let before = self.requests();
                match self.input.take() {
                    Some(Input::Filter(text)) => match Filter::parse(&text) {
                        Ok(filter) => {
                            self.filter = filter;
                            self.stack.iter_mut().for_each(|f| f.selected = 0);
                        }
                        Err(message) => {
                            self.notice = Some(format!("filter: {message}"));
                            self.input = Some(Input::Filter(text));
                        }
                    },
                    Some(Input::Range(text)) => match Range::parse(&text) {
                        Ok(range) => self.settings.range = range,
                        Err(message) => {
                            self.notice = Some(message);
                            self.input = Some(Input::Range(text));
                        }
                    },
                    None => {}
                }
                self.clamp_selection();
                if self.requests() != before {
                    return Action::Refresh;
                }
            }
            _ => {}
        }
        Action::Continue
    }

    fn is_matrix(&self) -> bool {
        self.frame().view == View::Tab(Tab::Zones)
    }

    fn move_cell(&mut self, code: KeyCode) {
        let n = self.zones().len();
        let (row, col) = &mut self.cell;
        match code {
            KeyCode::Down | KeyCode::Char('j') => *row += 1,
            KeyCode::Up | KeyCode::Char('k') => *row = row.saturating_sub(1),
            KeyCode::Right | KeyCode::Char('l') => *col += 1,
            KeyCode::Left | KeyCode::Char('h') => *col = col.saturating_sub(1),
            KeyCode::Home | KeyCode::Char('g') => (*row, *col) = (0, 0),
            _ => {}
        }
        *row = (*row).min(n.saturating_sub(1));
        *col = (*col).min(n.saturating_sub(1));
    }

    fn switch_tab(&mut self, index: usize) {
        let tab = Tab::ALL[index.min(Tab::ALL.len() - 1)];
        if tab == self.tab && self.stack.len() == 1 {
            return;
        }
        self.tab = tab;
        self.stack = vec![Frame {
            view: View::Tab(tab),
            selected: 0,
        }];
    }

    fn select(&mut self, f: impl FnOnce(usize) -> usize) {
        let frame = self.frame_mut();
        frame.selected = f(frame.selected);
    }

    fn clamp_selection(&mut self) {
        let rows = self.row_count();
        let frame = self.frame_mut();
        frame.selected = frame.selected.min(rows.saturating_sub(1));
        let n = self.zones().len();
        self.cell = (
            self.cell.0.min(n.saturating_sub(1)),
            self.cell.1.min(n.saturating_sub(1)),
        );
    }

    /// The selected conversation of a list view.
    pub fn selected_conversation(&self) -> Option<&Conversation> {
        match &self.frame().view {
            View::Conversation(c) => Some(c),
            _ => self.rows().get(self.frame().selected).copied(),
        }
    }

    /// Enter: open what the selected row names.
    fn drill(&mut self) {
        let selected = self.frame().selected;
        let view = match &self.frame().view {
            View::Tab(Tab::Exporters) => None,
            View::Tab(Tab::Zones) => {
                let zones = self.zones();
                match (zones.get(self.cell.0), zones.get(self.cell.1)) {
                    (Some(client), Some(server)) => Some(View::ZonePair {
                        client: client.clone(),
                        server: server.clone(),
                    }),
                    _ => None,
                }
            }
            View::Tab(Tab::Hosts) => self
                .hosts()
                .get(selected)
                .map(|h| View::Host(h.host.clone())),
            View::Conversation(c) => {
                let vm = if selected == 0 {
                    &c.client_vm
                } else {
                    &c.server_vm
                };
                (!vm.is_empty()).then(|| View::Vm(vm.clone()))
            }
            _ => self
                .selected_conversation()
                .map(|c| View::Conversation(Box::new(c.clone()))),
        };
        if let Some(view) = view {
            if matches!(view, View::Vm(_)) {
                self.data.vm = None;
            }
            if matches!(view, View::Host(_)) {
                self.data.host = None;
            }
            self.stack.push(Frame { view, selected: 0 });
        }
    }
}
