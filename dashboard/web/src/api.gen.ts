// Generated from the dashboard's types (eastwest-api, dashboard/src/api.rs) by
// `EASTWEST_WRITE_TS=1 cargo test -p eastwest-dashboard --lib typescript`; do not edit.

/** One conversation whose judgement the draft changes. */
export interface Change {
  after: Judgement;
  before: Judgement;
  bytes: number;
  client_addr: string;
  client_vm: string;
  /** Flows and bytes at the observation point that counted the most (each conversation once, however many mirrors saw it). */
  flows: number;
  proto: number;
  server_addr: string;
  server_port: number;
  server_vm: string;
}

/** The answer of `GET /api/v1/coresidency`. */
export interface CoResidencyReport {
  /** Sharing a host now. */
  current: CoResidencyView[];
  /** Every period, past and current, host by host. */
  history: CoResidencyView[];
  now_ms: number;
  policy_revision: string | null;
  /** The `separate` pairs checked. */
  separate: string[][];
}

/** Two VMs of separated zones on one host, and since / until when. */
export interface CoResidencyView {
  host: string;
  /** Epoch ms; 0 = since the inventory's beginning. */
  since_ms: number;
  /** Epoch ms (exclusive); null while they still share the host. */
  until_ms: number | null;
  vms: string[];
  zones: string[];
}

/** One conversation: both directions of an exchange between a client (initiator) and a server (responder), counted once. The one-direction rows of dashboards before the bidirectional API (`src_*`/`dst_*`, `dst_port`) decode too, through aliases. */
export interface Conversation {
  bytes: number;
  bytes_fwd: number;
  bytes_rev: number;
  /** Only when the client VM is unknown. */
  client_addr: string | null;
  client_host: string;
  client_vm: string;
  client_zone: string;
  end_ms: number;
  flows: number;
  observers: string[];
  /** Both directions. */
  packets: number;
  /** Client → server. */
  packets_fwd: number;
  /** Server → client. */
  packets_rev: number;
  proto: number;
  rule: string;
  same_host: boolean;
  /** Only when the server VM is unknown. */
  server_addr: string | null;
  server_host: string;
  server_port: number;
  server_vm: string;
  server_zone: string;
  /** the deciding rule's severity; "" when none */
  severity: "" | "info" | "low" | "medium" | "high" | "critical";
  start_ms: number;
  /** the policy's verdict */
  verdict: "allowed" | "violation" | "unknown";
}

/** Body of `GET /api/v1/conversations` (JSON). */
export interface Conversations {
  conversations: Conversation[];
  /** Start of the window, epoch ms; `null` for all time. */
  from_ms: number | null;
  limit: number;
  offset: number;
  /** The table that answered: `1h`, `1m` or `raw`. */
  resolution: string;
  sort: string;
  /** End of the window (exclusive), epoch ms; `null` for all time. */
  to_ms: number | null;
  /** Over every matching conversation, not only this page. */
  totals: Totals;
}

/** Mirror coverage of one host. */
export interface Coverage {
  /** Observed, reported by an exporter snapshot, with no sequence gaps and no drops. */
  complete: boolean;
  drops: number;
  /** `address/source id` of the exporters that announced this host. */
  exporters: string[];
  first_ms: number | null;
  /** Flows observed at this host (0: VMs ran here but nothing mirrored it). */
  flows: number;
  host: string;
  last_ms: number | null;
  sequence_gaps: number;
}

/** A dataset: the live data, or a replayed capture (`exporter --dataset`). */
export interface Dataset {
  /** Bytes on disk: its flows, rollups and summary. */
  bytes: number;
  /** First packet of its first flow, epoch milliseconds. */
  first_ms: number;
  /** Flow records stored. */
  flows: number;
  /** Last packet of its last flow, epoch milliseconds. */
  last_ms: number;
  /** The live data (kept `retention.flows_days` by the flows' own time); otherwise a replay, kept until deleted (or the collector's `retention.datasets_days` after it was stored). */
  live: boolean;
  name: string;
  /** When the collector stored its first and its last flow. */
  stored_first_ms: number;
  stored_last_ms: number;
}

/** Body of `DELETE /api/v1/datasets/{name}`. */
export interface DatasetDeleted {
  name: string;
  /** Partitions dropped (one per table and day). */
  partitions: number;
}

