// The dashboard's JSON API (docs/api.md documents every shape).

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** GET `/api/v1/{path}?{params}` as JSON; a non-2xx answer throws ApiError with the server's message. */
export async function get<T>(path: string, params?: URLSearchParams, signal?: AbortSignal): Promise<T> {
  const query = params && [...params.keys()].length > 0 ? `?${params.toString()}` : "";
  return request<T>(`/api/v1/${path}${query}`, { headers: { Accept: "application/json" }, signal });
}

/** GET an API address the server handed out (e.g. a violation's `flows_url`). */
export async function getUrl<T>(url: string, signal?: AbortSignal): Promise<T> {
  if (!url.startsWith("/api/v1/")) throw new ApiError(0, `unexpected address ${url}`);
  return request<T>(url, { headers: { Accept: "application/json" }, signal });
}

/** POST a body (JSON or text) to `/api/v1/{path}`. */
export async function post<T>(path: string, body: string, contentType: string, signal?: AbortSignal): Promise<T> {
  return request<T>(`/api/v1/${path}`, {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": contentType },
    body,
    signal,
  });
}

/** DELETE `/api/v1/{path}`. */
export async function remove<T>(path: string, signal?: AbortSignal): Promise<T> {
  return request<T>(`/api/v1/${path}`, { method: "DELETE", headers: { Accept: "application/json" }, signal });
}

const TOKEN_KEY = "eastwest.token";

/** The API token the user typed (kept in this browser only), or "". */
export function token(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

export function setToken(value: string): void {
  try {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token lasts until the page is closed.
  }
}

function withAuth(headers: Record<string, string>): Record<string, string> {
  const t = token();
  return t ? { ...headers, Authorization: `Bearer ${t}` } : headers;
}

async function request<T>(url: string, init: RequestInit & { headers: Record<string, string> }): Promise<T> {
  const response = await send(url, init);
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(response.status, errorMessage(response, body));
  if (body === null) throw new ApiError(response.status, "the server sent an unreadable answer");
  return body as T;
}

async function send(url: string, init: RequestInit & { headers: Record<string, string> }): Promise<Response> {
  try {
    return await fetch(url, { credentials: "same-origin", ...init, headers: withAuth(init.headers) });
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, "the dashboard server cannot be reached");
  }
}

function errorMessage(response: Response, body: unknown): string {
  if (body && typeof body === "object" && "error" in body && typeof body.error === "string") {
    return body.error;
  }
  if (response.status === 404) return "not available on this server";
  return response.statusText || `HTTP ${response.status}`;
}

/**
 * Download an API answer (CSV, JSON, HTML, PDF) as a file. Fetched here
 * rather than by a plain link so the token goes with it.
 */
export async function download(url: string, fallbackName: string): Promise<string> {
  const response = await send(url, { headers: {} });
  if (!response.ok) {
    const text = await response.text();
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    throw new ApiError(response.status, errorMessage(response, body));
  }
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const named = /filename="?([^";]+)"?/.exec(disposition);
  const name = named ? named[1] : fallbackName;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  return name;
}

/**
 * The packets (pcapng, `GET /api/v1/packets`) of the conversation a
 * violation's `flows_url` names: the same filters, no paging.
 */
export function packetsUrl(flowsUrl: string, dataset?: string): string {
  const url = new URL(flowsUrl, "http://page.invalid");
  const params = new URLSearchParams(url.search);
  for (const paging of ["limit", "offset", "format"]) params.delete(paging);
  if (dataset && !params.has("dataset")) params.set("dataset", dataset);
  return `/api/v1/packets?${params}`;
}

/**
 * The packets of every conversation of a VM in the view's window
 * (`params`: range or from/to, dataset), as the VM page shows them.
 */
export function vmPacketsUrl(vm: string, params: URLSearchParams): string {
  const query = new URLSearchParams(params);
  query.set("vm", vm);
  return `/api/v1/packets?${query}`;
}

/** The packets of a conversation row: its time span, ends, protocol and port. */
export function conversationPacketsUrl(c: Conversation, dataset?: string): string {
  const params = new URLSearchParams({
    from: String(Math.floor(c.start_ms / 1000)),
    to: String(Math.floor(c.end_ms / 1000) + 1),
  });
  if (c.client_vm) params.set("vm", c.client_vm);
  if (c.server_vm) params.set("peer", c.server_vm);
  params.set("proto", String(c.proto));
  params.set("port", String(c.server_port));
  if (dataset) params.set("dataset", dataset);
  return `/api/v1/packets?${params}`;
}

