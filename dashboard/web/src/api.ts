// The dashboard's JSON API (docs/api.md documents every shape).

import type { Conversation, Conversations } from "./api.gen";

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

// ---- Shapes: generated from the dashboard's types (api.gen.ts) ----

export interface Window {
  from_ms: number | null;
  to_ms: number | null;
  resolution?: string;
}

export type {
  Conversation,
  Conversations,
  Dataset,
  Datasets,
  ExporterStatus as Exporter,
  Exporters,
  Flow as FlowRecord,
  Flows,
  Host as HostDetail,
  Hosts,
  HostSummary,
  Matrix,
  MatrixCell,
  ObservationPoint,
  Placement,
  Point,
  Timeseries,
  Totals,
  Violation,
  Violations,
  Vm as VmDetail,
} from "./api.gen";

export type Verdict = Conversation["verdict"];

/** GET conversations. */
export async function conversations(params: URLSearchParams, signal?: AbortSignal): Promise<Conversations> {
  return get<Conversations>("conversations", params, signal);
}