/** Body of `GET /api/v1/datasets`. */
export interface Datasets {
  datasets: Dataset[];
}

/** The JSON body of an error answer (any status but 2xx): the message, safe to show (it never carries internal details). */
export interface Error {
  error: string;
}

/** One event or a list of them. */
export type EventsBody = InventoryEvent[] | InventoryEvent;

/** The answer of `POST /api/v1/inventory/events`. */
export interface EventsStored {
  stored: number;
}

/** Where the exporter list came from. */
export type ExporterSource = "exporters" | "flows";

/** One exporter (address, source id): mirror coverage. */
export interface ExporterStatus {
  drops: number;
  /** Base URL of its packet store's evidence server (its options record), "" when it serves none: where `/api/v1/packets` fetches frames. */
  evidence_url: string;
  exporter: string;
  flows: number;
  last_seen_ms: number;
  /** The host name it announces (observationDomainName). */
  name: string;
  packets: number;
  sequence_gaps: number;
  source_id: number;
  /** Nothing heard for `api.stale_after_seconds`. */
  stale: boolean;
  templates: number;
}

/** Body of `GET /api/v1/exporters`. */
export interface Exporters {
  exporters: ExporterStatus[];
  now_ms: number;
  /** `exporters` (the collector's snapshots) or `flows` (none written yet: only flows and last seen are known, the other counters are 0). */
  source: ExporterSource;
  stale_after_s: number;
}

/** One raw flow record (evidence). */
export interface Flow {
  bytes: number;
  dataset: string;
  dst_addr: string;
  dst_port: number;
  dst_vm: string;
  /** how the metered frame reached the exporter */
  encap: "" | "span" | "erspan1" | "erspan2" | "erspan3" | "vxlan" | "geneve" | "nvgre" | "gre";
  end_ms: number;
  exporter: string;
  observer: string;
  packets: number;
  policy_revision: string;
  proto: number;
  /** The reply direction of its conversation. */
  reply: boolean;
  rule: string;
  /** the deciding rule's severity; "" when none */
  severity: "" | "info" | "low" | "medium" | "high" | "critical";
  source_id: number;
  src_addr: string;
  src_port: number;
  src_vm: string;
  start_ms: number;
  tcp_flags: number;
  /** the policy's verdict */
  verdict: "allowed" | "violation" | "unknown";
}

/** Body of `GET /api/v1/flows`. */
export interface Flows {
  flows: Flow[];
  from_ms: number | null;
  limit: number;
  offset: number;
  to_ms: number | null;
  total: number;
}

/** Body of `GET /api/v1/health`. */
export interface Health {
  status: string;
}

/** Body of `GET /api/v1/hosts/{name}`: its locally switched conversations. */
export interface Host {
  conversations: Conversation[];
  from_ms: number | null;
  host: string;
  resolution: string;
  to_ms: number | null;
  totals: Totals;
  vms: string[];
}

/** One host's traffic. */
export interface HostSummary {
  bytes: number;
  conversations: number;
  host: string;
  last_ms: number;
  local_bytes: number;
  /** Switched inside the host (both VMs on it), never on the wire. */
  local_conversations: number;
  /** Local conversations between two zones. */
  local_cross_zone: number;
  violations: number;
  /** VMs seen running on it. */
  vms: number;
}

/** Body of `GET /api/v1/hosts`. */
export interface Hosts {
  from_ms: number | null;
  hosts: HostSummary[];
  resolution: string;
  to_ms: number | null;
}

/** A conversation switched inside one host between two zones. */
export interface IntraHost {
  bytes: number;
  client_vm: string;
  client_zone: string;
  flows: number;
  host: string;
  server_vm: string;
  server_zone: string;
  verdict: string;
}

/** A change to the inventory posted to the dashboard (`POST /api/v1/inventory/events`), stored in ClickHouse and applied by the collector. It is a placement like a `[[vm]]` entry: `time` is its `since`; fields left out keep the values of the placement before it; with `removed` the VM is gone from `time` on. */
export interface InventoryEvent {
  host: string | null;
  ips: string[] | null;
  macs: string[] | null;
  port_group: string | null;
  /** The VM was deleted (or left the monitored estate) at `time`. */
  removed: boolean;
  tags: string[] | null;
  /** When the change took effect, RFC 3339 (`2026-11-02T09:01:00Z`). */
  time: string;
  vlan: number | null;
  /** The VM's name. */
  vm: string;
  vni: number | null;
}

