//! The policy, inventory and co-residency endpoints:
//!
//! * `GET /api/v1/policy` — the policy file in use: revision, zones, rules,
//!   `separate` pairs, warnings; when the file on disk no longer loads, the
//!   last good version and the `error` (file, line, field).
//! * `POST /api/v1/policy/whatif` — a draft policy judged against the stored
//!   conversations of a window (from `flows_1m` when the rollups exist, else
//!   from raw `flows`), per zone pair: new violations and violations that
//!   disappear. Stored verdicts are not touched.
//! * `GET /api/v1/coresidency` — VMs of zones that must never share a host
//!   that share one now, and every period they did, from the inventory
//!   file's placement history and the stored inventory events.
//! * `POST /api/v1/inventory/events` — placement changes (a vMotion, a new
//!   VM, a removal) checked against the inventory and stored in ClickHouse's
//!   `inventory_events`, which the collector polls.
//!
//! The dashboard reads the same inventory and policy files as the collector
//! (`[policy]` in its configuration). Storage goes through [`PolicyStore`],
//! implemented over ClickHouse by [`ClickHousePolicyStore`].

use eastwest_core::clock;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{middleware, Extension, Json, Router};
use clickhouse::Client;
use eastwest_clickhouse::schema::{
    addr_from_bytes, datetime_of_ms, quote_ident, InventoryEventRow, FLOWS_TABLE,
    INVENTORY_EVENTS_TABLE,
};
use eastwest_core::flow::{direction, Direction};
use eastwest_core::inventory::{parse_time, Inventory, InventoryEvent, CURRENT};
use eastwest_core::policy::{Action, Policy, VerdictKind};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Admin, Auth, Viewer};
use crate::error::ApiError;
use crate::query::RawParams;
use crate::store::StoreError;

/// The rollup table the what-if reads when it exists.
const ROLLUP_1M: &str = "flows_1m";

/// Longest window a what-if may cover.
const MAX_WHATIF_MS: u64 = 31 * 86_400_000;

/// `[policy]` of the dashboard's configuration: the files the collector
/// judges with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The inventory file (TOML, may import CSV files).
    pub inventory: Option<PathBuf>,
    /// The segmentation policy file.
    pub policy: Option<PathBuf>,
}

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

/// Which table answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Resolution {
    #[serde(rename = "1m")]
    Minute,
    #[serde(rename = "raw")]
    Raw,
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

