//! The state of the interactive view and how events change it. No I/O here:
//! key presses and fetch results come in as [`Event`]s (with the time they
//! happened), and [`App::requests`] says what the fetcher should ask the
//! server for, so the logic is tested without a terminal or a server.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::api::{
    Conversation, ConversationsPage, Exporters, FetchError, HostDetail, HostSummary, Hosts, Policy,
    Query, Range, Request, Response, Timeseries, ViolationsPage, VmDetail, ZoneMatrix,
};

/// Something that happened.
// A handful of events a second: the size of a fetched answer is no cost
// worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A key was pressed.
    Key(KeyEvent),
    /// The terminal was resized; only a redraw is needed.
    Resize,
    /// A fetch of `request` finished at `at`.
    Fetched {
        request: Request,
        result: Result<Response, FetchError>,
        at: SystemTime,
    },
}

/// What the caller should do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Redraw and go on.
    Continue,
    /// Fetch now instead of waiting for the next interval.
    Refresh,
    /// Leave.
    Quit,
}

/// The tabs, in order (keys `1`…`5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tab {
    Conversations,
    Violations,
    Zones,
    Hosts,
    Exporters,
}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Conversations,
        Tab::Violations,
        Tab::Zones,
        Tab::Hosts,
        Tab::Exporters,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Conversations => "Conversations",
            Tab::Violations => "Violations",
            Tab::Zones => "Zones",
            Tab::Hosts => "Hosts",
            Tab::Exporters => "Exporters",
        }
    }

    fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// What a level of the drill-down shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// A tab's own list.
    Tab(Tab),
    /// One conversation: both directions, rule, observers; its two VMs
    /// are the rows (Enter opens one).
    Conversation(Box<Conversation>),
    /// A VM: placements and its conversations.
    Vm(String),
    /// A host: its locally switched conversations.
    Host(String),
    /// The conversations of one zone matrix cell.
    ZonePair { client: String, server: String },
}

/// One level of the drill-down with its selected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub view: View,
    pub selected: usize,
}

/// The columns a conversation list sorts by (`s` cycles, `S` reverses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Client,
    Server,
    Zones,
    Host,
    Service,
    BytesPerSec,
    PacketsPerSec,
    Total,
    Verdict,
    LastSeen,
}

impl Column {
    pub const ALL: [Column; 10] = [
        Column::Client,
        Column::Server,
        Column::Zones,
        Column::Host,
        Column::Service,
        Column::BytesPerSec,
        Column::PacketsPerSec,
        Column::Total,
        Column::Verdict,
        Column::LastSeen,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Client => "client",
            Column::Server => "server",
            Column::Zones => "zones",
            Column::Host => "host",
            Column::Service => "service",
            Column::BytesPerSec => "bytes/s",
            Column::PacketsPerSec => "packets/s",
            Column::Total => "total",
            Column::Verdict => "verdict",
            Column::LastSeen => "last seen",
        }
    }

    fn next(self) -> Column {
        let i = Column::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Column::ALL[(i + 1) % Column::ALL.len()]
    }
}

/// A sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub column: Column,
    pub descending: bool,
}

/// The `/` filter: `vm:NAME`, `zone:NAME`, `verdict:V` and `port:N` go to
/// the server (exact match, on the endpoints that take them) and are checked
/// again here; free words are matched here (a word matches a VM, address, zone or host containing it,
/// case-insensitively). All terms must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub vm: Option<String>,
    pub zone: Option<String>,
    pub verdict: Option<String>,
    pub port: Option<u16>,
    pub words: Vec<String>,
}

impl Filter {
    /// Parse what the user typed; the error names the bad term.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut filter = Filter::default();
        for term in text.split_whitespace() {
            match term.split_once(':') {
                Some(("vm", v)) if !v.is_empty() => filter.vm = Some(v.to_string()),
                Some(("zone", v)) if !v.is_empty() => filter.zone = Some(v.to_string()),
                Some(("verdict", v)) => match v {
                    "allowed" | "violation" | "unknown" => filter.verdict = Some(v.to_string()),
                    _ => {
                        return Err(format!(
                            "verdict is allowed, violation or unknown, got {v:?}"
                        ))
                    }
                },
                Some(("port", v)) => {
                    filter.port = Some(
                        v.parse()
                            .map_err(|_| format!("port is a number 0…65535, got {v:?}"))?,
                    );
                }
                Some((key, _)) if matches!(key, "vm" | "zone") => {
                    return Err(format!("{key}: needs a name"))
                }
                // `host:x` is a mistake; `fd00::1` is an address, a word.
                Some((key, rest))
                    if !key.is_empty()
                        && key.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
                        && !rest.contains(':') =>
                {
                    return Err(format!(
                        "unknown filter {key:?}: use vm:, zone:, port:, verdict: or a word"
                    ))
                }
                _ => filter.words.push(term.to_lowercase()),
            }
        }
        Ok(filter)
    }

    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Does a conversation pass?
    pub fn matches(&self, c: &Conversation) -> bool {
        let vm_ok = self
            .vm
            .as_ref()
            .is_none_or(|vm| c.client_vm == *vm || c.server_vm == *vm);
        let zone_ok = self
            .zone
            .as_ref()
            .is_none_or(|z| c.client_zone == *z || c.server_zone == *z);
        let verdict_ok = self.verdict.as_ref().is_none_or(|v| c.verdict == *v);
        let port_ok = self.port.is_none_or(|p| c.server_port == p);
        let words_ok = self.words.iter().all(|w| {
            [
                c.client(),
                c.server(),
                &c.client_zone,
                &c.server_zone,
                &c.client_host,
                &c.server_host,
            ]
            .iter()
            .any(|field| field.to_lowercase().contains(w))
        });
        vm_ok && zone_ok && verdict_ok && port_ok && words_ok
    }
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut terms = Vec::new();
        if let Some(v) = &self.vm {
            terms.push(format!("vm:{v}"));
        }
        if let Some(v) = &self.zone {
            terms.push(format!("zone:{v}"));
        }
        if let Some(v) = &self.verdict {
            terms.push(format!("verdict:{v}"));
        }
        if let Some(v) = &self.port {
            terms.push(format!("port:{v}"));
        }
        terms.extend(self.words.iter().cloned());
        f.write_str(&terms.join(" "))
    }
}