/** A verdict as stored or as a draft would give it. */
export interface Judgement {
  rule: string;
  severity: string;
  verdict: string;
}

/** Body of `GET /api/v1/zones/matrix`. */
export interface Matrix {
  cells: MatrixCell[];
  from_ms: number | null;
  resolution: string;
  to_ms: number | null;
  /** Every zone that appears in a cell, sorted. */
  zones: string[];
}

/** One cell of the zone matrix: traffic from `client_zone` to `server_zone`. */
export interface MatrixCell {
  bytes: number;
  client_zone: string;
  conversations: number;
  flows: number;
  packets: number;
  server_zone: string;
  violation_bytes: number;
  /** Violating conversations in the cell. */
  violations: number;
}

/** Where a violation was seen, and how much there. */
export interface ObservationPoint {
  bytes: number;
  /** how the metered frame reached the exporter */
  encap: "" | "span" | "erspan1" | "erspan2" | "erspan3" | "vxlan" | "geneve" | "nvgre" | "gre";
  flows: number;
  observer: string;
}

/** Where a VM ran, as its flows show. */
export interface Placement {
  first_ms: number;
  host: string;
  last_ms: number;
  zones: string[];
}

/** One bucket of a time series. */
export interface Point {
  bytes: number;
  flows: number;
  packets: number;
  t_ms: number;
  violation_bytes: number;
  /** Violating flows. */
  violations: number;
}

/** The answer of `GET /api/v1/policy`: the policy in use. */
export interface PolicyView {
  /** `allow` or `deny`: what the policy does between zones no rule names. */
  default_cross_zone: string | null;
  default_severity: string | null;
  /** Why the file on disk does not load (the rest is the last good version, null if none loaded since the dashboard started). */
  error: string | null;
  /** Findings against the inventory (zones no VM is in). */
  inventory_warnings: string[];
  /** The policy file. */
  path: string;
  /** The revision in force; null when none loaded. */
  revision: string | null;
  rules: RuleView[];
  /** The zone pairs that must never share a host. */
  separate: string[][];
  warnings: string[];
  zones: ZoneView[];
}

/** The answer of `GET /api/v1/report` (JSON): the whole compliance report. */
export interface Report {
  /** Co-residency periods of the window; `null` when the dashboard has no policy and inventory files, or they do not load. */
  coresidency: CoResidencyView[] | null;
  coverage: Coverage[];
  /** The dataset it covers; `null`: every dataset. */
  dataset: string | null;
  /** The first and last packet of the flows the report covers (what an all-time report spans); `null` when it covers none. */
  first_flow_ms: number | null;
  from_ms: number | null;
  generated_ms: number;
  intra_host_cross_zone: IntraHost[];
  last_flow_ms: number | null;
  policy_revisions: Revision[];
  /** The coarsest table that answered part of the conversation sections (`violations_by_zone_pair`, `intra_host_cross_zone`), as other endpoints give it: their counts are exact at any resolution, their `first_ms`/`last_ms` are bucket bounds of it. The policy revisions, the coverage and `first_flow_ms`/`last_flow_ms` come from the raw flows, to the millisecond. */
  resolution: string;
  summary: Summary;
  to_ms: number | null;
  /** The violating conversations (as `/api/v1/violations` lists them, at most 1000, `MAX_VIOLATING_CONVERSATIONS`) with links to their flows and packets. */
  violating_conversations: ViolationEvidence[];
  violations_by_zone_pair: ZonePairViolations[];
}

/** A policy revision and the flows it judged in the period. */
export interface Revision {
  first_ms: number;
  flows: number;
  last_ms: number;
  revision: string;
}

/** A rule as `GET /api/v1/policy` shows it. */
export interface RuleView {
  /** `allow` or `deny`. */
  action: string;
  description: string;
  from: string[];
  /** Its line in the policy file. */
  line: number;
  /** `"22"` or `"8000-8999"`; null = any port. */
  ports: string[] | null;
  /** IP protocol numbers; null = any. */
  protos: number[] | null;
  severity: string;
  to: string[];
}