#[derive(Debug, clickhouse::Row, Deserialize)]
struct RollupConversation {
    client_vm: String,
    client_addr: [u8; 16],
    server_vm: String,
    server_addr: [u8; 16],
    proto: u8,
    server_port: u16,
    observer: String,
    first: u32,
    verdict: String,
    rule: String,
    severity: String,
    flows: u64,
    bytes: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct RawConversation {
    src_vm: String,
    src_addr: [u8; 16],
    dst_vm: String,
    dst_addr: [u8; 16],
    proto: u8,
    src_port: u16,
    dst_port: u16,
    icmp: u16,
    observer: String,
    first_ms: u64,
    verdict: String,
    rule: String,
    severity: String,
    flows: u64,
    bytes: u64,
}

impl PolicyStore for ClickHousePolicyStore {
    async fn events(&self) -> Result<Vec<InventoryEvent>, StoreError> {
        let sql = format!(
            "SELECT ?fields FROM {} ORDER BY time_ms, received_ms",
            self.table(INVENTORY_EVENTS_TABLE)
        );
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
        let exists_sql = format!("EXISTS TABLE {}", self.table(ROLLUP_1M));
        let rollups = self.client.query(&exists_sql).fetch_one::<u8>().await? == 1;
        let dataset_filter = if dataset.is_some() {
            " AND dataset = ?"
        } else {
            ""
        };
        if rollups && from_ms.is_multiple_of(60_000) && to_ms.is_multiple_of(60_000) {
            let sql = format!(
                "SELECT client_vm, client_addr, server_vm, server_addr, proto, server_port, \
                 observer, toUInt32(min(bucket)) AS first, verdict, rule, severity, \
                 sum(flows) AS flows, sum(bytes_fwd + bytes_rev) AS bytes \
                 FROM {} WHERE bucket >= toDateTime(?) AND bucket < toDateTime(?){dataset_filter} \
                 GROUP BY client_vm, client_addr, server_vm, server_addr, proto, server_port, \
                 observer, verdict, rule, severity",
                self.table(ROLLUP_1M)
            );
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
        let sql = format!(
            "SELECT src_vm, src_addr, dst_vm, dst_addr, proto, src_port, dst_port, icmp, \
             observer, min(start_ms) AS first_ms, verdict, rule, severity, \
             count() AS flows, sum(bytes) AS bytes \
             FROM {} WHERE start_ms >= ? AND start_ms < ?{dataset_filter} \
             GROUP BY src_vm, src_addr, dst_vm, dst_addr, proto, src_port, dst_port, icmp, \
             observer, verdict, rule, severity",
            self.table(FLOWS_TABLE)
        );
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
fn orient(rows: Vec<RawConversation>) -> Vec<StoredConversation> {
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

/// A verdict as stored or as a draft would give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judgement {
    pub verdict: String,
    pub rule: String,
    pub severity: String,
}

/// One conversation whose judgement the draft changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub client_vm: String,
    pub client_addr: String,
    pub server_vm: String,
    pub server_addr: String,
    pub proto: u8,
    pub server_port: u16,
    pub before: Judgement,
    pub after: Judgement,
    /// Flows and bytes at the observation point that counted the most (each
    /// conversation once, however many mirrors saw it).
    pub flows: u64,
    pub bytes: u64,
}

/// The changes of one zone pair (zones as the draft assigns them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZonePairChanges {
    pub client_zone: String,
    pub server_zone: String,
    /// Conversations allowed or unknown now that the draft calls violations.
    pub new_violations: Vec<Change>,
    /// Violations now that the draft allows (or cannot judge).
    pub resolved_violations: Vec<Change>,
    /// Same kind of verdict, another rule or severity.
    pub other_changes: Vec<Change>,
}

/// The answer of `POST /api/v1/policy/whatif`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhatIf {
    pub from_ms: u64,
    pub to_ms: u64,
    pub resolution: Resolution,
    pub draft_revision: String,
    /// Warnings of the draft (`draft:LINE: field: message`).
    pub draft_warnings: Vec<String>,
    /// Conversations judged.
    pub conversations: u64,
    pub new_violations: u64,
    pub resolved_violations: u64,
    pub other_changes: u64,
    pub zone_pairs: Vec<ZonePairChanges>,
}

/// Judge `stored` under `draft`: each endpoint's zone from the VM's
/// placement when the conversation started (or its address), the verdict
/// for client → server, compared with the stored one.
pub fn whatif(
    draft: &Policy,
    inventory: Option<&Inventory>,
    stored: &[StoredConversation],
) -> (u64, BTreeMap<(String, String), ZonePairChanges>) {
    // Each conversation once: the observation point that counted most bytes.
    let mut best: BTreeMap<(&str, IpAddr, &str, IpAddr, u8, u16), &StoredConversation> =
        BTreeMap::new();
    for c in stored {
        let key = (
            c.client_vm.as_str(),
            c.client_addr,
            c.server_vm.as_str(),
            c.server_addr,
            c.proto,
            c.server_port,
        );
        let slot = best.entry(key).or_insert(c);
        if (c.bytes, c.flows) > (slot.bytes, slot.flows) {
            *slot = c;
        }
    }
    let mut pairs: BTreeMap<(String, String), ZonePairChanges> = BTreeMap::new();
    for c in best.values() {
        let vm = |name: &str| {
            inventory
                .filter(|_| !name.is_empty())
                .and_then(|inv| inv.vm_at(name, c.first_ms))
        };
        let client_zone = draft.zone_of(vm(&c.client_vm), c.client_addr);
        let server_zone = draft.zone_of(vm(&c.server_vm), c.server_addr);
        let after = draft.judge(client_zone, server_zone, c.proto, c.server_port);
        let before = Judgement {
            verdict: c.verdict.clone(),
            rule: c.rule.clone(),
            severity: c.severity.clone(),
        };
        let after = Judgement {
            verdict: after.kind.as_str().to_string(),
            rule: after.rule.to_string(),
            severity: after.severity.to_string(),
        };
        if before == after {
            continue;
        }
        let violation = VerdictKind::Violation.as_str();
        let change = Change {
            client_vm: c.client_vm.clone(),
            client_addr: c.client_addr.to_string(),
            server_vm: c.server_vm.clone(),
            server_addr: c.server_addr.to_string(),
            proto: c.proto,
            server_port: c.server_port,
            flows: c.flows,
            bytes: c.bytes,
            before,
            after,
        };
        let pair = pairs
            .entry((client_zone.to_string(), server_zone.to_string()))
            .or_insert_with(|| ZonePairChanges {
                client_zone: client_zone.to_string(),
                server_zone: server_zone.to_string(),
                new_violations: Vec::new(),
                resolved_violations: Vec::new(),
                other_changes: Vec::new(),
            });
        match (
            change.before.verdict == violation,
            change.after.verdict == violation,
        ) {
            (false, true) => pair.new_violations.push(change),
            (true, false) => pair.resolved_violations.push(change),
            _ => pair.other_changes.push(change),
        }
    }
    (best.len() as u64, pairs)
}

/// What the handlers share.
#[derive(Debug)]
pub struct PolicyApi<P> {
    pub config: PolicyConfig,
    pub store: P,
    /// The last policy that loaded, kept while the file does not.
    last_good: Mutex<Option<Policy>>,
}

impl<P: PolicyStore> PolicyApi<P> {
    pub fn new(config: PolicyConfig, store: P) -> PolicyApi<P> {
        PolicyApi {
            config,
            store,
            last_good: Mutex::new(None),
        }
    }