/// A line being typed at the bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Filter(String),
    Range(String),
}

/// Can the server be reached?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// No answer yet.
    Connecting,
    /// The last request got an answer at `at`.
    Connected { at: SystemTime },
    /// Unreachable since `since`; fetching goes on every interval.
    Lost { since: SystemTime, reason: String },
}

/// The answers kept, one per kind of request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Data {
    pub conversations: Option<ConversationsPage>,
    pub violations: Option<ViolationsPage>,
    pub matrix: Option<ZoneMatrix>,
    pub hosts: Option<Hosts>,
    pub host: Option<HostDetail>,
    pub vm: Option<VmDetail>,
    pub timeseries: Option<Timeseries>,
    pub exporters: Option<Exporters>,
    pub policy: Option<Policy>,
}

/// Settings the view starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub server: String,
    pub range: Range,
    pub dataset: Option<String>,
    pub limit: u64,
    pub color: bool,
}

/// The interactive view's state.
#[derive(Debug, Clone)]
pub struct App {
    pub settings: Settings,
    pub tab: Tab,
    /// The drill-down, the tab's list first; never empty.
    pub stack: Vec<Frame>,
    pub filter: Filter,
    pub input: Option<Input>,
    /// A message about the last thing typed (bad filter or range).
    pub notice: Option<String>,
    sorts: [Sort; 5],
    pub paused: bool,
    pub help: bool,
    pub connection: Connection,
    pub data: Data,
    /// The last refused request per endpoint path, shown in its view.
    pub errors: BTreeMap<&'static str, String>,
    /// Zones tab cursor: (row = client zone, column = server zone).
    pub cell: (usize, usize),
}

impl App {
    pub fn new(settings: Settings) -> App {
        let by_rate = Sort {
            column: Column::BytesPerSec,
            descending: true,
        };
        let newest = Sort {
            column: Column::LastSeen,
            descending: true,
        };
        App {
            settings,
            tab: Tab::Conversations,
            stack: vec![Frame {
                view: View::Tab(Tab::Conversations),
                selected: 0,
            }],
            filter: Filter::default(),
            input: None,
            notice: None,
            sorts: [by_rate, newest, by_rate, by_rate, by_rate],
            paused: false,
            help: false,
            connection: Connection::Connecting,
            data: Data::default(),
            errors: BTreeMap::new(),
            cell: (0, 0),
        }
    }

    /// The view on top of the drill-down.
    pub fn frame(&self) -> &Frame {
        // The stack is never empty: `back` keeps the first frame.
        &self.stack[self.stack.len() - 1]
    }

