//! Where the dashboard reads flows from: the [`Store`] trait the handlers use
//! and [`ClickHouseStore`], its implementation over the `flows` table of
//! [`eastwest_core::schema`].
//!
//! Every value that comes from a request is bound on the client side with the
//! `clickhouse` crate's `?` placeholder (escaped as a literal); the only SQL
//! text chosen by a request is the sort column, picked from a whitelist.

use std::future::Future;
use std::time::Duration;

use clickhouse::Client;
use eastwest_core::schema::{
    addr_from_bytes, date_of_ms, migrate, query_settings, quote_ident, Layout, ServerVersion,
    FLOWS_TABLE,
};
use serde::{Deserialize, Serialize};

use crate::query::{ConversationQuery, TimeWindow};

/// One conversation: the flows of one (source, destination, zones, protocol,
/// port, verdict, rule, severity, same host) group. Field names are the
/// column names of the `flows` table, plus `observers` (the hosts that saw
/// it) and `flows` (how many flow records were counted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub src_vm: String,
    /// Source address, only when the VM is unknown (`src_vm` is empty).
    pub src_addr: Option<String>,
    pub dst_vm: String,
    /// Destination address, only when the VM is unknown.
    pub dst_addr: Option<String>,
    pub src_zone: String,
    pub dst_zone: String,
    pub proto: u8,
    pub dst_port: u16,
    pub verdict: String,
    pub rule: String,
    pub severity: String,
    pub same_host: bool,
    pub observers: Vec<String>,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// First packet of the earliest flow, epoch milliseconds.
    pub start_ms: u64,
    /// Last packet of the latest flow, epoch milliseconds.
    pub end_ms: u64,
}

/// Totals over every conversation that matched, not only the page returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct Totals {
    pub conversations: u64,
    pub violations: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// One page of conversations and the totals of the whole result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

/// Why the store could not answer. The text is for logs, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (down, refused, timed out).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database answered with an error.
    #[error("storage query failed: {0}")]
    Query(String),
}

impl From<clickhouse::error::Error> for StoreError {
    fn from(err: clickhouse::error::Error) -> StoreError {
        use clickhouse::error::Error;
        match err {
            Error::Network(_) | Error::TimedOut => StoreError::Unavailable(err.to_string()),
            other => StoreError::Query(other.to_string()),
        }
    }
}

/// What the API needs from storage.
pub trait Store: Send + Sync + 'static {
    /// The conversations matching `query`: the requested page and the totals.
    fn conversations(
        &self,
        query: &ConversationQuery,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Whether the database answers.
    fn health(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where and how to reach ClickHouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseSettings {
    pub url: String,
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Run the schema migrations at connect time.
    pub migrate: bool,
    /// Longest a query (or the start-up check) may take.
    pub timeout: Duration,
}

/// Why [`ClickHouseStore::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("ClickHouse at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("ClickHouse at {url} reported an unknown version {version:?}")]
    Version { url: String, version: String },
    #[error("migrating database {database} at {url} failed: {reason}")]
    Migrate {
        url: String,
        database: String,
        reason: String,
    },
}

/// [`Store`] over the ClickHouse `flows` table.
#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    version: ServerVersion,
    timeout: Duration,
    /// `database`.`flows`, quoted: statements name their database, so the
    /// SQL stands alone (as in the query log the chdb check replays).
    flows: String,
}

impl std::fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseStore")
            .field("version", &self.version)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A value bound to a `?` of the SQL, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    Text(String),
    U64(u64),
    U16(u16),
    U8(u8),
}

/// The `flows` subquery grouped per conversation and observer: its SQL and
/// the values for its `?`s.
#[derive(Debug)]
struct Grouped {
    sql: String,
    args: Vec<Arg>,
}

/// Columns of the per-conversation grouping, as the outer query names them.
const GROUP_KEYS: &str = "src_vm, dst_vm, src_addr, dst_addr, src_zone, dst_zone, \
                          proto, dst_port, verdict, rule, severity, same_host";