    /// The policy file now, or the last good version and why the file
    /// does not load.
    fn policy(&self) -> Result<(Option<Policy>, Option<String>), ApiError> {
        let Some(path) = &self.config.policy else {
            return Err(ApiError::BadRequest(
                "no policy file configured (dashboard config [policy] policy)".into(),
            ));
        };
        let mut last_good = match self.last_good.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match Policy::load(path) {
            Ok(policy) => {
                *last_good = Some(policy.clone());
                Ok((Some(policy), None))
            }
            Err(err) => {
                tracing::warn!(%err, "policy file does not load; showing the last good version");
                Ok((last_good.clone(), Some(err.to_string())))
            }
        }
    }

    /// The inventory file with the stored events applied.
    async fn inventory(&self) -> Result<Option<Inventory>, ApiError> {
        let Some(path) = &self.config.inventory else {
            return Ok(None);
        };
        let base = Inventory::load(path)
            .map_err(|err| ApiError::Internal(format!("inventory file does not load: {err}")))?;
        let events = self.store.events().await?;
        Ok(Some(base.with_events(&events, INVENTORY_EVENTS_TABLE).0))
    }
}

/// The routes of this module, behind the same authentication as the rest
/// of the API (`crate::auth`): every endpoint needs a `viewer` token (the
/// what-if only evaluates), posting inventory events an `admin` one.
pub fn router<P: PolicyStore>(api: Arc<PolicyApi<P>>, auth: Arc<Auth>) -> Router {
    Router::new()
        .route("/api/v1/policy", get(get_policy::<P>))
        .route("/api/v1/policy/whatif", post(post_whatif::<P>))
        .route("/api/v1/coresidency", get(get_coresidency::<P>))
        .route("/api/v1/inventory/events", post(post_events::<P>))
        .with_state(api)
        .layer(middleware::from_fn(auth::require_viewer))
        .layer(Extension(auth))
}

/// A zone as `GET /api/v1/policy` shows it.
#[derive(Debug, Serialize)]
pub struct ZoneView {
    pub name: String,
    pub line: usize,
    pub vm_names: Vec<String>,
    pub tags: Vec<String>,
    pub port_groups: Vec<String>,
    pub vlans: Vec<u16>,
    pub vnis: Vec<u32>,
    pub cidrs: Vec<String>,
}

/// A rule as `GET /api/v1/policy` shows it.
#[derive(Debug, Serialize)]
pub struct RuleView {
    pub description: String,
    pub line: usize,
    pub from: Vec<String>,
    pub to: Vec<String>,
    /// IP protocol numbers; null = any.
    pub protos: Option<Vec<u8>>,
    /// `"22"` or `"8000-8999"`; null = any port.
    pub ports: Option<Vec<String>>,
    pub action: &'static str,
    pub severity: String,
}

/// The answer of `GET /api/v1/policy`.
#[derive(Debug, Serialize)]
pub struct PolicyView {
    pub path: String,
    /// Why the file on disk does not load (the rest is the last good
    /// version, null if none loaded since the dashboard started).
    pub error: Option<String>,
    pub revision: Option<String>,
    pub warnings: Vec<String>,
    /// Findings against the inventory (zones no VM is in).
    pub inventory_warnings: Vec<String>,
    pub default_cross_zone: Option<&'static str>,
    pub default_severity: Option<String>,
    pub zones: Vec<ZoneView>,
    pub rules: Vec<RuleView>,
    pub separate: Vec<[String; 2]>,
}

fn action_str(action: Action) -> &'static str {
    match action {
        Action::Allow => "allow",
        Action::Deny => "deny",
    }
}

