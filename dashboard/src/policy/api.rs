//! The handlers of the policy, what-if, co-residency and inventory-event
//! endpoints, and their router.

use eastwest_core::clock;
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{middleware, Extension, Json, Router};
use eastwest_api::policy::{CoResidencyReport, CoResidencyView, PolicyView, RuleView, ZoneView};
use eastwest_clickhouse::schema::{datetime_of_ms, InventoryEventRow, INVENTORY_EVENTS_TABLE};
use eastwest_core::inventory::{parse_time, Inventory, InventoryEvent, CURRENT};
use eastwest_core::policy::{Action, Policy};
use serde::{Deserialize, Serialize};

use super::store::PolicyStore;
use super::whatif::{whatif, WhatIf, ZonePairChanges};
use super::PolicyConfig;
use crate::auth::{self, Admin, Auth, Viewer};
use crate::doc;
use crate::error::ApiError;
use crate::query::RawParams;

/// Longest window a what-if may cover.
const MAX_WHATIF_MS: u64 = 31 * 86_400_000;

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

/// The routes of [`router`] under `/api/v1`, as OpenAPI paths.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(get_policy, post_whatif, get_coresidency, post_events))]
pub struct Paths;

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

fn action_str(action: Action) -> String {
    match action {
        Action::Allow => "allow",
        Action::Deny => "deny",
    }
    .to_string()
}

/// An endpoint that takes no query parameters answers 400 to any (as
/// every other endpoint does to one it does not take).
fn no_parameters(raw: Result<Query<RawParams>, QueryRejection>) -> Result<(), ApiError> {
    let Query(raw) = raw?;
    raw.allow_only(&[])?;
    Ok(())
}

#[utoipa::path(
    get,
    path = "/policy",
    summary = "the policy in use: revision, zones, rules, separate pairs, validation messages (error = why the file on disk does not load; the rest is the last version that loaded)",
    responses(
        (status = 200, description = "OK", body = PolicyView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
    )
)]
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    /// The draft policy, TOML text in the policy file format.
    pub policy: String,
    /// Window `[from, to)` by flow start, RFC 3339.
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    /// Only this dataset (`live` or a replay's name); default every dataset.
    #[serde(default)]
    pub dataset: Option<String>,
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|err| ApiError::BadRequest(format!("body: {err}")))
}

#[utoipa::path(
    post,
    path = "/policy/whatif",
    summary = "judge the stored conversations of a window (at most 31 days) under a draft policy and compare with their stored verdicts; nothing stored changes (viewer)",
    request_body = WhatIfRequest,
    responses(
        (status = 200, description = "the diff per zone pair", body = WhatIf),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    )
)]
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
impl<P: PolicyStore> super::CoResidencySource for PolicyApi<P> {
    fn periods(
        &self,
        from_ms: Option<u64>,
        to_ms: Option<u64>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<CoResidencyView>, ApiError>> + Send + '_>>
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
            Ok(coresidency_periods(&policy, &inventory, from_ms, to_ms))
        })
    }
}

#[utoipa::path(
    get,
    path = "/coresidency",
    summary = "VMs of zones a separate pair keeps apart on one host: now, and every period in the placement history (inventory file + stored events)",
    responses(
        (status = 200, description = "OK", body = CoResidencyReport),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable),
    )
)]
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
enum EventsBody {
    Many(Vec<InventoryEvent>),
    One(InventoryEvent),
}

/// The answer of `POST /api/v1/inventory/events`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsStored {
    pub stored: usize,
}

#[utoipa::path(
    post,
    path = "/inventory/events",
    summary = "store placement events (admin): one event or a list, checked against the inventory and the events stored before; any refused = 400 naming it and nothing stored",
    request_body = EventsBody,
    responses(
        (status = 201, description = "stored", body = EventsStored),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "a viewer token (admin needed)"),
        (status = 503, response = doc::Unavailable),
    )
)]
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