fn grouped(query: &ConversationQuery, flows: &str) -> Grouped {
    let mut filters = String::new();
    let mut args = Vec::new();
    if let Some(TimeWindow { from_ms, to_ms }) = query.window {
        // The date bounds let ClickHouse skip whole daily partitions.
        filters.push_str(
            " AND start_ms >= ? AND start_ms < ? AND date >= toDate(?) AND date <= toDate(?)",
        );
        args.extend([
            Arg::U64(from_ms),
            Arg::U64(to_ms),
            Arg::U16(date_of_ms(from_ms)),
            Arg::U16(date_of_ms(to_ms.saturating_sub(1))),
        ]);
    }
    if let Some(dataset) = &query.dataset {
        filters.push_str(" AND dataset = ?");
        args.push(Arg::Text(dataset.clone()));
    }
    if let Some(vm) = &query.vm {
        filters.push_str(" AND (src_vm = ? OR dst_vm = ?)");
        args.extend([Arg::Text(vm.clone()), Arg::Text(vm.clone())]);
    }
    if let Some(zone) = &query.zone {
        filters.push_str(" AND (src_zone = ? OR dst_zone = ?)");
        args.extend([Arg::Text(zone.clone()), Arg::Text(zone.clone())]);
    }
    if let Some(verdict) = query.verdict {
        filters.push_str(" AND verdict = ?");
        args.push(Arg::Text(verdict.as_str().to_string()));
    }
    if let Some(same_host) = query.same_host {
        filters.push_str(" AND same_host = ?");
        args.push(Arg::U8(u8::from(same_host)));
    }
    // Inner: one row per conversation and observation point (observer host
    // and capture path), ranked by how local it is: 4 = the source's host,
    // 2 = the destination's, +1 for a mirror of the VM's port (SPAN/ERSPAN)
    // over the overlay underlay (VXLAN/Geneve), which sees the same packets
    // again. Outer: one row per conversation, counting the flows once, at
    // the best-ranked observation point (DESIGN.md: "count each flow once,
    // at the observer local to the source, else the destination").
    let sql = format!(
        "SELECT src_vm, dst_vm, \
           if(src_vm = '', src_addr, toFixedString('', 16)) AS src_key, \
           if(dst_vm = '', dst_addr, toFixedString('', 16)) AS dst_key, \
           src_zone, dst_zone, proto, dst_port, verdict, rule, severity, same_host, observer, encap, \
           sum(packets) AS o_packets, sum(bytes) AS o_bytes, count() AS o_flows, \
           min(start_ms) AS o_start, max(end_ms) AS o_end, \
           max((observer != '' AND observer = src_host) * 4 \
               + (observer != '' AND observer = dst_host) * 2 \
               + (encap NOT IN ('vxlan', 'geneve'))) AS o_local \
         FROM {flows} WHERE 1{filters} \
         GROUP BY src_vm, dst_vm, src_key, dst_key, src_zone, dst_zone, proto, dst_port, \
           verdict, rule, severity, same_host, observer, encap"
    );
    Grouped { sql, args }
}

fn conversations_sql(inner: &str) -> String {
    format!(
        "SELECT src_vm, dst_vm, src_key AS src_addr, dst_key AS dst_addr, src_zone, dst_zone, \
           proto, dst_port, verdict, rule, severity, same_host, \
           arraySort(groupUniqArray(observer)) AS observers, \
           argMax(o_flows, (o_local, o_bytes)) AS flows, \
           argMax(o_packets, (o_local, o_bytes)) AS packets, \
           argMax(o_bytes, (o_local, o_bytes)) AS bytes, \
           min(o_start) AS start_ms, max(o_end) AS end_ms \
         FROM ({inner}) GROUP BY {GROUP_KEYS}"
    )
}

/// A conversation as ClickHouse returns it (RowBinary, in SELECT order).
#[derive(Debug, clickhouse::Row, Deserialize)]
struct ConversationRow {
    src_vm: String,
    dst_vm: String,
    src_addr: [u8; 16],
    dst_addr: [u8; 16],
    src_zone: String,
    dst_zone: String,
    proto: u8,
    dst_port: u16,
    verdict: String,
    rule: String,
    severity: String,
    same_host: u8,
    observers: Vec<String>,
    flows: u64,
    packets: u64,
    bytes: u64,
    start_ms: u64,
    end_ms: u64,
}