/// An endpoint that takes no query parameters answers 400 to any (as
/// every other endpoint does to one it does not take).
fn no_parameters(raw: Result<Query<RawParams>, QueryRejection>) -> Result<(), ApiError> {
    let Query(raw) = raw?;
    raw.allow_only(&[])?;
    Ok(())
}

async fn get_policy<P: PolicyStore>(
    _: Viewer,
    State(api): State<Arc<PolicyApi<P>>>,
    raw: Result<Query<RawParams>, QueryRejection>,
) -> Result<Json<PolicyView>, ApiError> {
    no_parameters(raw)?;
    let (policy, error) = api.policy()?;
    let path = api
        .config
        .policy
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut view = PolicyView {
        path,
        error,
        revision: None,
        warnings: Vec::new(),
        inventory_warnings: Vec::new(),
        default_cross_zone: None,
        default_severity: None,
        zones: Vec::new(),
        rules: Vec::new(),
        separate: Vec::new(),
    };
    let Some(policy) = policy else {
        return Ok(Json(view));
    };
    if let Some(inventory) = api.inventory().await? {
        view.inventory_warnings = policy
            .check_inventory(&inventory)
            .iter()
            .map(ToString::to_string)
            .collect();
    }
    let (action, severity) = policy.default_cross_zone();
    view.revision = Some(policy.revision().to_string());
    view.warnings = policy.warnings().iter().map(ToString::to_string).collect();
    view.default_cross_zone = Some(action_str(action));
    view.default_severity = Some(severity.to_string());
    view.zones = policy
        .zones()
        .iter()
        .map(|z| ZoneView {
            name: z.name.clone(),
            line: z.line,
            vm_names: z.vm_names.clone(),
            tags: z.tags.clone(),
            port_groups: z.port_groups.clone(),
            vlans: z.vlans.clone(),
            vnis: z.vnis.clone(),
            cidrs: z.cidrs.iter().map(ToString::to_string).collect(),
        })
        .collect();
    view.rules = policy
        .rules()
        .iter()
        .map(|r| RuleView {
            description: r.description.clone(),
            line: r.line,
            from: r.from.clone(),
            to: r.to.clone(),
            protos: r.protos.clone(),
            ports: r.ports.as_ref().map(|ports| {
                ports
                    .iter()
                    .map(|p| {
                        if p.first == p.last {
                            p.first.to_string()
                        } else {
                            format!("{}-{}", p.first, p.last)
                        }
                    })
                    .collect()
            }),
            action: action_str(r.action),
            severity: r.severity.clone(),
        })
        .collect();
    view.separate = policy
        .separate()
        .iter()
        .map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    Ok(Json(view))
}