    fn frame_mut(&mut self) -> &mut Frame {
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    /// The sort of the current tab (drill-down lists use it too).
    pub fn sort(&self) -> Sort {
        self.sorts[self.tab.index()]
    }

    /// The query every list request carries.
    pub fn query(&self) -> Query {
        Query {
            range: self.settings.range.clone(),
            dataset: self.settings.dataset.clone(),
            vm: self.filter.vm.clone(),
            zone: self.filter.zone.clone(),
            verdict: self.filter.verdict.clone(),
            port: self.filter.port,
            limit: self.settings.limit,
        }
    }

    /// What to fetch every interval for what is on screen: the header's
    /// policy and sparklines, and the data of the current view.
    pub fn requests(&self) -> Vec<Request> {
        let q = self.query();
        let mut out = vec![Request::Policy, Request::Timeseries(q.clone())];
        let tab = View::Tab(self.tab);
        let view = self
            .stack
            .iter()
            .rev()
            .find(|f| !matches!(f.view, View::Conversation(_)))
            .map_or(&tab, |f| &f.view);
        out.push(match view {
            View::Tab(Tab::Conversations) => Request::Conversations(q),
            View::Tab(Tab::Violations) => Request::Violations(q),
            View::Tab(Tab::Zones) => Request::ZoneMatrix(q),
            View::Tab(Tab::Hosts) => Request::Hosts(q),
            View::Tab(Tab::Exporters) => Request::Exporters,
            View::Vm(name) => Request::Vm {
                name: name.clone(),
                query: q,
            },
            View::Host(name) => Request::Host {
                name: name.clone(),
                query: q,
            },
            View::ZonePair { client, server } => Request::ZonePair {
                client: client.clone(),
                server: server.clone(),
                query: q,
            },
            View::Conversation(_) => Request::Conversations(q),
        });
        out
    }

    /// The conversations of the current list view, filtered and sorted.
    pub fn rows(&self) -> Vec<&Conversation> {
        let (list, window): (&[Conversation], Option<u64>) = match &self.frame().view {
            View::Tab(Tab::Conversations) => match &self.data.conversations {
                Some(p) => (&p.conversations, window_ms(p.from_ms, p.to_ms)),
                None => (&[], None),
            },
            View::Tab(Tab::Violations) => match &self.data.violations {
                Some(p) => (&p.violations, window_ms(p.from_ms, p.to_ms)),
                None => (&[], None),
            },
            View::Host(_) => match &self.data.host {
                Some(h) => (&h.conversations, None),
                None => (&[], None),
            },
            View::Vm(_) => match &self.data.vm {
                Some(v) => (&v.conversations, None),
                None => (&[], None),
            },
            View::ZonePair { .. } => match &self.data.conversations {
                Some(p) => (&p.conversations, window_ms(p.from_ms, p.to_ms)),
                None => (&[], None),
            },
            View::Tab(Tab::Zones | Tab::Hosts | Tab::Exporters) | View::Conversation(_) => {
                (&[], None)
            }
        };
        let pair = match &self.frame().view {
            View::ZonePair { client, server } => Some((client, server)),
            _ => None,
        };
        let mut rows: Vec<&Conversation> = list
            .iter()
            .filter(|c| self.filter.matches(c))
            .filter(|c| pair.is_none_or(|(cz, sz)| c.client_zone == *cz && c.server_zone == *sz))
            .collect();
        let sort = self.sort();
        rows.sort_by(|a, b| {
            let order = compare(sort.column, a, b, window);
            if sort.descending {
                order.reverse()
            } else {
                order
            }
        });
        rows
    }

    /// The rate window of the current list (see [`rate`]).
    pub fn window(&self) -> Option<u64> {
        match &self.frame().view {
            View::Tab(Tab::Violations) => self
                .data
                .violations
                .as_ref()
                .and_then(|p| window_ms(p.from_ms, p.to_ms)),
            View::Tab(Tab::Conversations) | View::ZonePair { .. } => self
                .data
                .conversations
                .as_ref()
                .and_then(|p| window_ms(p.from_ms, p.to_ms)),
            _ => None,
        }
    }

    /// The Hosts tab: hosts, most locally switched bytes first; the free
    /// words of the filter match host names.
    pub fn hosts(&self) -> Vec<&HostSummary> {
        let mut hosts: Vec<&HostSummary> = self
            .data
            .hosts
            .iter()
            .flat_map(|h| &h.hosts)
            .filter(|h| {
                self.filter
                    .words
                    .iter()
                    .all(|w| h.host.to_lowercase().contains(w))
            })
            .collect();
        hosts.sort_by(|a, b| {
            b.local_bytes
                .cmp(&a.local_bytes)
                .then(b.bytes.cmp(&a.bytes))
                .then(a.host.cmp(&b.host))
        });
        hosts
    }

    /// How many rows the current view has (for moving the selection).
    pub fn row_count(&self) -> usize {
        match &self.frame().view {
            View::Tab(Tab::Hosts) => self.hosts().len(),
            View::Tab(Tab::Exporters) => self
                .data
                .exporters
                .as_ref()
                .map_or(0, |e| e.exporters.len()),
            View::Tab(Tab::Zones) => 0,
            View::Conversation(_) => 2,
            _ => self.rows().len(),
        }
    }

    /// Zones of the matrix, in the server's order.
    pub fn zones(&self) -> &[String] {
        self.data.matrix.as_ref().map_or(&[], |m| &m.zones)
    }

    pub fn handle_event(&mut self, event: Event) -> Action {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.handle_key(key),
            Event::Key(_) | Event::Resize => Action::Continue,
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
                            if v.verdict.is_empty() {
                                v.verdict = "violation".into();
                            }
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

fn window_ms(from: Option<u64>, to: Option<u64>) -> Option<u64> {
    match (from, to) {
        (Some(from), Some(to)) if to > from => Some(to - from),
        _ => None,
    }
}

/// Average rate of `amount` per second: over the query's window when it has
/// one (a live range), else over the conversation's own span, at least 1 s
/// (`all` over a replayed capture).
pub fn rate(amount: u64, c: &Conversation, window: Option<u64>) -> f64 {
    let ms = window.unwrap_or_else(|| c.end_ms.saturating_sub(c.start_ms).max(1000));
    // Display values: precision loss past 2^53 is irrelevant.
    #[allow(clippy::cast_precision_loss)]
    let value = amount as f64 * 1000.0 / ms as f64;
    value
}

fn compare(column: Column, a: &Conversation, b: &Conversation, window: Option<u64>) -> Ordering {
    let by_rate = |f: fn(&Conversation) -> u64| {
        rate(f(a), a, window)
            .partial_cmp(&rate(f(b), b, window))
            .unwrap_or(Ordering::Equal)
    };
    let primary = match column {
        Column::Client => a.client().cmp(b.client()),
        Column::Server => a.server().cmp(b.server()),
        Column::Zones => (&a.client_zone, &a.server_zone).cmp(&(&b.client_zone, &b.server_zone)),
        Column::Host => a.host().cmp(&b.host()),
        Column::Service => (a.proto, a.server_port).cmp(&(b.proto, b.server_port)),
        Column::BytesPerSec => by_rate(Conversation::bytes),
        Column::PacketsPerSec => by_rate(Conversation::packets),
        Column::Total => a.bytes().cmp(&b.bytes()),
        Column::Verdict => severity_rank(a).cmp(&severity_rank(b)),
        Column::LastSeen => a.end_ms.cmp(&b.end_ms),
    };
    // Ties in a stable, readable order.
    primary
        .then_with(|| a.client().cmp(b.client()))
        .then_with(|| a.server().cmp(b.server()))
        .then_with(|| a.server_port.cmp(&b.server_port))
}

/// Verdict order for sorting: violations (by severity) above unknown
/// endpoints above allowed.
fn severity_rank(c: &Conversation) -> u8 {
    match (c.verdict.as_str(), c.severity.as_str()) {
        ("violation", "critical") => 6,
        ("violation", "high") => 5,
        ("violation", "medium") => 4,
        ("violation", "low") => 3,
        ("violation", _) => 2,
        ("unknown", _) => 1,
        _ => 0,
    }
}

/// `HH:MM:SS UTC` of a time.
pub fn clock_utc(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    clock_of_ms(secs * 1000)
}

/// `HH:MM:SS UTC` of epoch milliseconds.
pub fn clock_of_ms(ms: u64) -> String {
    let secs = ms / 1000 % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `1 flow`, `2 flows`.
pub fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// `1.5 MiB`, `512 B`.
pub fn human_bytes(bytes: u64) -> String {
    // Lossy on purpose: a display value.
    #[allow(clippy::cast_precision_loss)]
    human(bytes as f64, "B")
}

/// `1.50 KiB/s`, `12 B/s`; `packets/s` likewise with `k`, `M`.
pub fn human_rate(value: f64, unit: &str) -> String {
    if unit == "B" {
        format!("{}/s", human(value, "B"))
    } else if value < 1000.0 {
        format!("{value:.1}/s")
    } else if value < 1_000_000.0 {
        format!("{:.1}k/s", value / 1000.0)
    } else {
        format!("{:.1}M/s", value / 1_000_000.0)
    }
}

fn human(mut value: f64, unit: &str) -> String {
    const PREFIXES: [&str; 6] = ["", "Ki", "Mi", "Gi", "Ti", "Pi"];
    if value < 1024.0 {
        return if value.fract() == 0.0 {
            format!("{value} {unit}")
        } else {
            format!("{value:.1} {unit}")
        };
    }
    let mut prefix = 0;
    while value >= 1024.0 && prefix < PREFIXES.len() - 1 {
        value /= 1024.0;
        prefix += 1;
    }
    if value < 10.0 {
        format!("{value:.2} {}{unit}", PREFIXES[prefix])
    } else {
        format!("{value:.1} {}{unit}", PREFIXES[prefix])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::{Exporter, Placement, Point, Totals, ZoneCell};
    use std::time::Duration;

    /// 2026-11-02T10:00:00Z, the lab's day.
    pub(crate) const T0: u64 = 1_793_613_600_000;

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn conversation(
        client: (&str, &str, &str),
        server: (&str, &str, &str),
        port: u16,
        verdict: &str,
        rule: &str,
        bytes: (u64, u64),
        last_s: u64,
    ) -> Conversation {
        Conversation {
            client_vm: client.0.into(),
            client_addr: None,
            client_zone: client.1.into(),
            client_host: client.2.into(),
            server_vm: server.0.into(),
            server_addr: None,
            server_zone: server.1.into(),
            server_host: server.2.into(),
            proto: 6,
            server_port: port,
            verdict: verdict.into(),
            rule: rule.into(),
            severity: if verdict == "violation" {
                "critical".into()
            } else {
                String::new()
            },
            same_host: client.2 == server.2,
            observers: vec![client.2.into()],
            flows: 2,
            bytes_fwd: bytes.0,
            packets_fwd: bytes.0 / 100,
            bytes_rev: bytes.1,
            packets_rev: bytes.1 / 100,
            bytes: bytes.0 + bytes.1,
            packets: bytes.0 / 100 + bytes.1 / 100,
            start_ms: T0,
            end_ms: T0 + last_s * 1000,
            ..Conversation::default()
        }
    }

    pub(crate) const RULE: &str = "payroll must never talk to the finance front end";

    /// The lab, as the dashboard would answer for it.
    pub(crate) fn lab() -> Vec<Conversation> {
        vec![
            conversation(
                ("web-01", "dmz", "esx-01"),
                ("app-01", "app", "esx-01"),
                8443,
                "allowed",
                "",
                (20_160, 75_280),
                60,
            ),
            conversation(
                ("fin-fe-01", "finance-frontend", "esx-03"),
                ("payroll-01", "payroll", "esx-03"),
                443,
                "violation",
                RULE,
                (14_560, 64_400),
                30,
            ),
            conversation(
                ("app-02", "app", "esx-02"),
                ("db-01", "db", "esx-04"),
                5432,
                "allowed",
                "",
                (15_760, 56_480),
                90,
            ),
            conversation(
                ("web-01", "dmz", "esx-01"),
                ("db-02", "db", "esx-04"),
                5432,
                "violation",
                "the DMZ must never reach the database tier",
                (2_920, 8_960),
                120,
            ),
        ]
    }

    pub(crate) fn page(conversations: Vec<Conversation>) -> ConversationsPage {
        let totals = Totals {
            conversations: conversations.len() as u64,
            violations: conversations.iter().filter(|c| c.is_violation()).count() as u64,
            flows: conversations.iter().map(|c| c.flows).sum(),
            packets: conversations.iter().map(Conversation::packets).sum(),
            bytes: conversations.iter().map(Conversation::bytes).sum(),
        };
        ConversationsPage {
            from_ms: Some(T0),
            to_ms: Some(T0 + 300_000),
            totals,
            conversations,
        }
    }

    /// An in-memory dashboard: answers every request from the lab rows,
    /// applying the server-side filters, and records what it was asked.
    #[derive(Debug, Default)]
    pub(crate) struct FakeClient {
        pub asked: std::sync::Mutex<Vec<Request>>,
        pub down: bool,
    }

    impl crate::api::Client for FakeClient {
        async fn fetch(&self, request: &Request) -> Result<Response, FetchError> {
            if let Ok(mut asked) = self.asked.lock() {
                asked.push(request.clone());
            }
            if self.down {
                return Err(FetchError::Unreachable {
                    url: "http://fake".into(),
                    reason: "connection refused".into(),
                });
            }
            let served = |q: &Query| -> Vec<Conversation> {
                lab()
                    .into_iter()
                    .filter(|c| {
                        q.vm.as_ref()
                            .is_none_or(|v| c.client_vm == *v || c.server_vm == *v)
                            && q.zone
                                .as_ref()
                                .is_none_or(|z| c.client_zone == *z || c.server_zone == *z)
                            && q.verdict.as_ref().is_none_or(|v| c.verdict == *v)
                            && q.port.is_none_or(|p| c.server_port == p)
                    })
                    .collect()
            };
            Ok(match request {
                Request::Conversations(q) => Response::Conversations(page(served(q))),
                Request::ZonePair {
                    client,
                    server,
                    query,
                } => Response::Conversations(page(
                    served(query)
                        .into_iter()
                        .filter(|c| c.client_zone == *client && c.server_zone == *server)
                        .collect(),
                )),
                Request::Hosts(q) => {
                    let mut hosts: BTreeMap<String, HostSummary> = BTreeMap::new();
                    for c in served(q) {
                        for name in [&c.client_host, &c.server_host] {
                            let h = hosts.entry(name.clone()).or_default();
                            h.host.clone_from(name);
                            h.conversations += 1;
                            h.bytes += c.bytes();
                            h.violations += u64::from(c.is_violation());
                            h.vms = 2;
                            h.last_ms = h.last_ms.max(c.end_ms);
                        }
                        if c.same_host {
                            let h = hosts.entry(c.client_host.clone()).or_default();
                            h.local_conversations += 1;
                            h.local_bytes += c.bytes();
                            h.local_cross_zone += u64::from(c.client_zone != c.server_zone);
                        }
                    }
                    Response::Hosts(Hosts {
                        hosts: hosts.into_values().collect(),
                    })
                }
                Request::Violations(q) => Response::Violations(ViolationsPage {
                    from_ms: Some(T0),
                    to_ms: Some(T0 + 300_000),
                    total: 2,
                    // As the server sends them: no verdict field.
                    violations: served(&Query {
                        verdict: None,
                        port: None,
                        ..q.clone()
                    })
                    .into_iter()
                    .filter(Conversation::is_violation)
                    .map(|c| Conversation {
                        verdict: String::new(),
                        ..c
                    })
                    .collect(),
                }),
                Request::ZoneMatrix(q) => {
                    let mut zones: Vec<String> = Vec::new();
                    let mut cells: Vec<ZoneCell> = Vec::new();
                    for c in served(q) {
                        for z in [&c.client_zone, &c.server_zone] {
                            if !zones.contains(z) {
                                zones.push(z.clone());
                            }
                        }
                        cells.push(ZoneCell {
                            client_zone: c.client_zone.clone(),
                            server_zone: c.server_zone.clone(),
                            bytes: c.bytes(),
                            packets: c.packets(),
                            flows: c.flows,
                            conversations: 1,
                            violations: u64::from(c.is_violation()),
                            violation_bytes: if c.is_violation() { c.bytes() } else { 0 },
                        });
                    }
                    zones.sort();
                    Response::ZoneMatrix(ZoneMatrix { zones, cells })
                }
                Request::Host { name, query } => Response::Host(HostDetail {
                    host: name.clone(),
                    vms: Vec::new(),
                    totals: Totals::default(),
                    conversations: served(query)
                        .into_iter()
                        .filter(|c| c.same_host && c.client_host == *name)
                        .collect(),
                }),
                Request::Vm { name, query } => Response::Vm(VmDetail {
                    name: name.clone(),
                    zones: vec!["payroll".into()],
                    totals: Totals::default(),
                    placements: vec![Placement {
                        host: "esx-03".into(),
                        first_ms: T0,
                        last_ms: T0 + 30_000,
                    }],
                    conversations: served(query)
                        .into_iter()
                        .filter(|c| c.client_vm == *name || c.server_vm == *name)
                        .collect(),
                }),
                Request::Timeseries(_) => Response::Timeseries(Timeseries {
                    step_ms: 60_000,
                    points: (0..20)
                        .map(|i| Point {
                            t_ms: T0 + i * 60_000,
                            bytes: 1000 * (i % 7 + 1),
                            packets: 10 * (i % 7 + 1),
                            flows: i,
                            violation_bytes: if i % 5 == 0 { 800 } else { 0 },
                            violations: u64::from(i % 5 == 0),
                        })
                        .collect(),
                }),
                Request::Exporters => Response::Exporters(Exporters {
                    exporters: vec![Exporter {
                        exporter: "127.0.0.1".into(),
                        source_id: 3,
                        name: "esx-03".into(),
                        last_seen_ms: T0 + 290_000,
                        packets: 120,
                        flows: 400,
                        sequence_gaps: 2,
                        templates: 3,
                        drops: 0,
                        stale: false,
                    }],
                    now_ms: T0 + 300_000,
                    stale_after_s: 300,
                }),
                Request::Policy => Response::Policy(Policy {
                    revision: Some("r7".into()),
                    error: None,
                }),
            })
        }
    }

    pub(crate) fn settings() -> Settings {
        Settings {
            server: "http://127.0.0.1:8080".into(),
            range: Range::Span("5m".into()),
            dataset: None,
            limit: 500,
            color: true,
        }
    }

    pub(crate) fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(T0) + Duration::from_secs(secs)
    }

    /// One refresh: what the app asks for, answered by the fake.
    pub(crate) async fn refresh(app: &mut App, client: &FakeClient, secs: u64) {
        use crate::api::Client;
        for request in app.requests() {
            let result = client.fetch(&request).await;
            app.handle_event(Event::Fetched {
                request,
                result,
                at: at(secs),
            });
        }
    }

    pub(crate) fn key(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    pub(crate) fn type_text(app: &mut App, text: &str) -> Action {
        let mut action = Action::Continue;
        for c in text.chars() {
            action = app.handle_event(key(KeyCode::Char(c)));
        }
        action
    }

    pub(crate) async fn loaded() -> (App, FakeClient) {
        let client = FakeClient::default();
        let mut app = App::new(settings());
        refresh(&mut app, &client, 1).await;
        (app, client)
    }

    fn names(app: &App) -> Vec<String> {
        app.rows()
            .iter()
            .map(|c| format!("{}>{}", c.client(), c.server()))
            .collect()
    }

    #[tokio::test]
    async fn quit_help_and_refresh_keys() {
        let (mut app, _) = loaded().await;
        assert_eq!(app.handle_event(key(KeyCode::Char('?'))), Action::Continue);
        assert!(app.help);
        // Any key closes help, without acting.
        assert_eq!(app.handle_event(key(KeyCode::Char('q'))), Action::Continue);
        assert!(!app.help);
        assert_eq!(app.handle_event(key(KeyCode::F(5))), Action::Refresh);
        assert_eq!(app.handle_event(key(KeyCode::Esc)), Action::Continue);
        assert_eq!(app.handle_event(key(KeyCode::Char('q'))), Action::Quit);
        let ctrl_c = Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(app.handle_event(ctrl_c), Action::Quit);
    }

    #[tokio::test]
    async fn sorted_by_rate_then_by_any_column() {
        let (mut app, _) = loaded().await;
        // Default: bytes/s, highest first (all share the 5-minute window).
        assert_eq!(
            names(&app),
            [
                "web-01>app-01",
                "fin-fe-01>payroll-01",
                "app-02>db-01",
                "web-01>db-02"
            ]
        );
        assert_eq!(app.sort().column, Column::BytesPerSec);
        // s cycles: packets/s, total, verdict (violations first).
        app.handle_event(key(KeyCode::Char('s')));
        app.handle_event(key(KeyCode::Char('s')));
        app.handle_event(key(KeyCode::Char('s')));
        assert_eq!(app.sort().column, Column::Verdict);
        assert_eq!(
            names(&app)[..2],
            ["web-01>db-02", "fin-fe-01>payroll-01"],
            "violations first, ties by client name"
        );
        // Every column sorts; S reverses.
        for _ in 0..Column::ALL.len() {
            app.handle_event(key(KeyCode::Char('s')));
            let mut rows = names(&app);
            app.handle_event(key(KeyCode::Char('S')));
            let mut reversed = names(&app);
            app.handle_event(key(KeyCode::Char('S')));
            rows.sort();
            reversed.sort();
            assert_eq!(rows, reversed, "{:?}", app.sort());
        }
        app.sorts[0] = Sort {
            column: Column::Client,
            descending: false,
        };
        assert_eq!(names(&app)[0], "app-02>db-01");
        app.handle_event(key(KeyCode::Char('S')));
        assert_eq!(names(&app)[0], "web-01>db-02");
    }

    #[tokio::test]
    async fn filter_terms_go_to_the_server_and_the_rows() {
        let (mut app, client) = loaded().await;
        assert_eq!(app.handle_event(key(KeyCode::Char('/'))), Action::Continue);
        assert_eq!(app.input, Some(Input::Filter(String::new())));
        type_text(&mut app, "zone:db port:5432");
        // Nothing changes until Enter.
        assert_eq!(app.rows().len(), 4);
        assert_eq!(app.handle_event(key(KeyCode::Enter)), Action::Refresh);
        assert_eq!(app.input, None);
        assert_eq!(app.query().zone.as_deref(), Some("db"));
        refresh(&mut app, &client, 3).await;
        assert_eq!(names(&app), ["app-02>db-01", "web-01>db-02"]);
        let asked = client.asked.lock().unwrap().clone();
        assert!(asked.iter().any(|r| matches!(r,
            Request::Conversations(q) if q.zone.as_deref() == Some("db"))));

        // A word matches VMs, zones and hosts; the port only here.
        app.handle_event(key(KeyCode::Char('/')));
        for _ in 0.."zone:db port:5432".len() {
            app.handle_event(key(KeyCode::Backspace));
        }
        type_text(&mut app, "PAYROLL");
        app.handle_event(key(KeyCode::Enter));
        refresh(&mut app, &client, 5).await;
        assert_eq!(names(&app), ["fin-fe-01>payroll-01"]);

        // A bad term keeps the prompt open and says why.
        app.handle_event(key(KeyCode::Char('/')));
        type_text(&mut app, " verdict:bad");
        assert_eq!(app.handle_event(key(KeyCode::Enter)), Action::Continue);
        assert!(matches!(app.input, Some(Input::Filter(_))));
        assert!(app
            .notice
            .as_deref()
            .unwrap()
            .contains("verdict is allowed"));
        app.handle_event(key(KeyCode::Esc));
        assert_eq!(app.input, None);
        assert_eq!(app.filter.words, ["payroll"]);

        // Esc at the top clears the filter.
        app.handle_event(key(KeyCode::Esc));
        assert!(app.filter.is_empty());
        assert_eq!(app.rows().len(), 4);

        // v toggles violations only.
        assert_eq!(app.handle_event(key(KeyCode::Char('v'))), Action::Refresh);
        refresh(&mut app, &client, 7).await;
        assert_eq!(names(&app), ["fin-fe-01>payroll-01", "web-01>db-02"]);
    }

    #[test]
    fn filter_parsing() {
        let f = Filter::parse("vm:web-01 zone:dmz verdict:violation port:443 Pay").unwrap();
        assert_eq!(f.vm.as_deref(), Some("web-01"));
        assert_eq!(f.port, Some(443));
        assert_eq!(f.words, ["pay"]);
        assert_eq!(
            f.to_string(),
            "vm:web-01 zone:dmz verdict:violation port:443 pay"
        );
        assert_eq!(Filter::parse("  ").unwrap(), Filter::default());
        // An address with colons is a word, not a key.
        assert_eq!(Filter::parse("fd00::1").unwrap().words, ["fd00::1"]);
        for bad in ["port:http", "port:70000", "vm:", "host:esx-01", "verdict:"] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn drill_down_and_back() {
        let (mut app, client) = loaded().await;
        // Select the violation, open it.
        app.handle_event(key(KeyCode::Down));
        assert_eq!(app.selected_conversation().unwrap().client_vm, "fin-fe-01");
        app.handle_event(key(KeyCode::Enter));
        let View::Conversation(c) = &app.frame().view else {
            panic!("{:?}", app.frame());
        };
        assert_eq!(c.rule, RULE);
        // Its rows are the two VMs; open the server's.
        app.handle_event(key(KeyCode::Down));
        assert_eq!(app.handle_event(key(KeyCode::Enter)), Action::Refresh);
        assert_eq!(app.frame().view, View::Vm("payroll-01".into()));
        assert!(app.requests().contains(&Request::Vm {
            name: "payroll-01".into(),
            query: app.query()
        }));
        refresh(&mut app, &client, 3).await;
        assert_eq!(names(&app), ["fin-fe-01>payroll-01"]);
        assert_eq!(app.data.vm.as_ref().unwrap().placements[0].host, "esx-03");
        // Esc twice is back at the table, the selection kept.
        app.handle_event(key(KeyCode::Esc));
        app.handle_event(key(KeyCode::Esc));
        assert_eq!(app.stack.len(), 1);
        assert_eq!(app.frame().selected, 1);
        // Esc at the top does not quit.
        assert_eq!(app.handle_event(key(KeyCode::Esc)), Action::Continue);
    }

    #[tokio::test]
    async fn tabs_zones_and_hosts() {
        let (mut app, client) = loaded().await;
        assert_eq!(app.handle_event(key(KeyCode::Char('3'))), Action::Refresh);
        assert_eq!(app.tab, Tab::Zones);
        refresh(&mut app, &client, 3).await;
        assert_eq!(
            app.zones(),
            ["app", "db", "dmz", "finance-frontend", "payroll"]
        );
        // Move to finance-frontend → payroll and open the cell.
        for _ in 0..3 {
            app.handle_event(key(KeyCode::Down));
        }
        for _ in 0..9 {
            app.handle_event(key(KeyCode::Right));
        }
        assert_eq!(app.cell, (3, 4));
        app.handle_event(key(KeyCode::Enter));
        assert_eq!(
            app.frame().view,
            View::ZonePair {
                client: "finance-frontend".into(),
                server: "payroll".into()
            }
        );
        refresh(&mut app, &client, 5).await;
        assert_eq!(names(&app), ["fin-fe-01>payroll-01"]);

        // Hosts: one line per host with locally switched conversations.
        app.handle_event(key(KeyCode::Tab));
        assert_eq!(app.tab, Tab::Hosts);
        assert_eq!(app.stack.len(), 1);
        refresh(&mut app, &client, 7).await;
        let hosts: Vec<&str> = app.hosts().iter().map(|h| h.host.as_str()).collect();
        // Most locally switched bytes first; hosts with none last.
        assert_eq!(hosts, ["esx-01", "esx-03", "esx-04", "esx-02"]);
        assert_eq!(app.hosts()[1].local_cross_zone, 1);
        app.handle_event(key(KeyCode::Down));
        app.handle_event(key(KeyCode::Enter));
        assert_eq!(app.frame().view, View::Host("esx-03".into()));
        refresh(&mut app, &client, 9).await;
        assert_eq!(names(&app), ["fin-fe-01>payroll-01"]);

        // Violations: newest first; Exporters; BackTab wraps.
        app.handle_event(key(KeyCode::Char('2')));
        refresh(&mut app, &client, 11).await;
        assert_eq!(names(&app), ["web-01>db-02", "fin-fe-01>payroll-01"]);
        app.handle_event(key(KeyCode::Char('5')));
        refresh(&mut app, &client, 13).await;
        assert_eq!(app.row_count(), 1);
        app.handle_event(key(KeyCode::Tab));
        assert_eq!(app.tab, Tab::Conversations);
        app.handle_event(key(KeyCode::BackTab));
        assert_eq!(app.tab, Tab::Exporters);
    }

    #[tokio::test]
    async fn range_pause_and_stale_answers() {
        let (mut app, client) = loaded().await;
        let old = app.requests();
        assert_eq!(app.handle_event(key(KeyCode::Char('r'))), Action::Refresh);
        assert_eq!(app.settings.range, Range::Span("1h".into()));
        for want in ["24h", "all", "5m"] {
            app.handle_event(key(KeyCode::Char('r')));
            assert_eq!(app.settings.range.to_string(), want);
        }
        app.handle_event(key(KeyCode::Char('R')));
        assert_eq!(app.input, Some(Input::Range("5m".into())));
        for _ in 0..2 {
            app.handle_event(key(KeyCode::Backspace));
        }
        type_text(&mut app, "2026-11-02T10:00:00Z..2026-11-02T11:00:00Z");
        assert_eq!(app.handle_event(key(KeyCode::Enter)), Action::Refresh);
        assert!(matches!(app.settings.range, Range::Window { .. }));
        // An answer to the old range is dropped.
        let stale = old[2].clone();
        app.data.conversations = None;
        app.handle_event(Event::Fetched {
            result: crate::api::Client::fetch(&client, &stale).await,
            request: stale,
            at: at(4),
        });
        assert_eq!(app.data.conversations, None);
        // A bad custom range keeps the prompt.
        app.handle_event(key(KeyCode::Char('R')));
        type_text(&mut app, "..now");
        app.handle_event(key(KeyCode::Enter));
        assert!(app.notice.is_some());
        app.handle_event(key(KeyCode::Esc));

        assert_eq!(app.handle_event(key(KeyCode::Char('p'))), Action::Continue);
        assert!(app.paused);
        assert_eq!(app.handle_event(key(KeyCode::Char('p'))), Action::Refresh);
        assert!(!app.paused);
    }

    #[tokio::test]
    async fn lost_server_keeps_data_and_reconnects() {
        let (mut app, _) = loaded().await;
        let down = FakeClient {
            down: true,
            ..FakeClient::default()
        };
        refresh(&mut app, &down, 3).await;
        refresh(&mut app, &down, 5).await;
        match &app.connection {
            Connection::Lost { since, reason } => {
                assert_eq!(*since, at(3), "since the first failure");
                assert!(reason.contains("unreachable"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(app.rows().len(), 4, "old rows stay");
        refresh(&mut app, &FakeClient::default(), 7).await;
        assert_eq!(app.connection, Connection::Connected { at: at(7) });
    }

    #[tokio::test]
    async fn refused_request_is_kept_per_endpoint() {
        let (mut app, _) = loaded().await;
        app.handle_event(Event::Fetched {
            request: Request::Exporters,
            result: Err(FetchError::Status {
                path: "/api/v1/exporters".into(),
                status: 404,
                message: "not found".into(),
            }),
            at: at(3),
        });
        assert!(matches!(app.connection, Connection::Connected { .. }));
        assert!(app.errors["/api/v1/exporters"].contains("404"));
        assert_eq!(app.rows().len(), 4);
    }

    #[test]
    fn rates_and_formatting() {
        let c = &lab()[1];
        // 79 KiB over a 5-minute window, or over its own 30 s.
        assert!((rate(c.bytes(), c, Some(300_000)) - 263.2).abs() < 0.1);
        assert!((rate(c.bytes(), c, None) - 2632.0).abs() < 0.1);
        assert_eq!(human_rate(263.2, "B"), "263.2 B/s");
        assert_eq!(human_rate(2632.0, "B"), "2.57 KiB/s");
        assert_eq!(human_rate(2.5, "p"), "2.5/s");
        assert_eq!(human_rate(2500.0, "p"), "2.5k/s");
        assert_eq!(clock_utc(at(3_723)), "11:02:03 UTC");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(plural(1, "flow"), "1 flow");
        assert_eq!(plural(0, "flow"), "0 flows");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(52 * 1024 * 1024), "52.0 MiB");
    }
}