impl From<ConversationRow> for Conversation {
    fn from(row: ConversationRow) -> Conversation {
        let addr = |vm: &str, bytes| vm.is_empty().then(|| addr_from_bytes(bytes).to_string());
        Conversation {
            src_addr: addr(&row.src_vm, row.src_addr),
            dst_addr: addr(&row.dst_vm, row.dst_addr),
            src_vm: row.src_vm,
            dst_vm: row.dst_vm,
            src_zone: row.src_zone,
            dst_zone: row.dst_zone,
            proto: row.proto,
            dst_port: row.dst_port,
            verdict: row.verdict,
            rule: row.rule,
            severity: row.severity,
            same_host: row.same_host != 0,
            observers: row.observers,
            flows: row.flows,
            packets: row.packets,
            bytes: row.bytes,
            start_ms: row.start_ms,
            end_ms: row.end_ms,
        }
    }
}

impl ClickHouseStore {
    /// Reach the server, detect its version, adapt the client to it, and
    /// (if `settings.migrate`) bring the schema up to date.
    pub async fn connect(settings: &ClickHouseSettings) -> Result<ClickHouseStore, ConnectError> {
        let url = settings.url.clone();
        let mut base = Client::default().with_url(&settings.url);
        if let Some(user) = &settings.user {
            base = base.with_user(user);
        }
        if let Some(password) = &settings.password {
            base = base.with_password(password);
        }
        let unreachable = |reason: String| ConnectError::Unreachable {
            url: url.clone(),
            reason,
        };
        // RowBinary works on every server, so the version is read without
        // validation (which needs RowBinaryWithNamesAndTypes, absent in 18.x).
        let version_query = base
            .clone()
            .with_validation(false)
            .query("SELECT version()")
            .fetch_one::<String>();
        let version_text = tokio::time::timeout(settings.timeout, version_query)
            .await
            .map_err(|_| unreachable(format!("no answer within {:?}", settings.timeout)))?
            .map_err(|e| unreachable(e.to_string()))?;
        let version = ServerVersion::parse(&version_text).ok_or_else(|| ConnectError::Version {
            url: url.clone(),
            version: version_text.clone(),
        })?;
        let mut client = base.with_validation(!version.needs_legacy_settings());
        for (name, value) in query_settings(version) {
            client = client.with_setting(*name, *value);
        }
        if settings.migrate {
            let layout = Layout::single(&settings.database);
            let run = migrate(&client, &layout);
            let failed = |reason: String| ConnectError::Migrate {
                url: url.clone(),
                database: settings.database.clone(),
                reason,
            };
            tokio::time::timeout(settings.timeout, run)
                .await
                .map_err(|_| failed(format!("no answer within {:?}", settings.timeout)))?
                .map_err(|e| failed(e.to_string()))?;
        }
        tracing::info!(%url, version = %version_text, database = %settings.database, "connected to ClickHouse");
        Ok(ClickHouseStore {
            client: client.with_database(&settings.database),
            version,
            timeout: settings.timeout,
            flows: format!(
                "{}.{}",
                quote_ident(&settings.database),
                quote_ident(FLOWS_TABLE)
            ),
        })
    }

    /// The client, adapted to the server and with the database selected,
    /// for the policy module's statements.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The server version detected at connect time.
    pub fn version(&self) -> ServerVersion {
        self.version
    }

