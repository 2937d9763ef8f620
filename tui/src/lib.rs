//! eastwest-tui: a terminal client of the dashboard's JSON API.
//!
//! * [`api`] — the API's types, the [`Client`] trait and its
//!   HTTP implementation.
//! * [`app`] — the interactive state, [`App::handle_event`](app::App::handle_event)
//!   and [`App::requests`](app::App::requests) (what to fetch for what is on
//!   screen).
//! * [`ui`] — drawing the state (`impl Widget for &App`).
//! * [`config`] — command line and config file.
//! * [`once`] — one snapshot printed as a table, JSON or CSV.
//!
//! [`run`] wires them: [`fetch_loop`] runs on a background task and fetches
//! the current plan every interval, a thread reads the keyboard, both send
//! [`Event`]s to one loop that updates the state and redraws.

pub mod api;
pub mod app;
pub mod config;
pub mod once;
pub mod ui;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;

use crate::api::{Client, Request};
use crate::app::{Action, App, Event};

pub use crate::config::{Cli, OutputFormat};

/// Colours are on unless `NO_COLOR` is set to a non-empty value (no-color.org).
pub fn color_enabled(no_color: Option<std::ffi::OsString>) -> bool {
    no_color.is_none_or(|v| v.is_empty())
}

/// What the fetcher should do: the requests of the current screen, or
/// nothing while paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub requests: Vec<Request>,
    pub paused: bool,
}

impl Plan {
    pub fn of(app: &App) -> Plan {
        Plan {
            requests: app.requests(),
            paused: app.paused,
        }
    }
}