/// The body of `POST /api/v1/policy/whatif`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    /// The draft policy, TOML text in the policy file format.
    pub policy: String,
    /// Window `[from, to)` by flow start, RFC 3339.
    pub from: String,
    pub to: String,
    /// Only this dataset (`live` or a replay's name); default every dataset.
    #[serde(default)]
    pub dataset: Option<String>,
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|err| ApiError::BadRequest(format!("body: {err}")))
}

async fn post_whatif<P: PolicyStore>(
    _: Viewer,
    State(api): State<Arc<PolicyApi<P>>>,
    body: Bytes,
) -> Result<Json<WhatIf>, ApiError> {
    let request: WhatIfRequest = parse_body(&body)?;
    let time = |field: &str, text: &str| {
        parse_time(text).map_err(|msg| ApiError::BadRequest(format!("{field}: {msg}")))
    };
    let (from_ms, to_ms) = (time("from", &request.from)?, time("to", &request.to)?);
    if from_ms >= to_ms {
        return Err(ApiError::BadRequest("from: must be before to".into()));
    }
    if to_ms - from_ms > MAX_WHATIF_MS {
        return Err(ApiError::BadRequest(
            "to: the window may span at most 31 days".into(),
        ));
    }
    let draft = Policy::parse(&request.policy, "draft")
        .map_err(|err| ApiError::BadRequest(format!("policy: {err}")))?;
    let inventory = api.inventory().await?;
    let (resolution, stored) = api
        .store
        .conversations(from_ms, to_ms, request.dataset)
        .await?;
    let (conversations, pairs) = whatif(&draft, inventory.as_ref(), &stored);
    let zone_pairs: Vec<ZonePairChanges> = pairs.into_values().collect();
    let count =
        |get: fn(&ZonePairChanges) -> usize| zone_pairs.iter().map(get).sum::<usize>() as u64;
    Ok(Json(WhatIf {
        from_ms,
        to_ms,
        resolution,
        draft_revision: draft.revision().to_string(),
        draft_warnings: draft.warnings().iter().map(ToString::to_string).collect(),
        conversations,
        new_violations: count(|p| p.new_violations.len()),
        resolved_violations: count(|p| p.resolved_violations.len()),
        other_changes: count(|p| p.other_changes.len()),
        zone_pairs,
    }))
}

/// Two VMs of separated zones on one host, and since / until when.
#[derive(Debug, Serialize)]
pub struct CoResidencyView {
    pub host: String,
    pub zones: [String; 2],
    pub vms: [String; 2],
    /// Epoch ms; 0 = since the inventory's beginning.
    pub since_ms: u64,
    /// Epoch ms (exclusive); null while they still share the host.
    pub until_ms: Option<u64>,
}

/// The answer of `GET /api/v1/coresidency`.
#[derive(Debug, Serialize)]
pub struct CoResidencyReport {
    pub now_ms: u64,
    pub policy_revision: Option<String>,
    /// The `separate` pairs checked.
    pub separate: Vec<[String; 2]>,
    /// Sharing a host now.
    pub current: Vec<CoResidencyView>,
    /// Every period, past and current, host by host.
    pub history: Vec<CoResidencyView>,
}

/// The co-residency periods of `inventory` under `policy` that share time
/// with the window `[from_ms, to_ms)` (None: open on that side), host by
/// host, oldest first: `GET /api/v1/coresidency`'s `history`, and what a
/// compliance report over that window lists.
pub fn coresidency_periods(
    policy: &Policy,
    inventory: &Inventory,
    from_ms: Option<u64>,
    to_ms: Option<u64>,
) -> Vec<CoResidencyView> {
    policy
        .separation_periods(inventory)
        .into_iter()
        .filter(|p| p.overlaps(from_ms, to_ms))
        .map(|p| CoResidencyView {
            host: p.pair.host,
            zones: [p.pair.zones.0, p.pair.zones.1],
            vms: [p.pair.vms.0, p.pair.vms.1],
            since_ms: p.since_ms,
            until_ms: (p.until_ms != CURRENT).then_some(p.until_ms),
        })
        .collect()
}

