//! Schema migrations against a real ClickHouse (the `eastwest-tests`
//! harness): an empty database, and one holding rows of the previous schema
//! ("v1": `flows` as it was before `reply`, the rollups and `exporters`).
//! Both end with the same tables; the rollups count every row once,
//! oriented client → server, whether it was stored before or after.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::sync::Arc;

use anyhow::{Context, Result};
use clickhouse::Client;
use eastwest_clickhouse::schema::{
    addr_to_bytes, date_of_ms, datetime_of_ms, migrations, query_settings, reply_of, FlowRow,
    Layout, ServerVersion, BY_KEY_GRANULE, FLOWS_1D, FLOWS_1H, PARTITION_KEY, ROLLUPS,
    ROLLUP_DERIVED,
};
use eastwest_collector::config::SinkConfig;
use eastwest_collector::http::Metrics;
use eastwest_collector::sink::Sink;
use eastwest_core::flow::Encap;
use eastwest_tests::ClickHouse;

/// `flows` as created by the schema before this one (main at b1bfb73).
const V1_FLOWS: &str = "CREATE TABLE IF NOT EXISTS {db}.`flows` (
    `date` Date, `start` DateTime, `start_ms` UInt64, `end` DateTime, `end_ms` UInt64,
    `received` DateTime, `dataset` LowCardinality(String), `exporter` FixedString(16),
    `source_id` UInt32, `observer` LowCardinality(String), `encap` LowCardinality(String),
    `session` UInt16, `vlan` UInt16, `vni` UInt32, `src_addr` FixedString(16),
    `dst_addr` FixedString(16), `src_port` UInt16, `dst_port` UInt16, `proto` UInt8,
    `tos` UInt8, `tcp_flags` UInt8, `icmp` UInt16, `src_mac` FixedString(6),
    `dst_mac` FixedString(6), `packets` UInt64, `bytes` UInt64, `sampling` UInt32,
    `src_vm` LowCardinality(String), `dst_vm` LowCardinality(String),
    `src_host` LowCardinality(String), `dst_host` LowCardinality(String),
    `src_zone` LowCardinality(String), `dst_zone` LowCardinality(String), `same_host` UInt8,
    `verdict` LowCardinality(String), `rule` String, `severity` LowCardinality(String),
    `policy_revision` LowCardinality(String)
) ENGINE = MergeTree() PARTITION BY date ORDER BY (dataset, start, src_vm, dst_vm)";

/// 2026-11-02 10:00:00 UTC.
const T0: u64 = 1_793_613_600_000;

fn sink_config(ch: &ClickHouse, database: &str) -> SinkConfig {
    SinkConfig {
        url: ch.url.clone(),
        database: database.to_string(),
        ..SinkConfig::default()
    }
}

/// A client adapted to the server, as the collector makes it (so the
/// statements are in the query log the chdb check replays).
async fn client(ch: &ClickHouse) -> Result<Client> {
    let text: String = Client::default()
        .with_url(&ch.url)
        .with_validation(false)
        .query("SELECT version()")
        .fetch_one()
        .await?;
    let version = ServerVersion::parse(&text).context("version")?;
    let mut client = Client::default()
        .with_url(&ch.url)
        .with_validation(!version.needs_legacy_settings());
    for (name, value) in query_settings(version) {
        client = client.with_setting(*name, *value);
    }
    Ok(client)
}

/// One unidirectional flow: `(src vm, src ip, src port) → (dst ...)`.
#[derive(Clone, Copy)]
struct Flow {
    observer: &'static str,
    src: (&'static str, &'static str, u16),
    dst: (&'static str, &'static str, u16),
    proto: u8,
    icmp: u16,
    at_ms: u64,
    packets: u64,
    bytes: u64,
}

impl Flow {
    fn row(&self) -> FlowRow {
        let ip = |text: &str| addr_to_bytes(text.parse().unwrap());
        FlowRow {
            date: date_of_ms(self.at_ms),
            start: datetime_of_ms(self.at_ms),
            start_ms: self.at_ms,
            end: datetime_of_ms(self.at_ms + 500),
            end_ms: self.at_ms + 500,
            received: datetime_of_ms(self.at_ms + 1000),
            dataset: "lab".into(),
            observer: self.observer.into(),
            src_addr: ip(self.src.1),
            dst_addr: ip(self.dst.1),
            src_port: self.src.2,
            dst_port: self.dst.2,
            proto: self.proto,
            icmp: self.icmp,
            packets: self.packets,
            bytes: self.bytes,
            sampling: 1,
            src_vm: self.src.0.into(),
            dst_vm: self.dst.0.into(),
            src_host: host_of(self.src.0).into(),
            dst_host: host_of(self.dst.0).into(),
            verdict: eastwest_core::policy::VerdictKind::Allowed,
            reply: reply_of(self.proto, self.src.2, self.dst.2, self.icmp),
            ..FlowRow::default()
        }
    }

    /// The same row as a SELECT for a v1 INSERT (no `reply`: the old schema
    /// had none). INSERT ... SELECT keeps the rows in the statement, so the
    /// chdb check can replay it (the query log drops VALUES data).
    fn v1_select(&self) -> String {
        let r = self.row();
        format!(
            "SELECT toDate(toDateTime({start})), toDateTime({start}), {}, toDateTime({end}), {}, \
             'lab', '{}', toFixedString(unhex('{}'), 16), toFixedString(unhex('{}'), 16), \
             {}, {}, {}, {}, {}, {}, 1, '{}', '{}', 'allowed'",
            r.start_ms,
            r.end_ms,
            r.observer,
            hex(&r.src_addr),
            hex(&r.dst_addr),
            r.src_port,
            r.dst_port,
            r.proto,
            r.icmp,
            r.packets,
            r.bytes,
            r.src_vm,
            r.dst_vm,
            start = r.start,
            end = r.end,
        )
    }
}