/// Fetch the plan's requests (concurrently), send each answer as an
/// [`Event::Fetched`], wait `interval` (or a nudge on `now`), repeat. A new
/// plan (another view, filter or range) drops the batch in flight and starts
/// at once, so a slow answer for the old screen never holds up the new one.
/// Ends when the receiver of `events` or the sender of `plan` is gone.
pub async fn fetch_loop<C: Client>(
    client: Arc<C>,
    mut plan: watch::Receiver<Plan>,
    interval: Duration,
    events: mpsc::UnboundedSender<Event>,
    now: Arc<Notify>,
) {
    loop {
        let current = plan.borrow_and_update().clone();
        if !current.paused {
            let mut batch = JoinSet::new();
            for request in current.requests {
                let client = Arc::clone(&client);
                batch.spawn(async move {
                    let result = client.fetch(&request).await;
                    (request, result)
                });
            }
            let sent = async {
                while let Some(joined) = batch.join_next().await {
                    // A fetch task only fails by panicking; the others go on.
                    let Ok((request, result)) = joined else {
                        continue;
                    };
                    let event = Event::Fetched {
                        request,
                        result,
                        at: SystemTime::now(),
                    };
                    if events.send(event).is_err() {
                        return false;
                    }
                }
                true
            };
            tokio::select! {
                open = sent => if !open { return },
                changed = plan.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = now.notified() => {}
            changed = plan.changed() => if changed.is_err() { return },
        }
    }
}

/// The interactive view, until the user quits.
pub async fn run<C: Client>(client: C, mut app: App, interval: Duration) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (plan_tx, plan_rx) = watch::channel(Plan::of(&app));
    let now = Arc::new(Notify::new());
    let client = Arc::new(client);
    let fetcher = tokio::spawn(fetch_loop(
        Arc::clone(&client),
        plan_rx,
        interval,
        tx.clone(),
        Arc::clone(&now),
    ));
    let tx_saved = tx.clone();

    // crossterm's read blocks, so it gets its own thread; it ends when the
    // loop below has dropped the receiver and the next key arrives, or with
    // the process.
    std::thread::spawn(move || loop {
        let event = match crossterm::event::read() {
            Ok(crossterm::event::Event::Key(key)) => Event::Key(key),
            Ok(crossterm::event::Event::Resize(..)) => Event::Resize,
            Ok(_) => continue,
            Err(_) => break,
        };
        if tx.send(event).is_err() {
            break;
        }
    });

    let mut terminal = ratatui::init();
    let result = async {
        terminal.draw(|frame| frame.render_widget(&app, frame.area()))?;
        while let Some(event) = rx.recv().await {
            match app.handle_event(event) {
                Action::Quit => break,
                Action::Refresh => now.notify_one(),
                Action::Continue => {}
                Action::SavePackets => {
                    if let Some(download) = app.take_download() {
                        let (client, saved) = (Arc::clone(&client), tx_saved.clone());
                        tokio::spawn(async move {
                            let result = client
                                .save_packets(&download)
                                .await
                                .map_err(|e| e.to_string());
                            let _ = saved.send(Event::Saved {
                                file: download.file,
                                result,
                            });
                        });
                    }
                }
            }
            let plan = Plan::of(&app);
            plan_tx.send_if_modified(|current| {
                let changed = *current != plan;
                *current = plan;
                changed
            });
            terminal.draw(|frame| frame.render_widget(&app, frame.area()))?;
        }
        Ok(())
    }
    .await;
    ratatui::restore();
    fetcher.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FetchError, Response};
    use crate::app::tests::{settings, FakeClient};
    use std::future::Future;

    #[test]
    fn no_color() {
        assert!(color_enabled(None));
        assert!(color_enabled(Some("".into())));
        assert!(!color_enabled(Some("1".into())));
    }

    /// The fake dashboard, slow on the conversations list.
    struct Slow(FakeClient);

    impl Client for Slow {
        fn save_packets(
            &self,
            download: &crate::api::Download,
        ) -> impl Future<Output = Result<u64, FetchError>> + Send {
            self.0.save_packets(download)
        }

        fn fetch(
            &self,
            request: &Request,
        ) -> impl Future<Output = Result<Response, FetchError>> + Send {
            let slow = matches!(request, Request::Conversations(_));
            let answer = self.0.fetch(request);
            async move {
                if slow {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                answer.await
            }
        }
    }

    fn fetched(event: Event) -> Request {
        match event {
            Event::Fetched { request, .. } => request,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fetcher_follows_the_plan_and_a_slow_answer_holds_nothing_up() {
        let mut app = App::new(settings());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (plan_tx, plan_rx) = watch::channel(Plan::of(&app));
        let now = Arc::new(Notify::new());
        let task = tokio::spawn(fetch_loop(
            Arc::new(Slow(FakeClient::default())),
            plan_rx,
            Duration::from_secs(2),
            tx,
            Arc::clone(&now),
        ));
        // Policy and timeseries come at once; the conversations are slow.
        let mut first = [
            fetched(rx.recv().await.unwrap()),
            fetched(rx.recv().await.unwrap()),
        ];
        first.sort_by_key(|r| r.endpoint());
        assert_eq!(first[0], Request::Policy);
        assert!(matches!(first[1], Request::Timeseries(_)));

        // The user switches to Exporters: answered without waiting for the
        // slow list of the old screen.
        app.handle_event(crate::app::tests::key(crossterm::event::KeyCode::Char('5')));
        plan_tx.send(Plan::of(&app)).unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(fetched(rx.recv().await.unwrap()));
        }
        assert!(got.contains(&Request::Exporters), "{got:?}");
        assert!(!got.iter().any(|r| matches!(r, Request::Conversations(_))));

        // Paused: nothing more is fetched, however long we wait.
        app.paused = true;
        plan_tx.send(Plan::of(&app)).unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        while let Ok(event) = rx.try_recv() {
            // Only answers of the batch before the pause.
            assert!(matches!(event, Event::Fetched { .. }));
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(rx.try_recv().is_err(), "fetched while paused");

        // Resumed: the next batch comes at once.
        app.paused = false;
        plan_tx.send(Plan::of(&app)).unwrap();
        assert!(matches!(rx.recv().await, Some(Event::Fetched { .. })));

        // Gone: the loop ends.
        drop(plan_tx);
        drop(rx);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn fetcher_repeats_every_interval_and_on_a_nudge() {
        let app = App::new(settings());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (_plan_tx, plan_rx) = watch::channel(Plan {
            requests: vec![Request::Policy],
            paused: app.paused,
        });
        let now = Arc::new(Notify::new());
        tokio::spawn(fetch_loop(
            Arc::new(FakeClient::default()),
            plan_rx,
            Duration::from_secs(2),
            tx,
            Arc::clone(&now),
        ));
        let start = tokio::time::Instant::now();
        rx.recv().await.unwrap();
        rx.recv().await.unwrap();
        assert_eq!(
            start.elapsed().as_secs(),
            2,
            "second fetch after the interval"
        );
        now.notify_one();
        rx.recv().await.unwrap();
        assert_eq!(start.elapsed().as_secs(), 2, "a nudge fetches at once");
    }
}
