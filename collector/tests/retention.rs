//! Retention end to end: the collector binary with its clock set a year
//! after the flows it receives (`EASTWEST_CLOCK`), real UDP, the harness's
//! ClickHouse 18.16. Live flows a year old are dropped by the next
//! retention pass; a replayed dataset of the same day stays.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use eastwest_core::netflow::{
    FIELDS_V4, OPTION_FIELDS, OPTION_SCOPES, TEMPLATE_OPTIONS, TEMPLATE_V4,
};
use eastwest_tests::{tempdir, wait_for, CollectorProcess};

#[test]
fn a_year_later_live_days_are_dropped_and_a_replay_stays() -> Result<()> {
    let ch = eastwest_tests::clickhouse()?;
    let db = eastwest_tests::unique_database("retention_e2e");
    let dir = tempdir("retention-e2e")?;
    let udp = eastwest_tests::free_udp_port()?;
    let http = eastwest_tests::free_tcp_port()?;
    let config = dir.join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[receive]\nlisten = [\"127.0.0.1:{udp}\"]\n[http]\nlisten = \"127.0.0.1:{http}\"\n\
             [clickhouse]\nurl = \"{}\"\ndatabase = \"{db}\"\nflush_interval_ms = 200\n\
             [retention]\nflows_days = 30\ninterval_ms = 1000\n",
            ch.url
        ),
    )?;
    // A year after the flows (2026-11-02): they are 365 days old.
    let clock = Path::new("2027-11-02T12:00:00Z");
    let collector =
        CollectorProcess::start_with_env(&config, http, &[(eastwest_core::clock::ENV, clock)])?;
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, udp));

    // A replay of that day (source id 3, dataset incident-7) ...
    let replay = UdpSocket::bind("127.0.0.1:0")?;
    let start_ms = common::TEN_FLOWS_START_MS;
    let secs = (start_ms / 1000) as u32 + 5;
    let flows: Vec<Vec<u8>> = (0..5)
        .map(|i| common::record(&common::sample_flow(i, start_ms), FIELDS_V4, start_ms))
        .collect();
    let datagram = common::packet(
        3,
        0,
        1000,
        secs,
        7,
        &[
            common::options_template(TEMPLATE_OPTIONS, OPTION_SCOPES, OPTION_FIELDS),
            common::data(
                TEMPLATE_OPTIONS,
                &[common::dataset_record(3, "esx-03", "incident-7")],
            ),
            common::template(TEMPLATE_V4, FIELDS_V4),
            common::data(TEMPLATE_V4, &flows),
        ],
    );
    replay.send_to(&datagram, to)?;
    // ... and live flows of the same day (source id 7, no dataset).
    let live = UdpSocket::bind("127.0.0.1:0")?;
    for n in 0..10 {
        live.send_to(&common::ten_flows(n), to)?;
    }

    // Every row was stored ...
    wait_for(30, "105 rows inserted", || {
        Ok(collector.metric("eastwest_collector_sink_rows_total")? == 105)
    })?;
    // ... and the next retention pass (every second) drops the live day
    // from every table; the replay stays in all of them.
    // Flow records a table holds (`flows` rows, summed in the rollups and
    // `datasets`).
    let count = |table: &str, dataset: &str| -> Result<u64> {
        let flows = match table {
            "flows" => "count()",
            "datasets" => "countMerge(flows)",
            _ => "sum(flows)",
        };
        Ok(ch
            .query(&format!(
                "SELECT {flows} FROM `{db}`.`{table}` WHERE dataset = '{dataset}'"
            ))?
            .trim()
            .parse()?)
    };
    wait_for(30, "the live day dropped", || {
        let mut live_rows = 0;
        for table in ["flows", "flows_1m", "datasets"] {
            live_rows += count(table, "live")?;
        }
        Ok(live_rows == 0)
    })?;
    for table in ["flows", "flows_1m", "flows_1h", "datasets"] {
        assert_eq!(count(table, "incident-7")?, 5, "{table}");
    }
    // The hourly rollup keeps live data 730 days: still there.
    assert_eq!(count("flows_1h", "live")?, 100);
    // Passes later, nothing else goes.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(count("flows", "incident-7")?, 5);
    let log = std::fs::read_to_string(dir.join("collector.log"))?;
    assert!(
        log.contains("retention: dropped a live day older than kept"),
        "{log}"
    );
    Ok(())
}