/// web-01 runs on esx-01, app-01 on esx-02.
/// Insert `flows` into `db`.flows with the columns of the first schema
/// (what a collector of that version wrote).
async fn insert_v1(client: &Client, db: &str, flows: &[Flow]) -> Result<()> {
    insert_v1_into(client, db, "lab", flows).await
}

/// [`insert_v1`] into `dataset`.
async fn insert_v1_into(client: &Client, db: &str, dataset: &str, flows: &[Flow]) -> Result<()> {
    let selects: Vec<String> = flows
        .iter()
        .map(|f| f.v1_select().replace("'lab'", &format!("'{dataset}'")))
        .collect();
    client
        .query(&format!(
            "INSERT INTO `{db}`.flows (date, start, start_ms, end, end_ms, dataset, observer, \
             src_addr, dst_addr, src_port, dst_port, proto, icmp, packets, bytes, sampling, \
             src_vm, dst_vm, verdict) {}",
            selects.join(" UNION ALL ")
        ))
        .execute()
        .await?;
    Ok(())
}

fn host_of(vm: &str) -> &'static str {
    if vm == WEB.0 {
        "esx-01"
    } else {
        "esx-02"
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const WEB: (&str, &str, u16) = ("web-01", "10.10.1.11", 41001);
const APP: (&str, &str, u16) = ("app-01", "10.10.2.21", 8443);

/// A TCP conversation web-01 → app-01:8443 seen at two observers (request
/// and reply at each), plus an ICMP echo app-01 → web-01 and its reply.
fn conversation(at_ms: u64) -> Vec<Flow> {
    let tcp = |observer, src, dst, packets, bytes| Flow {
        observer,
        src,
        dst,
        proto: 6,
        icmp: 0,
        at_ms,
        packets,
        bytes,
    };
    let icmp = |src: (&'static str, &'static str, u16),
                dst: (&'static str, &'static str, u16),
                icmp| Flow {
        observer: "esx-02",
        src: (src.0, src.1, 0),
        dst: (dst.0, dst.1, 0),
        proto: 1,
        icmp,
        at_ms: at_ms + 5_000,
        packets: 1,
        bytes: 84,
    };
    vec![
        tcp("esx-01", WEB, APP, 10, 1_000),
        tcp("esx-01", APP, WEB, 8, 20_000),
        tcp("esx-02", WEB, APP, 10, 1_000),
        tcp("esx-02", APP, WEB, 8, 20_000),
        icmp(APP, WEB, 8 << 8),
        icmp(WEB, APP, 0),
    ]
}

/// The rollup as `client server proto port observer fwd/rev bytes,
/// packets, flows`, one line per key.
fn rollup(ch: &ClickHouse, db: &str, table: &str) -> Result<String> {
    ch.query(&format!(
        "SELECT client_vm, server_vm, proto, server_port, observer, bucket, \
         sum(bytes_fwd), sum(bytes_rev), sum(packets_fwd), sum(packets_rev), sum(flows) \
         FROM `{db}`.`{table}` GROUP BY client_vm, server_vm, proto, server_port, observer, bucket \
         ORDER BY bucket, observer, proto DESC"
    ))
}

fn expected_rollup(buckets: &[u64], multiple: u64) -> String {
    let mut out = String::new();
    for &bucket in buckets {
        let b = datetime_of_ms(bucket);
        let at = ch_time(b);
        for observer in ["esx-01", "esx-02"] {
            out += &format!(
                "web-01\tapp-01\t6\t8443\t{observer}\t{at}\t{}\t{}\t{}\t{}\t{}\n",
                1_000 * multiple,
                20_000 * multiple,
                10 * multiple,
                8 * multiple,
                2 * multiple
            );
            if observer == "esx-02" {
                out += &format!(
                    "app-01\tweb-01\t1\t0\tesx-02\t{at}\t{}\t{}\t{}\t{}\t{}\n",
                    84 * multiple,
                    84 * multiple,
                    multiple,
                    multiple,
                    2 * multiple
                );
            }
        }
    }
    out
}

/// `YYYY-MM-DD hh:mm:ss` (UTC) of epoch seconds, as ClickHouse prints a
/// DateTime in TabSeparated.
fn ch_time(secs: u32) -> String {
    let days = i64::from(secs / 86_400);
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn tables(ch: &ClickHouse, db: &str) -> Result<String> {
    ch.query(&format!(
        "SELECT name, engine FROM system.tables WHERE database = '{db}' ORDER BY name"
    ))
}

const TABLES: &str = "conversations_1h\tSummingMergeTree\n\
                      conversations_1h_mv\tMaterializedView\n\
                      conversations_seen\tAggregatingMergeTree\n\
                      conversations_seen_mv\tMaterializedView\n\
                      datasets\tAggregatingMergeTree\ndatasets_mv\tMaterializedView\n\
                      exporters\tReplacingMergeTree\n\
                      flow_exporters\tAggregatingMergeTree\n\
                      flow_exporters_mv\tMaterializedView\nflows\tMergeTree\n\
                      flows_10m\tSummingMergeTree\nflows_10m_mv\tMaterializedView\n\
                      flows_1d\tSummingMergeTree\nflows_1d_mv\tMaterializedView\n\
                      flows_1h\tSummingMergeTree\n\
                      flows_1h_mv\tMaterializedView\nflows_1m\tSummingMergeTree\n\
                      flows_1m_mv\tMaterializedView\ninventory_events\tMergeTree\n\
                      observed_1m\tAggregatingMergeTree\nobserved_1m_mv\tMaterializedView\n\
                      placements_1d\tAggregatingMergeTree\nplacements_1d_mv\tMaterializedView\n\
                      placements_1h\tAggregatingMergeTree\nplacements_1h_mv\tMaterializedView\n\
                      series_buckets\tReplacingMergeTree\n";

#[tokio::test]
async fn an_empty_database_is_migrated_and_rollups_orient_conversations() -> Result<()> {
    let ch = eastwest_tests::clickhouse()?;
    let db = eastwest_tests::unique_database("schema_empty");
    let metrics = Arc::new(Metrics::new());
    let sink = Sink::connect(&sink_config(&ch, &db), metrics.sink.clone()).await?;
    // Idempotent: a second start changes nothing.
    Sink::connect(&sink_config(&ch, &db), metrics.sink.clone()).await?;
    assert_eq!(tables(&ch, &db)?, TABLES);

    let rows: Vec<FlowRow> = conversation(T0).iter().map(Flow::row).collect();
    sink.insert(&rows).await?;
    // A second batch a minute later: a new 1-minute bucket, the same hour.
    let later: Vec<FlowRow> = conversation(T0 + 60_000).iter().map(Flow::row).collect();
    sink.insert(&later).await?;
    assert_eq!(
        rollup(&ch, &db, "flows_1m")?,
        expected_rollup(&[T0, T0 + 60_000], 1)
    );
    assert_eq!(rollup(&ch, &db, "flows_1h")?, expected_rollup(&[T0], 2));
    let rows = ch.query(&format!("SELECT sum(reply), count() FROM `{db}`.flows"))?;
    assert_eq!(
        rows, "6\t12\n",
        "3 of the 6 flows of each batch are replies"
    );
    Ok(())
}

#[tokio::test]
async fn the_previous_schema_is_migrated_with_its_rows() -> Result<()> {
    let ch = eastwest_tests::clickhouse()?;
    let db = eastwest_tests::unique_database("schema_v1");
    let client = client(&ch).await?;
    client
        .query(&format!("CREATE DATABASE IF NOT EXISTS `{db}`"))
        .execute()
        .await?;
    client
        .query(&V1_FLOWS.replace("{db}", &format!("`{db}`")))
        .execute()
        .await?;
    let old = conversation(T0);
    insert_v1(&client, &db, &old).await?;
    // The chdb check replays statements in the order of the query log, to
    // the second: keep the v1 table's creation a second before the migration.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let metrics = Arc::new(Metrics::new());
    let sink = Sink::connect(&sink_config(&ch, &db), metrics.sink.clone()).await?;
    assert_eq!(tables(&ch, &db)?, TABLES);
    // Old rows get `reply` computed by the server, the same as the collector's.
    let replies = ch.query(&format!(
        "SELECT proto, src_port, dst_port, icmp, reply FROM `{db}`.flows ORDER BY start_ms, observer, bytes"
    ))?;
    for line in replies.lines() {
        let f: Vec<u16> = line.split('\t').map(|v| v.parse().unwrap()).collect();
        assert_eq!(
            f[4],
            u16::from(reply_of(f[0] as u8, f[1], f[2], f[3])),
            "{line}"
        );
    }
    assert_eq!(replies.lines().count(), 6);
    // The rollups were backfilled from the old rows ...
    assert_eq!(rollup(&ch, &db, "flows_1m")?, expected_rollup(&[T0], 1));
    // ... and so was each conversation's first and last seen, by hour,
    // under the rollups' `conv_hash`.
    let seen_sql = format!(
        "SELECT conv_hash, bucket, minMerge(first_ms), maxMerge(last_ms) \
         FROM `{db}`.conversations_seen GROUP BY conv_hash, bucket ORDER BY conv_hash"
    );
    let hours = format!(
        "SELECT DISTINCT conv_hash, toStartOfHour(bucket) FROM `{db}`.flows_1m ORDER BY conv_hash"
    );
    let seen = || -> Result<String> {
        let rows = ch.query(&seen_sql)?;
        assert_eq!(
            rows.lines()
                .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join("\t"))
                .collect::<Vec<_>>(),
            ch.query(&hours)?.lines().collect::<Vec<_>>(),
            "one row per conversation and hour, as the rollups hash it"
        );
        let mut times: Vec<String> = rows
            .lines()
            .map(|l| l.split('\t').skip(2).collect::<Vec<_>>().join("\t"))
            .collect();
        times.sort();
        Ok(times.join(" "))
    };
    // The TCP conversation's flows and the ICMP one's, 5 s later.
    let times = |last_start: u64| {
        let mut times = [
            format!("{T0}\t{}", last_start + 500),
            format!("{}\t{}", T0 + 5_000, last_start + 5_500),
        ];
        times.sort();
        times.join(" ")
    };
    assert_eq!(seen()?, times(T0));
    // ... and a restart does not backfill them again; the 10-minute and
    // daily rollups were filled from the minute and hourly ones.
    Sink::connect(&sink_config(&ch, &db), metrics.sink.clone()).await?;
    assert_eq!(rollup(&ch, &db, "flows_1h")?, expected_rollup(&[T0], 1));
    assert_eq!(rollup(&ch, &db, "flows_10m")?, expected_rollup(&[T0], 1));
    let day = T0 / DAY * DAY;
    assert_eq!(rollup(&ch, &db, "flows_1d")?, expected_rollup(&[day], 1));
    // New rows land in the same buckets as the old ones, through the views.
    let new: Vec<FlowRow> = conversation(T0 + 1_000).iter().map(Flow::row).collect();
    sink.insert(&new).await?;
    assert_eq!(rollup(&ch, &db, "flows_1m")?, expected_rollup(&[T0], 2));
    assert_eq!(rollup(&ch, &db, "flows_10m")?, expected_rollup(&[T0], 2));
    assert_eq!(rollup(&ch, &db, "flows_1h")?, expected_rollup(&[T0], 2));
    assert_eq!(rollup(&ch, &db, "flows_1d")?, expected_rollup(&[day], 2));
    assert_eq!(seen()?, times(T0 + 1_000));
    Ok(())
}

/// The schema before the rollups' derived columns (main at 87949c6):
/// today's statements for an empty database without them (no derived
/// columns in the rollups, views computing `ROLLUP_COLUMNS` only, none of
/// the upgrade's steps), issued through the client so that the chdb check
/// replays them, in the log's order, before the migration's.
async fn schema_without_derived_columns(client: &Client, db: &str) -> Result<()> {
    let ddl: String = ROLLUP_DERIVED
        .iter()
        .map(|d| {
            format!(
                ",\n    `{}` {} DEFAULT {}",
                d.column.name, d.column.ch_type, d.expr
            )
        })
        .collect();
    let select: String = ROLLUP_DERIVED
        .iter()
        .map(|d| format!(", {} AS `{}`", d.expr, d.column.name))
        .collect();
    let mut rollup_statements = 0;
    for statement in eastwest_tests::creating_statements(db) {
        if statement.contains("`conversations_seen")
            || statement.contains("`conversations_1h")
            || statement.contains("`placements_")
        {
            continue;
        }
        let old = statement.replace(&ddl, "").replace(&select, "");
        rollup_statements += usize::from(old != statement);
        client.query(&old).execute().await?;
    }
    // Each rollup's table and view (its view three times: created, then
    // made again after each upgrade, a no-op here).
    assert_eq!(rollup_statements, 4 * ROLLUPS.len());
    Ok(())
}

#[tokio::test]
async fn rollups_without_the_derived_columns_are_upgraded() -> Result<()> {
    let ch = eastwest_tests::clickhouse()?;
    let db = eastwest_tests::unique_database("schema_v2");
    let client = client(&ch).await?;
    schema_without_derived_columns(&client, &db).await?;
    assert_eq!(
        ch.query(&format!(
            "SELECT count() FROM system.columns WHERE database = '{db}' AND name = 'conv_hash'"
        ))?,
        "0\n"
    );
    // Rows stored through the old views.
    let old = conversation(T0);
    insert_v1(&client, &db, &old).await?;
    assert_eq!(rollup(&ch, &db, "flows_1m")?, expected_rollup(&[T0], 1));
    // The chdb check replays statements in the order of the query log, to
    // the second: keep the old schema a second before the migration.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // The upgrade: the views are made again with the columns, which old
    // rows compute on read.
    let metrics = Arc::new(Metrics::new());
    let sink = Sink::connect(&sink_config(&ch, &db), metrics.sink.clone()).await?;
    assert_eq!(tables(&ch, &db)?, TABLES);
    let new: Vec<FlowRow> = conversation(T0 + 1_000).iter().map(Flow::row).collect();
    sink.insert(&new).await?;
    assert_eq!(rollup(&ch, &db, "flows_1m")?, expected_rollup(&[T0], 2));
    assert_eq!(rollup(&ch, &db, "flows_1h")?, expected_rollup(&[T0], 2));
    // Old rows (computed from the DEFAULT) and new ones (stored by the
    // views) of a conversation hash alike: two conversations, three
    // observation points (the old rows have no hosts, so they are rollup
    // rows of their own); and every stored value is its expression's.
    let wrong: Vec<String> = ROLLUP_DERIVED
        .iter()
        .map(|d| format!("countIf(`{}` != ({}))", d.column.name, d.expr))
        .collect();
    for table in ["flows_1m", "flows_1h"] {
        assert_eq!(
            ch.query(&format!(
                "SELECT count(), uniqExact(conv_hash), uniqExact(point_hash), {} \
                 FROM `{db}`.`{table}`",
                wrong.join(", ")
            ))?,
            "6\t2\t3\t0\t0\t0\n",
            "{table}"
        );
    }
    // A port mirror (+1) at the client's host (+4: web-01's esx-01 for
    // the TCP conversation, app-01's esx-02 for the ICMP one) or at the
    // server's (+2: esx-02 for the TCP one).
    assert_eq!(
        ch.query(&format!(
            "SELECT DISTINCT observer, client_vm, point_rank FROM `{db}`.flows_1m \
             WHERE client_host != '' ORDER BY observer, client_vm"
        ))?,
        "esx-01\tweb-01\t5\nesx-02\tapp-01\t5\nesx-02\tweb-01\t3\n"
    );
    Ok(())
}

fn derived(name: &str) -> Result<&'static eastwest_clickhouse::schema::DerivedColumn> {
    ROLLUP_DERIVED
        .iter()
        .find(|d| d.column.name == name)
        .context("derived column")
}

