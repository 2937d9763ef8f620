//! Cluster mode with two real ClickHouse 18.16 servers as two shards (each
//! started here with a `remote_servers` entry naming both): the collector
//! creates `T_local` tables and `Distributed` tables `T` on each node in
//! turn (no ZooKeeper: no `ON CLUSTER`), inserts through `flows`, and the
//! totals read through either node's Distributed tables equal what was
//! sent, split between the shards.

use std::process::Command;

use anyhow::{bail, Context, Result};
use eastwest_tests::{
    free_tcp_port, free_udp_port, tempdir, wait_for, workspace_bin, ClickHouse, CollectorProcess,
    OwnClickHouse,
};

fn number(ch: &ClickHouse, sql: &str) -> Result<u64> {
    let out = ch.query(sql)?;
    out.trim()
        .parse()
        .with_context(|| format!("`{sql}` answered {out:?}"))
}

/// Two servers, each with the cluster `eastwest_two` of both as shards.
/// A free port can be taken between being chosen and being bound (the
/// interserver port, next to the TCP one, is not even checked): a pair
/// that fails to start is tried again on new ports, three times in all.
fn two_shards() -> Result<(OwnClickHouse, OwnClickHouse)> {
    let mut attempt = 1;
    loop {
        let a = OwnClickHouse::prepare("cluster-a")?;
        let b = OwnClickHouse::prepare("cluster-b")?;
        let shard = |tcp: u16| {
            format!("<shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard>")
        };
        let remote = format!(
            "<?xml version=\"1.0\"?>\n<yandex><remote_servers><eastwest_two>{}{}</eastwest_two>\
             </remote_servers></yandex>\n",
            shard(a.tcp),
            shard(b.tcp)
        );
        let started = [&a, &b].into_iter().try_for_each(|server| {
            server.config_d("cluster.xml", &remote)?;
            server.up()
        });
        match started {
            Ok(()) => return Ok((a, b)),
            Err(err) if attempt >= 3 => return Err(err),
            Err(err) => eprintln!("two shards: {err:#}; again on other ports"),
        }
        attempt += 1;
    }
}

#[test]
fn two_shards_hold_the_flows_and_the_distributed_tables_add_up() -> Result<()> {
    let (a, b) = two_shards()?;
    let (cha, chb) = (a.client(), b.client());
    assert_eq!(
        number(
            &cha,
            "SELECT count() FROM system.clusters WHERE cluster = 'eastwest_two'"
        )?,
        2
    );

    let dir = tempdir("cluster")?;
    let udp = free_udp_port()?;
    let http = free_tcp_port()?;
    let config = dir.join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[receive]\nlisten = [\"127.0.0.1:{udp}\"]\n[http]\nlisten = \"127.0.0.1:{http}\"\n\
             [clickhouse]\nurl = \"{}\"\ndatabase = \"clustered\"\nflush_interval_ms = 200\n\
             cluster = \"eastwest_two\"\ncluster_nodes = [\"{}\", \"{}\"]\n",
            cha.url, cha.url, chb.url
        ),
    )?;
    let mut collector = CollectorProcess::start(&config, http)?;

    let out = Command::new(workspace_bin("eastwest-loadgen"))
        .args(["--target", &format!("127.0.0.1:{udp}"), "--json"])
        .args(["--exporters", "2", "--rate", "20000", "--flows", "20000"])
        .output()?;
    if !out.status.success() {
        bail!("loadgen: {}", String::from_utf8_lossy(&out.stderr));
    }
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let flows = sent["flows"].as_u64().context("flows")?;
    let packets = sent["packets"].as_u64().context("packets")?;
    let bytes = sent["bytes"].as_u64().context("bytes")?;

    wait_for(60, "every flow through the Distributed table", || {
        Ok(number(&cha, "SELECT count() FROM clustered.flows")? >= flows)
    })?;
    // The shards' rollups (fed by each shard's materialized views) trail
    // the raw rows on 18.16 by a moment after a Distributed insert: wait
    // for them, then every total must agree.
    let waited = std::time::Instant::now();
    wait_for(30, "the shards' rollups", || {
        Ok(number(&cha, "SELECT sum(flows) FROM clustered.flows_1m")? >= flows)
    })?;
    println!(
        "rollups complete {:.1} s after the raw rows",
        waited.elapsed().as_secs_f64()
    );
    // Each node's Distributed tables see the whole; the shards split it.
    for ch in [&cha, &chb] {
        assert_eq!(
            ch.query("SELECT count(), sum(packets), sum(bytes) FROM clustered.flows")?
                .trim(),
            format!("{flows}\t{packets}\t{bytes}")
        );
        // The rollups are fed on each shard by its materialized views.
        assert_eq!(
            number(ch, "SELECT sum(flows) FROM clustered.flows_1m")?,
            flows
        );
        // Their derived columns (what the dashboard groups on) read through
        // the Distributed tables, as the shards' views stored them.
        assert_eq!(
            number(
                ch,
                "SELECT countIf(conv_hash = 0 OR point_hash = 0 OR point_rank = 0) \
                 FROM clustered.flows_1h"
            )?,
            0
        );
        assert!(number(ch, "SELECT uniqExact(conv_hash) FROM clustered.flows_1h")? > 0);
        assert_eq!(
            number(
                ch,
                "SELECT engine = 'Distributed' FROM system.tables \
                 WHERE database = 'clustered' AND name = 'flows'"
            )?,
            1
        );
    }
    let on_a = number(&cha, "SELECT count() FROM clustered.flows_local")?;
    let on_b = number(&chb, "SELECT count() FROM clustered.flows_local")?;
    println!("shard shares: {on_a} + {on_b} = {flows}");
    assert_eq!(on_a + on_b, flows);
    assert!(on_a > 0 && on_b > 0, "rand() sharding puts rows on both");
    collector.terminate()?;
    // A second start finds the schema in place on both nodes.
    let collector = CollectorProcess::start(&config, http)?;
    drop(collector);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