    /// The two queries [`Store::conversations`] runs (the page, then the
    /// totals), with every value bound. Public so that the SQL can be
    /// checked against other ClickHouse versions.
    pub fn conversation_queries(
        &self,
        query: &ConversationQuery,
    ) -> (clickhouse::query::Query, clickhouse::query::Query) {
        let inner = grouped(query, &self.flows);
        let outer = conversations_sql(&inner.sql);
        let direction = if query.sort.descending { "DESC" } else { "ASC" };
        let page_sql = format!(
            "{outer} ORDER BY {} {direction}, {GROUP_KEYS} LIMIT ?, ?",
            query.sort.key.column()
        );
        let totals_sql = format!(
            "SELECT count() AS conversations, countIf(verdict = 'violation') AS violations, \
             sum(flows) AS flows, sum(packets) AS packets, sum(bytes) AS bytes FROM ({outer})"
        );
        let page = bind_all(self.client.query(&page_sql), &inner.args)
            .bind(query.offset)
            .bind(query.limit);
        let totals = bind_all(self.client.query(&totals_sql), &inner.args);
        (page, totals)
    }

    async fn with_timeout<T>(
        &self,
        work: impl Future<Output = Result<T, clickhouse::error::Error>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| StoreError::Unavailable(format!("no answer within {:?}", self.timeout)))?
            .map_err(StoreError::from)
    }
}

fn bind_all(mut query: clickhouse::query::Query, args: &[Arg]) -> clickhouse::query::Query {
    for arg in args {
        query = match arg {
            Arg::Text(text) => query.bind(text.as_str()),
            Arg::U64(n) => query.bind(*n),
            Arg::U16(n) => query.bind(*n),
            Arg::U8(n) => query.bind(*n),
        };
    }
    query
}

impl Store for ClickHouseStore {
    async fn conversations(&self, query: &ConversationQuery) -> Result<Page, StoreError> {
        let (page, totals) = self.conversation_queries(query);
        let (rows, totals) = tokio::try_join!(
            self.with_timeout(page.fetch_all::<ConversationRow>()),
            self.with_timeout(totals.fetch_one::<Totals>()),
        )?;
        Ok(Page {
            totals,
            conversations: rows.into_iter().map(Conversation::from).collect(),
        })
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.with_timeout(self.client.query("SELECT 1").fetch_one::<u8>())
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{Format, Sort, Verdict};

    fn query() -> ConversationQuery {
        ConversationQuery {
            window: Some(TimeWindow {
                from_ms: 1_793_577_600_000,
                to_ms: 1_793_664_000_000,
            }),
            dataset: Some("lab".into()),
            vm: Some("x' OR 1=1 --".into()),
            zone: None,
            verdict: Some(Verdict::Violation),
            same_host: Some(true),
            limit: 10,
            offset: 0,
            sort: Sort::default(),
            format: Format::Json,
        }
    }

    #[test]
    fn placeholders_match_arguments() {
        let inner = grouped(&query(), "`db`.`flows`");
        assert_eq!(inner.sql.matches('?').count(), inner.args.len());
        // Request text never reaches the SQL, only the argument list.
        assert!(!inner.sql.contains("OR 1=1"));
        assert!(inner.args.contains(&Arg::Text("x' OR 1=1 --".into())));
        // The dates of the window: 2026-11-02 and the day before 2026-11-03.
        assert!(inner.args.contains(&Arg::U16(20_759)));
        assert_eq!(
            inner
                .args
                .iter()
                .filter(|a| **a == Arg::U16(20_759))
                .count(),
            2
        );
    }

    #[test]
    fn unknown_vms_show_their_address() {
        let mut addr = [0u8; 16];
        addr[10] = 0xff;
        addr[11] = 0xff;
        addr[12..].copy_from_slice(&[10, 0, 0, 7]);
        let row = ConversationRow {
            src_vm: String::new(),
            dst_vm: "db-01".into(),
            src_addr: addr,
            dst_addr: [0; 16],
            src_zone: "unzoned".into(),
            dst_zone: "db".into(),
            proto: 6,
            dst_port: 5432,
            verdict: "unknown".into(),
            rule: String::new(),
            severity: String::new(),
            same_host: 0,
            observers: vec!["esx-03".into()],
            flows: 1,
            packets: 2,
            bytes: 3,
            start_ms: 4,
            end_ms: 5,
        };
        let conversation = Conversation::from(row);
        assert_eq!(conversation.src_addr.as_deref(), Some("10.0.0.7"));
        assert_eq!(conversation.dst_addr, None);
        assert!(!conversation.same_host);
    }
}
