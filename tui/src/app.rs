//! The state of the interactive view and how events change it. No I/O here:
//! key presses and fetch results come in as [`Event`]s (with the time they
//! happened), and [`App::requests`] says what the fetcher should ask the
//! server for, so the logic is tested without a terminal or a server.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crossterm::event::KeyEvent;

use crate::api::{
    Conversation, ConversationsPage, Exporters, FetchError, HostDetail, Hosts, Policy, Query,
    Range, Request, Response, Timeseries, ViolationsPage, VmDetail, ZoneMatrix,
};

mod events;
mod filter;
mod format;
mod rows;

pub use filter::Filter;
pub use format::{clock_of_ms, clock_utc, human_bytes, human_rate, plural};
pub use rows::rate;

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
    /// Saving packets ([`Action::SavePackets`]) ended: bytes written, or why not.
    Saved {
        file: std::path::PathBuf,
        result: Result<u64, String>,
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
    /// Save the selected conversation's packets: [`App::take_download`].
    SavePackets,
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
    /// Packets asked for with `w`, for the caller to save.
    download: Option<crate::api::Download>,
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
            download: None,
        }
    }

    /// The packets `w` asked for ([`Action::SavePackets`]), once.
    pub fn take_download(&mut self) -> Option<crate::api::Download> {
        self.download.take()
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
}

#[cfg(test)]
pub(crate) mod tests;