/// `point_hash` as it was before an underlay was one observation point
/// for both directions (main at 043a427).
const OLD_POINT_HASH: &str = "cityHash64(conv_hash, observer, encap)";

/// `point_rank` as it was when it gave a port mirror's +1 to the NVGRE and
/// routed-GRE underlays too (main at 72319d6).
const OLD_POINT_RANK: &str = "toUInt8((observer != '' AND observer = client_host) * 4 \
     + (observer != '' AND observer = server_host) * 2 \
     + (encap NOT IN ('vxlan', 'geneve')))";

/// The rollups' views and derived columns as they were with
/// [`OLD_POINT_HASH`] and [`OLD_POINT_RANK`], made over today's schema
/// through the client, so the chdb check replays them.
async fn rank_underlays_as_mirrors(client: &Client, db: &str) -> Result<()> {
    let (hash, rank) = (derived("point_hash")?, derived("point_rank")?);
    for rollup in ROLLUPS {
        for statement in [
            format!("DROP TABLE `{db}`.`{}`", rollup.view),
            format!(
                "ALTER TABLE `{db}`.`{}` MODIFY COLUMN point_hash UInt64 DEFAULT {OLD_POINT_HASH}",
                rollup.table
            ),
            format!(
                "ALTER TABLE `{db}`.`{}` MODIFY COLUMN point_rank UInt8 DEFAULT {OLD_POINT_RANK}",
                rollup.table
            ),
        ] {
            client.query(&statement).execute().await?;
        }
    }
    for step in migrations(&Layout::single(db)) {
        if step.statement.starts_with("CREATE MATERIALIZED VIEW")
            && step.statement.contains(rank.expr)
        {
            let old = step
                .statement
                .replace(rank.expr, OLD_POINT_RANK)
                .replace(hash.expr, OLD_POINT_HASH);
            client.query(&old).execute().await?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn underlay_points_are_made_again() -> Result<()> {
    let ch = eastwest_tests::clickhouse()?;
    let db = eastwest_tests::unique_database("schema_rank");
    let (hash, rank) = (derived("point_hash")?, derived("point_rank")?);
    let metrics = Arc::new(Metrics::new());
    let sink = Sink::connect(&sink_config(&ch, &db), metrics.sink.clone()).await?;
    let client = client(&ch).await?;
    rank_underlays_as_mirrors(&client, &db).await?;
    // The TCP conversation web-01 -> app-01 over each capture path: its
    // request seen at esx-01 (the client's host), its reply at esx-02 (the
    // server's), as an underlay's outer source attributes them. A mirror
    // ranks 4 + 1 at the client's host, 2 + 1 at the server's; an underlay
    // 4 at either, one point for both directions.
    let over = |encap: Encap, at_ms: u64| -> Vec<FlowRow> {
        conversation(at_ms)[..2]
            .iter()
            .enumerate()
            .map(|(i, f)| FlowRow {
                encap: Some(encap),
                observer: ["esx-01", "esx-02"][i].into(),
                ..f.row()
            })
            .collect()
    };
    let ranks = || {
        ch.query(&format!(
            "SELECT encap, arraySort(groupUniqArray(point_rank)), uniqExact(point_hash), \
             countIf(point_rank != ({})) + countIf(point_hash != ({})) \
             FROM `{db}`.flows_1m GROUP BY encap ORDER BY encap",
            rank.expr, hash.expr
        ))
    };
    for encap in [Encap::ErspanII, Encap::Gre, Encap::Nvgre, Encap::Vxlan] {
        sink.insert(&over(encap, T0)).await?;
    }
    assert_eq!(
        ranks()?,
        "erspan2\t[3,5]\t2\t0\ngre\t[3,5]\t2\t4\nnvgre\t[3,5]\t2\t4\nvxlan\t[2,4]\t2\t3\n",
        "stored by the old views"
    );
    // The chdb check replays statements in the order of the query log, to
    // the second: keep the old views a second before the migration.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let sink = Sink::connect(&sink_config(&ch, &db), metrics.sink.clone()).await?;
    // The stored rows get their point again by a mutation the server runs
    // in the background.
    for _ in 0..300 {
        let running = ch.query(&format!(
            "SELECT count() FROM system.mutations WHERE database = '{db}' AND is_done = 0"
        ))?;
        if running == "0\n" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let fixed = "erspan2\t[3,5]\t2\t0\ngre\t[4]\t1\t0\nnvgre\t[4]\t1\t0\nvxlan\t[4]\t1\t0\n";
    assert_eq!(ranks()?, fixed);
    for table in ["flows_10m", "flows_1h", "flows_1d", "flows_1m"] {
        assert_eq!(
            ch.query(&format!(
                "SELECT countIf(point_rank != ({})) + countIf(point_hash != ({})) \
                 FROM `{db}`.`{table}`",
                rank.expr, hash.expr
            ))?,
            "0\n",
            "{table}"
        );
    }
    // The views made again compute them so, and a restart changes nothing.
    Sink::connect(&sink_config(&ch, &db), metrics.sink.clone()).await?;
    for encap in [Encap::Gre, Encap::Nvgre] {
        sink.insert(&over(encap, T0 + 60_000)).await?;
    }
    assert_eq!(ranks()?, fixed);
    assert_eq!(
        ch.query(&format!(
            "SELECT count() FROM system.mutations WHERE database = '{db}'"
        ))?,
        format!("{}\n", ROLLUPS.len()),
        "one mutation per rollup"
    );
    Ok(())
}

const DAY: u64 = 86_400_000;

/// The rows of `flows` in `dataset`, stored (`received`) at `stored_ms`.
fn rows_in(dataset: &str, flows: &[Flow], stored_ms: u64) -> Vec<FlowRow> {
    flows
        .iter()
        .map(|f| FlowRow {
            dataset: dataset.into(),
            received: datetime_of_ms(stored_ms),
            ..f.row()
        })
        .collect()
}

/// The days `table` holds, one `YYYY-MM-DD` a line.
fn days(ch: &ClickHouse, db: &str, table: &str) -> Result<String> {
    ch.query(&format!(
        "SELECT DISTINCT toString(date) FROM `{db}`.`{table}` ORDER BY date"
    ))
}

#[tokio::test]
async fn retention_drops_old_live_days_and_keeps_replays_until_deleted() -> Result<()> {
    use eastwest_collector::config::RetentionConfig;
    use eastwest_collector::retention::Retention;

    let ch = eastwest_tests::clickhouse()?;
    let db = eastwest_tests::unique_database("retention");
    let sink = Sink::connect(&sink_config(&ch, &db), Metrics::new().sink).await?;
    for age in [100, 40, 30, 0] {
        let at = T0 - age * DAY;
        sink.insert(&rows_in("live", &conversation(at), at + 1000))
            .await?;
    }
    // A capture 400 days old (2025-09-28), replayed today.
    sink.insert(&rows_in("incident-7", &conversation(T0 - 400 * DAY), T0))
        .await?;
    let live = "2026-07-25\n2026-09-23\n2026-10-03\n2026-11-02\n";
    assert_eq!(days(&ch, &db, "flows_1m")?, format!("2025-09-28\n{live}"));
    let config = RetentionConfig {
        flows_days: 30,
        flows_1m_days: 60,
        flows_1h_days: 0,
        ..RetentionConfig::default()
    };
    let retention = Retention::new(
        sink.client().cloned().unwrap(),
        Layout::single(&db),
        config.clone(),
        "live",
    );
    // As of T0 (2026-11-02): live flows keep 30 days back (2026-10-03 on),
    // the 1-minute rollup 60, the 1-hour rollup everything; the replay is
    // kept everywhere, whatever its flows' age.
    let dropped = retention.run_once(T0 + 3_600_000).await?;
    // flows, datasets and flow_exporters drop two days each, flows_1m
    // and flows_10m one.
    assert_eq!(dropped.len(), 8, "{dropped:?}");
    assert!(dropped.iter().all(|d| d.dataset == "live"), "{dropped:?}");
    let kept = "2025-09-28\n2026-10-03\n2026-11-02\n";
    assert_eq!(days(&ch, &db, "flows")?, kept);
    assert_eq!(days(&ch, &db, "datasets")?, kept);
    assert_eq!(days(&ch, &db, "flow_exporters")?, kept);
    assert_eq!(
        days(&ch, &db, "flows_1m")?,
        "2025-09-28\n2026-09-23\n2026-10-03\n2026-11-02\n"
    );
    assert_eq!(days(&ch, &db, "flows_1h")?, format!("2025-09-28\n{live}"));
    assert_eq!(days(&ch, &db, "flows_10m")?, days(&ch, &db, "flows_1m")?);
    assert_eq!(days(&ch, &db, "flows_1d")?, days(&ch, &db, "flows_1h")?);
    // `conversations_1h`, `observed_1m`, `conversations_seen` and the
    // placements follow the 1-hour rollup.
    for table in [
        "conversations_1h",
        "observed_1m",
        "conversations_seen",
        "placements_1h",
        "placements_1d",
    ] {
        assert_eq!(days(&ch, &db, table)?, format!("2025-09-28\n{live}"));
    }
    // Nothing more to drop the same day.
    assert!(retention.run_once(T0 + 7_200_000).await?.is_empty());
    // A year later the live days are gone; the replay stays.
    retention.run_once(T0 + 365 * DAY).await?;
    assert_eq!(days(&ch, &db, "flows")?, "2025-09-28\n");
    assert_eq!(days(&ch, &db, "flows_1m")?, "2025-09-28\n");

    // With `datasets_days`, a replay goes that long after it was stored
    // (T0), from every table.
    let retention = Retention::new(
        sink.client().cloned().unwrap(),
        Layout::single(&db),
        RetentionConfig {
            datasets_days: 7,
            ..config
        },
        "live",
    );
    assert!(retention.run_once(T0 + 6 * DAY).await?.is_empty());
    let dropped = retention.run_once(T0 + 7 * DAY).await?;
    assert_eq!(dropped.len(), 12, "{dropped:?}");
    for table in [
        "flows",
        "flows_1m",
        "flows_10m",
        "datasets",
        "flow_exporters",
    ] {
        assert_eq!(days(&ch, &db, table)?, "", "{table}");
    }
    for table in [
        "flows_1h",
        "flows_1d",
        "conversations_1h",
        "observed_1m",
        "conversations_seen",
        "placements_1h",
        "placements_1d",
    ] {
        assert_eq!(
            days(&ch, &db, table)?,
            live,
            "{table}: live hours kept forever"
        );
    }
    Ok(())
}

/// The schema before datasets had partitions of their own: today's
/// statements for an empty database with every table partitioned by `date`
/// alone, and without `datasets`, `observed_1m`, `conversations_seen`,
/// `conversations_1h`, the placements, `flow_exporters` and `series_buckets`.
async fn schema_partitioned_by_day(client: &Client, db: &str) -> Result<()> {
    for statement in eastwest_tests::creating_statements(db) {
        if statement.contains("`datasets")
            || statement.contains("`placements_")
            || statement.contains("`observed_1m")
            || statement.contains("`conversations_seen")
            || statement.contains("`conversations_1h")
            || statement.contains("`flow_exporters")
            || statement.contains("`series_buckets")
        {
            continue;
        }
        let old = statement.replace(
            &format!("PARTITION BY {PARTITION_KEY}"),
            "PARTITION BY date",
        );
        client.query(&old).execute().await?;
    }
    Ok(())
}

#[tokio::test]
async fn tables_partitioned_by_day_are_repartitioned_with_their_rows() -> Result<()> {
    let ch = eastwest_tests::clickhouse()?;
    let db = eastwest_tests::unique_database("schema_v3");
    let client = client(&ch).await?;
    schema_partitioned_by_day(&client, &db).await?;
    // A live day and a replay of a capture 400 days older.
    insert_v1_into(&client, &db, "live", &conversation(T0)).await?;
    insert_v1_into(&client, &db, "incident-7", &conversation(T0 - 400 * DAY)).await?;
    let partition_keys = || {
        ch.query(&format!(
            "SELECT name, partition_key FROM system.tables WHERE database = '{db}' \
             AND partition_key != '' ORDER BY name"
        ))
    };
    assert_eq!(
        partition_keys()?,
        "flows\tdate\nflows_10m\tdate\nflows_1d\tdate\nflows_1h\tdate\nflows_1m\tdate\n"
    );
    let contents = || -> Result<Vec<String>> {
        let mut all = vec![ch.query(&format!(
            "SELECT dataset, date, count(), sum(bytes), sum(reply) FROM `{db}`.flows \
             GROUP BY dataset, date ORDER BY dataset"
        ))?];
        for table in ["flows_1m", "flows_10m", "flows_1h", "flows_1d"] {
            all.push(rollup(&ch, &db, table)?);
            all.push(ch.query(&format!(
                "SELECT dataset, sum(flows), uniqExact(conv_hash) FROM `{db}`.`{table}` \
                 GROUP BY dataset ORDER BY dataset"
            ))?);
        }
        Ok(all)
    };
    let before = contents()?;
    assert_eq!(
        before[0],
        "incident-7\t2025-09-28\t6\t42168\t3\nlive\t2026-11-02\t6\t42168\t3\n"
    );
    // The chdb check replays statements in the order of the query log, to
    // the second: keep the old schema a second before the migration.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let metrics = Arc::new(Metrics::new());
    let sink = Sink::connect(&sink_config(&ch, &db), metrics.sink.clone()).await?;
    assert_eq!(tables(&ch, &db)?, TABLES);
    let new_key = "(dataset, date)";
    assert_eq!(
        partition_keys()?.replace(new_key, "K"),
        "conversations_1h\tK\nconversations_seen\tK\ndatasets\tK\nflow_exporters\tK\nflows\tK\nflows_10m\tK\nflows_1d\tK\nflows_1h\tK\nflows_1m\tK\nobserved_1m\tK\nplacements_1d\tK\nplacements_1h\tK\nseries_buckets\tK\n"
    );
    assert_eq!(contents()?, before, "every row kept, once");
    // `datasets` was filled from the rows already there.
    let summary = || {
        ch.query(&format!(
            "SELECT dataset, countMerge(flows), minMerge(first_ms), maxMerge(last_ms) \
             FROM `{db}`.datasets GROUP BY dataset ORDER BY dataset"
        ))
    };
    let old_ms = T0 - 400 * DAY;
    assert_eq!(
        summary()?,
        format!(
            "incident-7\t6\t{old_ms}\t{}\nlive\t6\t{T0}\t{}\n",
            old_ms + 5_500,
            T0 + 5_500
        )
    );
    // `observed_1m` too: per minute, observer and policy revision, the
    // same count, first start and last end as the raw rows.
    let observed = || {
        ch.query(&format!(
            "SELECT dataset, bucket, observer, policy_revision, countMerge(flows), \
             minMerge(first_ms), maxMerge(last_ms) FROM `{db}`.observed_1m \
             GROUP BY dataset, bucket, observer, policy_revision \
             ORDER BY dataset, bucket, observer, policy_revision"
        ))
    };
    let from_flows = || {
        ch.query(&format!(
            "SELECT dataset, toStartOfMinute(start) AS b, observer, policy_revision, count(), \
             min(start_ms), max(end_ms) FROM `{db}`.flows \
             GROUP BY dataset, b, observer, policy_revision \
             ORDER BY dataset, b, observer, policy_revision"
        ))
    };
    assert_eq!(observed()?, from_flows()?);
    assert!(observed()?.lines().count() >= 2);
    // The placements were filled from the rollups: per bucket, each end's
    // VM, host and zone with its flows, as both ends of the raw rows give.
    let placed = |table: &str| {
        ch.query(&format!(
            "SELECT dataset, bucket, vm, host, zone, sumMerge(flows) FROM `{db}`.`{table}` \
             GROUP BY dataset, bucket, vm, host, zone ORDER BY dataset, bucket, vm, host, zone"
        ))
    };
    let placed_flows = |bucket: &str| {
        ch.query(&format!(
            "SELECT dataset, {bucket} AS b, tupleElement(side, 1) AS vm, \
             tupleElement(side, 2) AS host, tupleElement(side, 3) AS zone, count() \
             FROM `{db}`.flows ARRAY JOIN [(src_vm, src_host, src_zone), \
             (dst_vm, dst_host, dst_zone)] AS side \
             GROUP BY dataset, b, vm, host, zone ORDER BY dataset, b, vm, host, zone"
        ))
    };
    let placements = || -> Result<[(String, String); 2]> {
        Ok([
            (placed("placements_1h")?, placed_flows(FLOWS_1H.bucket)?),
            (placed("placements_1d")?, placed_flows(FLOWS_1D.bucket)?),
        ])
    };
    for (table, flows) in placements()? {
        assert_eq!(table, flows);
        assert!(table.lines().count() >= 4, "{table}");
    }
    // A second start changes nothing.
    Sink::connect(&sink_config(&ch, &db), metrics.sink.clone()).await?;
    assert_eq!(contents()?, before);
    // New rows reach the rollups, `datasets` and `observed_1m` through the
    // views.
    sink.insert(&rows_in("live", &conversation(T0 + 1_000), T0 + 2_000))
        .await?;
    assert_eq!(rollup(&ch, &db, "flows_1h")?.lines().count(), 6);
    assert!(summary()?.ends_with(&format!("live\t12\t{T0}\t{}\n", T0 + 6_500)));
    assert_eq!(observed()?, from_flows()?);
    for (table, flows) in placements()? {
        assert_eq!(table, flows);
    }
    Ok(())
}

/// The schema whose `conversations_1h` and `conversations_seen` had
/// 256-row granules and `conversations_1h` its whole sort key as primary
/// index: today's statements for an empty database with those.
async fn schema_of_256_row_granules(client: &Client, db: &str) -> Result<()> {
    let granule = format!("index_granularity = {BY_KEY_GRANULE}");
    for statement in eastwest_tests::creating_statements(db) {
        let mut old = statement.replace(&granule, "index_granularity = 256");
        if let Some(at) = old.find("PRIMARY KEY (") {
            let end = at + old[at..].find(") ").context("primary key")? + 2;
            old.replace_range(at..end, "");
        }
        client.query(&old).execute().await?;
    }
    Ok(())
}

#[tokio::test]
async fn conversation_tables_of_256_row_granules_are_copied_with_their_rows() -> Result<()> {
    let ch = eastwest_tests::clickhouse()?;
    let db = eastwest_tests::unique_database("schema_v4");
    let client = client(&ch).await?;
    schema_of_256_row_granules(&client, &db).await?;
    insert_v1_into(&client, &db, "live", &conversation(T0)).await?;
    insert_v1_into(&client, &db, "incident-7", &conversation(T0 - 400 * DAY)).await?;
    let definitions = || {
        ch.query(&format!(
            "SELECT name, primary_key, extract(engine_full, 'index_granularity = [0-9]+') \
             FROM system.tables WHERE database = '{db}' AND name LIKE 'conversations%' \
             AND engine != 'MaterializedView' ORDER BY name"
        ))
    };
    assert_eq!(
        definitions()?,
        "conversations_1h\tdataset, conv_hash, bucket, date, client_vm, client_addr, \
         client_zone, client_host, server_vm, server_addr, server_zone, server_host, proto, \
         server_port, verdict, rule, severity, same_host, observer, encap\tindex_granularity = 256\n\
         conversations_seen\tdataset, conv_hash, bucket\tindex_granularity = 256\n"
    );
    let contents = || -> Result<Vec<String>> {
        Ok(vec![
            rollup(&ch, &db, "conversations_1h")?,
            ch.query(&format!(
                "SELECT dataset, conv_hash, bucket, minMerge(first_ms), maxMerge(last_ms) \
                 FROM `{db}`.conversations_seen GROUP BY dataset, conv_hash, bucket \
                 ORDER BY dataset, conv_hash, bucket"
            ))?,
        ])
    };
    let before = contents()?;
    assert_eq!(
        before[0],
        rollup(&ch, &db, "flows_1h")?,
        "the views filled the old tables"
    );
    assert_eq!(before[1].lines().count(), 4, "{}", before[1]);
    // The chdb check replays statements in the order of the query log, to
    // the second: keep the old schema a second before the migration.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let metrics = Arc::new(Metrics::new());
    let sink = Sink::connect(&sink_config(&ch, &db), metrics.sink.clone()).await?;
    assert_eq!(tables(&ch, &db)?, TABLES);
    assert_eq!(
        definitions()?,
        format!(
            "conversations_1h\tdataset, conv_hash, bucket\tindex_granularity = {BY_KEY_GRANULE}\n\
             conversations_seen\tdataset, conv_hash, bucket\tindex_granularity = {BY_KEY_GRANULE}\n"
        )
    );
    assert_eq!(contents()?, before, "every row kept, once");
    // A second start copies nothing again.
    Sink::connect(&sink_config(&ch, &db), metrics.sink.clone()).await?;
    assert_eq!(contents()?, before);
    // New rows reach both through their views, made again.
    sink.insert(&rows_in("live", &conversation(T0 + 1_000), T0 + 2_000))
        .await?;
    let after = contents()?;
    assert_eq!(after[0], rollup(&ch, &db, "flows_1h")?);
    assert_ne!(after[0], before[0]);
    assert_ne!(after[1], before[1]);
    Ok(())
}
