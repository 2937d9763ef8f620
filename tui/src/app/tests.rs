use super::*;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::api::{
    Conversation, ConversationsPage, Exporters, FetchError, HostDetail, HostSummary, Hosts, Policy,
    Query, Range, Request, Response, Timeseries, ViolationsPage, VmDetail, ZoneMatrix,
};
use crate::api::{ExporterStatus, MatrixCell, Placement, Point, Severity, Totals, VerdictKind};
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
        verdict: VerdictKind::parse(verdict).unwrap_or_default(),
        rule: rule.into(),
        severity: (verdict == "violation").then_some(Severity::Critical),
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
    async fn save_packets(&self, download: &crate::api::Download) -> Result<u64, FetchError> {
        if self.down {
            return Err(FetchError::Unreachable {
                url: "http://fake".into(),
                reason: "connection refused".into(),
            });
        }
        Ok(download.params.len() as u64)
    }

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
                        && q.verdict.as_ref().is_none_or(|v| c.verdict.as_str() == v)
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
                    ..Hosts::default()
                })
            }
            Request::Violations(q) => Response::Violations(ViolationsPage {
                from_ms: Some(T0),
                to_ms: Some(T0 + 300_000),
                total: 2,
                // Every row a violation, as `From<Violation>` makes them.
                violations: served(&Query {
                    verdict: None,
                    port: None,
                    ..q.clone()
                })
                .into_iter()
                .filter(Conversation::is_violation)
                .collect(),
            }),
            Request::ZoneMatrix(q) => {
                let mut zones: Vec<String> = Vec::new();
                let mut cells: Vec<MatrixCell> = Vec::new();
                for c in served(q) {
                    for z in [&c.client_zone, &c.server_zone] {
                        if !zones.contains(z) {
                            zones.push(z.clone());
                        }
                    }
                    cells.push(MatrixCell {
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
                Response::ZoneMatrix(ZoneMatrix {
                    zones,
                    cells,
                    ..ZoneMatrix::default()
                })
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
                    zones: vec!["payroll".into()],
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
                ..Timeseries::default()
            }),
            Request::Exporters => Response::Exporters(Exporters {
                exporters: vec![ExporterStatus {
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
                    evidence_url: String::new(),
                }],
                now_ms: T0 + 300_000,
                stale_after_s: 300,
                ..Exporters::default()
            }),
            Request::Policy => Response::Policy(Policy {
                revision: Some("r7".into()),
                ..Policy::default()
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
async fn w_saves_the_selected_conversation_s_packets() {
    let (mut app, _) = loaded().await;
    app.handle_event(key(KeyCode::Down));
    assert_eq!(app.selected_conversation().unwrap().client_vm, "fin-fe-01");
    assert_eq!(
        app.handle_event(key(KeyCode::Char('w'))),
        Action::SavePackets
    );
    let download = app.take_download().expect("a download");
    assert_eq!(app.take_download(), None, "asked once");
    let params: Vec<(&str, &str)> = download
        .params
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    assert!(params.contains(&("vm", "fin-fe-01")), "{params:?}");
    assert!(params.contains(&("peer", "payroll-01")), "{params:?}");
    assert!(params.contains(&("proto", "6")), "{params:?}");
    assert_eq!(
        download.file.file_name().and_then(|n| n.to_str()),
        Some("fin-fe-01_payroll-01_TCP-443.pcapng")
    );
    assert!(app
        .notice
        .as_deref()
        .unwrap_or_default()
        .contains("saving packets"));
    app.handle_event(Event::Saved {
        file: download.file.clone(),
        result: Ok(4096),
    });
    assert_eq!(
        app.notice.as_deref(),
        Some("packets saved to ./fin-fe-01_payroll-01_TCP-443.pcapng (4096 bytes)")
    );
    app.handle_event(Event::Saved {
        file: download.file,
        result: Err("forbidden".into()),
    });
    assert_eq!(app.notice.as_deref(), Some("packets not saved: forbidden"));
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