/** The address of an API list as a file download (CSV or JSON). */
export function exportUrl(path: string, params: URLSearchParams, format: "csv" | "json"): string {
  const p = new URLSearchParams(params);
  p.set("format", format);
  return `/api/v1/${path}?${p.toString()}`;
}

// ---- Shapes (docs/api.md) ----

export interface Window {
  from_ms: number | null;
  to_ms: number | null;
  resolution?: string;
}

export interface Totals {
  conversations: number;
  violations: number;
  flows: number;
  packets: number;
  bytes: number;
}

export type Verdict = "allowed" | "violation" | "unknown";

export interface Conversation {
  client_vm: string;
  client_addr: string | null;
  client_zone: string;
  client_host: string;
  server_vm: string;
  server_addr: string | null;
  server_zone: string;
  server_host: string;
  proto: number;
  server_port: number;
  verdict: Verdict;
  rule: string;
  severity: string;
  same_host: boolean;
  observers: string[];
  flows: number;
  packets_fwd: number;
  bytes_fwd: number;
  packets_rev: number;
  bytes_rev: number;
  packets: number;
  bytes: number;
  start_ms: number;
  end_ms: number;
}

/** GET conversations. */
export async function conversations(params: URLSearchParams, signal?: AbortSignal): Promise<Conversations> {
  return get<Conversations>("conversations", params, signal);
}

export interface Conversations extends Window {
  sort: string;
  limit: number;
  offset: number;
  totals: Totals;
  conversations: Conversation[];
}

export interface MatrixCell {
  client_zone: string;
  server_zone: string;
  conversations: number;
  flows: number;
  packets: number;
  bytes: number;
  violations: number;
  violation_bytes: number;
}

export interface Matrix extends Window {
  zones: string[];
  cells: MatrixCell[];
}

export interface ObservationPoint {
  observer: string;
  encap: string;
  flows: number;
  bytes: number;
}

export interface Violation {
  client_vm: string;
  client_addr: string | null;
  client_zone: string;
  server_vm: string;
  server_addr: string | null;
  server_zone: string;
  proto: number;
  server_port: number;
  rule: string;
  severity: string;
  same_host: boolean;
  policy_revision: string;
  first_ms: number;
  last_ms: number;
  flows: number;
  packets: number;
  bytes: number;
  observation_points: ObservationPoint[];
  flows_url: string;
}

export interface Violations extends Window {
  limit: number;
  offset: number;
  total: number;
  violations: Violation[];
}

export interface Placement {
  host: string;
  first_ms: number;
  last_ms: number;
}

export interface VmDetail extends Window {
  name: string;
  zones: string[];
  placements: Placement[];
  totals: Totals;
  conversations: Conversation[];
}

export interface HostSummary {
  host: string;
  vms: number;
  conversations: number;
  local_conversations: number;
  local_bytes: number;
  local_cross_zone: number;
  violations: number;
  bytes: number;
  last_ms: number;
}

export interface Hosts extends Window {
  hosts: HostSummary[];
}

export interface HostDetail extends Window {
  host: string;
  vms: string[];
  totals: Totals;
  conversations: Conversation[];
}

export interface Point {
  t_ms: number;
  flows: number;
  packets: number;
  bytes: number;
  violations: number;
  violation_bytes: number;
}

export interface Timeseries extends Window {
  step_ms: number;
  points: Point[];
}

export interface Exporter {
  exporter: string;
  source_id: number;
  name: string;
  last_seen_ms: number;
  packets: number;
  flows: number;
  sequence_gaps: number;
  templates: number;
  drops: number;
  stale: boolean;
}

export interface Dataset {
  name: string;
  /** The live data (kept by retention); otherwise a replay, kept until deleted. */
  live: boolean;
  flows: number;
  first_ms: number;
  last_ms: number;
  stored_first_ms: number;
  stored_last_ms: number;
  bytes: number;
}

export interface Datasets {
  datasets: Dataset[];
}

export interface Exporters {
  now_ms: number;
  stale_after_s: number;
  exporters: Exporter[];
}

export interface FlowRecord {
  start_ms: number;
  end_ms: number;
  observer: string;
  encap: string;
  exporter: string;
  source_id: number;
  src_vm: string;
  src_addr: string;
  src_port: number;
  dst_vm: string;
  dst_addr: string;
  dst_port: number;
  proto: number;
  reply: boolean;
  packets: number;
  bytes: number;
  tcp_flags: number;
  verdict: Verdict;
  rule: string;
  severity: string;
  policy_revision: string;
  dataset: string;
}

export interface Flows extends Window {
  limit: number;
  offset: number;
  total: number;
  flows: FlowRecord[];
}
