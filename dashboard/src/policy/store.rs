//! What the policy endpoints need from storage ([`PolicyStore`]) and its
//! implementation over ClickHouse ([`ClickHousePolicyStore`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;

use clickhouse::Client;
use eastwest_clickhouse::schema::{
    addr_from_bytes, datetime_of_ms, quote_ident, InventoryEventRow, FLOWS_1M, FLOWS_TABLE,
    INVENTORY_EVENTS_TABLE,
};
use eastwest_core::flow::{direction, Direction};
use eastwest_core::inventory::InventoryEvent;

use super::sql::{self, RawConversation, RollupConversation};
use crate::sql::Resolution;
use crate::store::StoreError;

/// One stored conversation as the what-if needs it: oriented client →
/// server, counted at one observation point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConversation {
    pub client_vm: String,
    pub client_addr: IpAddr,
    pub server_vm: String,
    pub server_addr: IpAddr,
    pub proto: u8,
    pub server_port: u16,
    pub observer: String,
    /// Earliest flow start, epoch ms (the inventory is read as of then).
    pub first_ms: u64,
    pub verdict: String,
    pub rule: String,
    pub severity: String,
    pub flows: u64,
    pub bytes: u64,
}

/// What the policy endpoints need from storage.
pub trait PolicyStore: Send + Sync + 'static {
    /// Every stored inventory event, in time order.
    fn events(&self) -> impl Future<Output = Result<Vec<InventoryEvent>, StoreError>> + Send;
    /// Store events (already checked).
    fn insert_events(
        &self,
        rows: Vec<InventoryEventRow>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The conversations that started in `[from_ms, to_ms)`.
    fn conversations(
        &self,
        from_ms: u64,
        to_ms: u64,
        dataset: Option<String>,
    ) -> impl Future<Output = Result<(Resolution, Vec<StoredConversation>), StoreError>> + Send;
}

/// [`PolicyStore`] over the ClickHouse database the collector writes.
#[derive(Clone)]
pub struct ClickHousePolicyStore {
    client: Client,
    database: String,
}

impl std::fmt::Debug for ClickHousePolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHousePolicyStore")
            .field("database", &self.database)
            .finish()
    }
}

impl ClickHousePolicyStore {
    /// `client` adapted to the server version (see `ClickHouseStore::client`).
    pub fn new(client: Client, database: &str) -> ClickHousePolicyStore {
        ClickHousePolicyStore {
            client,
            database: database.to_string(),
        }
    }

    fn table(&self, name: &str) -> String {
        format!("{}.{}", quote_ident(&self.database), quote_ident(name))
    }
}

impl PolicyStore for ClickHousePolicyStore {
    async fn events(&self) -> Result<Vec<InventoryEvent>, StoreError> {
        let sql = sql::events(&self.table(INVENTORY_EVENTS_TABLE));
        let rows = self
            .client
            .query(&sql)
            .fetch_all::<InventoryEventRow>()
            .await?;
        // Rows are written by `insert_events` only; one that does not parse
        // is skipped (the collector reports it).
        Ok(rows
            .iter()
            .filter_map(|row| serde_json::from_str(&row.event).ok())
            .collect())
    }

    async fn insert_events(&self, rows: Vec<InventoryEventRow>) -> Result<(), StoreError> {
        let mut insert = self
            .client
            .insert::<InventoryEventRow>(INVENTORY_EVENTS_TABLE)
            .await?;
        for row in &rows {
            insert.write(row).await?;
        }
        insert.end().await?;
        Ok(())
    }

    async fn conversations(
        &self,
        from_ms: u64,
        to_ms: u64,
        dataset: Option<String>,
    ) -> Result<(Resolution, Vec<StoredConversation>), StoreError> {
        let exists_sql = sql::exists(&self.table(FLOWS_1M.table));
        let rollups = self.client.query(&exists_sql).fetch_one::<u8>().await? == 1;
        if rollups && from_ms.is_multiple_of(60_000) && to_ms.is_multiple_of(60_000) {
            let sql = sql::rollup_conversations(&self.table(FLOWS_1M.table), dataset.is_some());
            let mut query = self
                .client
                .query(&sql)
                .bind(datetime_of_ms(from_ms))
                .bind(datetime_of_ms(to_ms));
            if let Some(dataset) = &dataset {
                query = query.bind(dataset);
            }
            let rows = query.fetch_all::<RollupConversation>().await?;
            let conversations = rows
                .into_iter()
                .map(|r| StoredConversation {
                    client_vm: r.client_vm,
                    client_addr: addr_from_bytes(r.client_addr),
                    server_vm: r.server_vm,
                    server_addr: addr_from_bytes(r.server_addr),
                    proto: r.proto,
                    server_port: r.server_port,
                    observer: r.observer,
                    first_ms: u64::from(r.first) * 1000,
                    verdict: r.verdict,
                    rule: r.rule,
                    severity: r.severity,
                    flows: r.flows,
                    bytes: r.bytes,
                })
                .collect();
            return Ok((Resolution::Minute, conversations));
        }
        let sql = sql::raw_conversations(&self.table(FLOWS_TABLE), dataset.is_some());
        let mut query = self.client.query(&sql).bind(from_ms).bind(to_ms);
        if let Some(dataset) = &dataset {
            query = query.bind(dataset);
        }
        let rows = query.fetch_all::<RawConversation>().await?;
        Ok((Resolution::Raw, orient(rows)))
    }
}

/// Client VM and address, server VM and address, protocol, server port,
/// observer.
type ConversationKey = (String, Vec<u8>, String, Vec<u8>, u8, u16, String);

/// Raw flow groups as conversations: a reply (`core::flow::direction`) is
/// counted under the request it answers; client ports are folded away.
pub(super) fn orient(rows: Vec<RawConversation>) -> Vec<StoredConversation> {
    let mut merged: BTreeMap<ConversationKey, StoredConversation> = BTreeMap::new();
    for r in rows {
        let reply = direction(r.proto, r.src_port, r.dst_port, r.icmp) == Direction::Reply;
        let (client_vm, client_addr, server_vm, server_addr, server_port) = if reply {
            (r.dst_vm, r.dst_addr, r.src_vm, r.src_addr, r.src_port)
        } else {
            (r.src_vm, r.src_addr, r.dst_vm, r.dst_addr, r.dst_port)
        };
        let key = (
            client_vm.clone(),
            client_addr.to_vec(),
            server_vm.clone(),
            server_addr.to_vec(),
            r.proto,
            server_port,
            r.observer.clone(),
        );
        let entry = merged.entry(key).or_insert_with(|| StoredConversation {
            client_vm,
            client_addr: addr_from_bytes(client_addr),
            server_vm,
            server_addr: addr_from_bytes(server_addr),
            proto: r.proto,
            server_port,
            observer: r.observer,
            first_ms: r.first_ms,
            verdict: r.verdict.clone(),
            rule: r.rule.clone(),
            severity: r.severity.clone(),
            flows: 0,
            bytes: 0,
        });
        entry.first_ms = entry.first_ms.min(r.first_ms);
        entry.flows += r.flows;
        entry.bytes += r.bytes;
    }
    merged.into_values().collect()
}