/** The conclusion an auditor reads first. */
export interface Summary {
  hosts_complete: string[];
  hosts_incomplete: string[];
  statement: string;
  violations: number;
}

/** Body of `GET /api/v1/timeseries`. */
export interface Timeseries {
  from_ms: number | null;
  points: Point[];
  resolution: string;
  step_ms: number;
  to_ms: number | null;
}

/** Totals over every conversation that matched, not only the page returned. */
export interface Totals {
  bytes: number;
  conversations: number;
  flows: number;
  packets: number;
  violations: number;
}

/** A violating conversation with its evidence. */
export interface Violation {
  bytes: number;
  client_addr: string | null;
  client_vm: string;
  client_zone: string;
  first_ms: number;
  flows: number;
  /** The raw flows behind it (`GET` this, same token). */
  flows_url: string;
  last_ms: number;
  observation_points: ObservationPoint[];
  packets: number;
  policy_revision: string;
  proto: number;
  rule: string;
  same_host: boolean;
  server_addr: string | null;
  server_port: number;
  server_vm: string;
  server_zone: string;
  /** the deciding rule's severity; "" when none */
  severity: "" | "info" | "low" | "medium" | "high" | "critical";
}

/** A violating conversation and where its evidence is. */
export interface ViolationEvidence {
  client_vm: string;
  client_zone: string;
  first_ms: number;
  flows: number;
  /** Its raw flows (`GET` it with the same token). */
  flows_url: string;
  last_ms: number;
  /** Its packets as pcapng (`GET` it with a `responder` token): the flows' filters and window; `null` when no exporter that observed it announces a packet store (an evidence URL). */
  packets_url: string | null;
  proto: number;
  rule: string;
  server_port: number;
  server_vm: string;
  server_zone: string;
  severity: string;
}

/** Body of `GET /api/v1/violations`. */
export interface Violations {
  from_ms: number | null;
  limit: number;
  offset: number;
  to_ms: number | null;
  /** Violating conversations matching, not only this page. */
  total: number;
  violations: Violation[];
}

/** Body of `GET /api/v1/vms/{name}`. */
export interface Vm {
  conversations: Conversation[];
  from_ms: number | null;
  name: string;
  placements: Placement[];
  resolution: string;
  to_ms: number | null;
  totals: Totals;
  zones: string[];
}

/** The answer of `POST /api/v1/policy/whatif`. */
export interface WhatIf {
  /** Conversations judged. */
  conversations: number;
  draft_revision: string;
  /** Warnings of the draft (`draft:LINE: field: message`). */
  draft_warnings: string[];
  from_ms: number;
  new_violations: number;
  other_changes: number;
  resolution: string;
  resolved_violations: number;
  to_ms: number;
  zone_pairs: ZonePairChanges[];
}

/** The body of `POST /api/v1/policy/whatif`. */
export interface WhatIfRequest {
  /** Only this dataset (`live` or a replay's name); default every dataset. */
  dataset: string | null;
  /** Window `[from, to)` by flow start, RFC 3339. */
  from: string;
  /** The draft policy, TOML text in the policy file format. */
  policy: string;
  to: string;
}

/** The changes of one zone pair (zones as the draft assigns them). */
export interface ZonePairChanges {
  client_zone: string;
  /** Conversations allowed or unknown now that the draft calls violations. */
  new_violations: Change[];
  /** Same kind of verdict, another rule or severity. */
  other_changes: Change[];
  /** Violations now that the draft allows (or cannot judge). */
  resolved_violations: Change[];
  server_zone: string;
}

/** Violating conversations of one zone pair and severity. */
export interface ZonePairViolations {
  bytes: number;
  client_zone: string;
  conversations: number;
  first_ms: number;
  flows: number;
  last_ms: number;
  server_zone: string;
  severity: string;
}

/** A zone as `GET /api/v1/policy` shows it. */
export interface ZoneView {
  cidrs: string[];
  /** Its line in the policy file. */
  line: number;
  name: string;
  port_groups: string[];
  tags: string[];
  vlans: number[];
  vm_names: string[];
  vnis: number[];
}