/// The report's co-residency section: [`coresidency_periods`] of the
/// policy and inventory (with the stored events) over the report's window.
impl<P: PolicyStore> crate::api::CoResidencySource for PolicyApi<P> {
    fn periods(
        &self,
        from_ms: Option<u64>,
        to_ms: Option<u64>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<serde_json::Value>, ApiError>> + Send + '_>>
    {
        Box::pin(async move {
            let (policy, _) = self.policy()?;
            let policy = policy.ok_or_else(|| {
                ApiError::Internal("the policy file does not load (see GET /api/v1/policy)".into())
            })?;
            let inventory = self
                .inventory()
                .await?
                .ok_or_else(|| ApiError::BadRequest("no inventory file configured".into()))?;
            coresidency_periods(&policy, &inventory, from_ms, to_ms)
                .iter()
                .map(|p| serde_json::to_value(p).map_err(|e| ApiError::Internal(e.to_string())))
                .collect()
        })
    }
}

async fn get_coresidency<P: PolicyStore>(
    _: Viewer,
    State(api): State<Arc<PolicyApi<P>>>,
    raw: Result<Query<RawParams>, QueryRejection>,
) -> Result<Json<CoResidencyReport>, ApiError> {
    no_parameters(raw)?;
    let (policy, _) = api.policy()?;
    let Some(policy) = policy else {
        return Err(ApiError::Internal(
            "the policy file does not load (see GET /api/v1/policy)".into(),
        ));
    };
    let inventory = api.inventory().await?.ok_or_else(|| {
        ApiError::BadRequest(
            "no inventory file configured (dashboard config [policy] inventory)".into(),
        )
    })?;
    let history = coresidency_periods(&policy, &inventory, None, None);
    let current = history
        .iter()
        .filter(|p| p.until_ms.is_none())
        .map(|p| CoResidencyView {
            host: p.host.clone(),
            zones: p.zones.clone(),
            vms: p.vms.clone(),
            since_ms: p.since_ms,
            until_ms: None,
        })
        .collect();
    Ok(Json(CoResidencyReport {
        now_ms: clock::now_ms(),
        policy_revision: Some(policy.revision().to_string()),
        separate: policy
            .separate()
            .iter()
            .map(|(a, b)| [a.clone(), b.clone()])
            .collect(),
        current,
        history,
    }))
}

/// One event or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum EventsBody {
    Many(Vec<InventoryEvent>),
    One(InventoryEvent),
}

/// The answer of `POST /api/v1/inventory/events`.
#[derive(Debug, Serialize)]
pub struct EventsStored {
    pub stored: usize,
}

async fn post_events<P: PolicyStore>(
    Admin(who): Admin,
    State(api): State<Arc<PolicyApi<P>>>,
    body: Bytes,
) -> Result<(StatusCode, Json<EventsStored>), ApiError> {
    let events = match parse_body::<EventsBody>(&body) {
        Ok(EventsBody::Many(events)) => events,
        Ok(EventsBody::One(event)) => vec![event],
        Err(_) => {
            // Say what is wrong with the event itself, not the untagged enum.
            let event: Result<InventoryEvent, _> = parse_body(&body);
            return Err(event.err().unwrap_or_else(|| {
                ApiError::BadRequest("body: an event or a list of events".into())
            }));
        }
    };
    if events.is_empty() {
        return Err(ApiError::BadRequest("body: no events".into()));
    }
    let inventory = api.inventory().await?.ok_or_else(|| {
        ApiError::BadRequest(
            "no inventory file configured (dashboard config [policy] inventory)".into(),
        )
    })?;
    let (_, refused) = inventory.with_events(&events, "body");
    if !refused.is_empty() {
        let why: Vec<String> = refused.iter().map(ToString::to_string).collect();
        return Err(ApiError::BadRequest(why.join("; ")));
    }
    let received_ms = clock::now_ms();
    let mut rows = Vec::with_capacity(events.len());
    for event in &events {
        let time_ms = event
            .time_ms()
            .map_err(|msg| ApiError::BadRequest(format!("time: {msg}")))?;
        let json = serde_json::to_string(event)
            .map_err(|err| ApiError::Internal(format!("event to JSON: {err}")))?;
        rows.push(InventoryEventRow {
            received: datetime_of_ms(received_ms),
            received_ms,
            time_ms,
            vm: event.vm.clone(),
            event: json,
        });
    }
    let stored = rows.len();
    api.store.insert_events(rows).await?;
    tracing::info!(events = stored, token = %who.name, "inventory events stored");
    Ok((StatusCode::CREATED, Json(EventsStored { stored })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(file: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../lab")
            .join(file)
    }

    fn stored(
        client: (&str, &str),
        server: (&str, &str),
        proto: u8,
        port: u16,
        before: (&str, &str, &str),
        observer: &str,
        bytes: u64,
    ) -> StoredConversation {
        StoredConversation {
            client_vm: client.0.into(),
            client_addr: client.1.parse().expect("address"),
            server_vm: server.0.into(),
            server_addr: server.1.parse().expect("address"),
            proto,
            server_port: port,
            observer: observer.into(),
            first_ms: 1_793_610_000_000,
            verdict: before.0.into(),
            rule: before.1.into(),
            severity: before.2.into(),
            flows: 1,
            bytes,
        }
    }

    const DMZ_DB: &str = "the DMZ must never reach the database tier";
    const WEB_APP: &str = "DMZ web servers call the app tier on 8443";

    #[test]
    fn draft_diff_per_zone_pair() {
        let inventory = Inventory::load(&lab("inventory.toml")).expect("lab inventory");
        let text = std::fs::read_to_string(lab("policy.toml")).expect("lab policy");
        // The draft lets the DMZ reach PostgreSQL (before the deny), and no
        // longer lets it call the app tier on 8443.
        let draft_text = text
            .replacen(
                "[[rule]]\ndescription = \"the DMZ must never reach",
                "[[rule]]\ndescription = \"DMZ reaches PostgreSQL\"\nfrom = [\"dmz\"]\n\
                 to = [\"db\"]\nproto = \"tcp\"\nports = [\"5432\"]\naction = \"allow\"\n\n\
                 [[rule]]\ndescription = \"the DMZ must never reach",
                1,
            )
            .replace(
                "ports = [\"8443\"]\naction = \"allow\"",
                "ports = [\"9443\"]\naction = \"allow\"",
            );
        let draft = Policy::parse(&draft_text, "draft").expect("draft parses");
        let web = ("web-01", "10.10.1.11");
        let rows = vec![
            // Seen at two observation points: one conversation.
            stored(
                web,
                ("db-02", "10.10.3.12"),
                6,
                5432,
                ("violation", DMZ_DB, "critical"),
                "esx-01",
                700,
            ),
            stored(
                web,
                ("db-02", "10.10.3.12"),
                6,
                5432,
                ("violation", DMZ_DB, "critical"),
                "esx-04",
                900,
            ),
            stored(
                web,
                ("app-01", "10.10.2.11"),
                6,
                8443,
                ("allowed", WEB_APP, ""),
                "esx-01",
                100,
            ),
            // ICMPv6 DMZ → db stays a violation of the same rule.
            stored(
                ("web-01", "fd00:10:1::11"),
                ("db-01", "fd00:10:3::11"),
                58,
                0,
                ("violation", DMZ_DB, "critical"),
                "esx-01",
                64,
            ),
            // An address outside the inventory is zoned by CIDR (internet).
            stored(
                ("", "203.0.113.9"),
                ("web-01", "10.10.1.11"),
                6,
                443,
                ("violation", "default cross-zone", "medium"),
                "esx-01",
                10,
            ),
        ];
        let (count, pairs) = whatif(&draft, Some(&inventory), &rows);
        assert_eq!(count, 4);
        let keys: Vec<&(String, String)> = pairs.keys().collect();
        assert_eq!(
            keys,
            [
                &("dmz".to_string(), "app".to_string()),
                &("dmz".to_string(), "db".to_string())
            ]
        );
        let db = &pairs[&("dmz".to_string(), "db".to_string())];
        assert_eq!(db.resolved_violations.len(), 1);
        let resolved = &db.resolved_violations[0];
        assert_eq!(
            (resolved.server_vm.as_str(), resolved.bytes),
            ("db-02", 900)
        );
        assert_eq!(resolved.after.rule, "DMZ reaches PostgreSQL");
        assert!(db.new_violations.is_empty() && db.other_changes.is_empty());
        let app = &pairs[&("dmz".to_string(), "app".to_string())];
        assert_eq!(app.new_violations.len(), 1);
        assert_eq!(
            app.new_violations[0].after,
            Judgement {
                verdict: "violation".into(),
                rule: "default cross-zone".into(),
                severity: "medium".into()
            }
        );
        // The lab policy itself changes nothing.
        let same = Policy::parse(&text, "same").expect("lab policy");
        assert!(whatif(&same, Some(&inventory), &rows).1.is_empty());
    }

    #[test]
    fn zones_come_from_the_placement_then() {
        // web-01 was a db VM (tags) until 09:00; a conversation from then is
        // re-zoned as db → app, not dmz → app.
        let text = std::fs::read_to_string(lab("inventory.toml")).expect("lab inventory");
        let history = text.replacen(
            "name = \"web-01\"\nhost = \"esx-01\"",
            "name = \"web-01\"\nhost = \"esx-01\"\ntags = [\"db\"]\n\n[[vm]]\nname = \"web-01\"\n\
             since = \"2026-11-02T09:00:00Z\"\nhost = \"esx-01\"",
            1,
        );
        let inventory = Inventory::parse(&history, "history.toml").expect("valid");
        let draft = Policy::load(&lab("policy.toml")).expect("lab policy");
        let mut row = stored(
            ("web-01", "10.10.1.11"),
            ("app-01", "10.10.2.11"),
            6,
            8443,
            ("allowed", "x", ""),
            "esx-01",
            1,
        );
        row.first_ms = parse_time("2026-11-02T08:59:59Z").expect("time");
        let (_, pairs) = whatif(&draft, Some(&inventory), &[row.clone()]);
        assert!(
            pairs.contains_key(&("db".to_string(), "app".to_string())),
            "{pairs:?}"
        );
        row.first_ms = parse_time("2026-11-02T09:00:00Z").expect("time");
        let (_, pairs) = whatif(&draft, Some(&inventory), &[row]);
        assert!(
            pairs.contains_key(&("dmz".to_string(), "app".to_string())),
            "{pairs:?}"
        );
    }

    #[test]
    fn raw_rows_are_oriented() {
        let addr = |t: &str| {
            let ip: IpAddr = t.parse().expect("address");
            eastwest_clickhouse::schema::addr_to_bytes(ip)
        };
        let raw = |src: &str, dst: &str, sp: u16, dp: u16, bytes: u64| RawConversation {
            src_vm: src.into(),
            src_addr: addr(if src == "web-01" {
                "10.10.1.11"
            } else {
                "10.10.2.11"
            }),
            dst_vm: dst.into(),
            dst_addr: addr(if dst == "web-01" {
                "10.10.1.11"
            } else {
                "10.10.2.11"
            }),
            proto: 6,
            src_port: sp,
            dst_port: dp,
            icmp: 0,
            observer: "esx-01".into(),
            first_ms: 5,
            verdict: "allowed".into(),
            rule: WEB_APP.into(),
            severity: String::new(),
            flows: 1,
            bytes,
        };
        let out = orient(vec![
            raw("web-01", "app-01", 41001, 8443, 100),
            raw("app-01", "web-01", 8443, 41001, 2000),
            raw("web-01", "app-01", 41002, 8443, 50),
        ]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            (
                out[0].client_vm.as_str(),
                out[0].server_port,
                out[0].flows,
                out[0].bytes
            ),
            ("web-01", 8443, 3, 2150)
        );
    }
}
