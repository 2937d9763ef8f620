// The page's state lives in the URL query string, so every view can be
// shared by copying the address: view, time range, filters, sort, page.

export const VIEWS = [
  "overview",
  "graph",
  "matrix",
  "hosts",
  "vm",
  "exporters",
  "datasets",
  "policy",
  "reports",
] as const;
export type View = (typeof VIEWS)[number];

export const RANGES = ["15m", "1h", "6h", "24h", "7d", "30d", "all"] as const;
export const VERDICTS = ["violation", "allowed", "unknown"] as const;

export interface State {
  view: View;
  /** A preset span ending now, or "custom" when `from`/`to` are set. */
  range: string;
  /** RFC 3339 instants of a custom window. */
  from: string;
  to: string;
  dataset: string;
  vm: string;
  zone: string;
  host: string;
  verdict: string;
  sameHost: string;
  sort: string;
  offset: number;
}

const DEFAULTS: State = {
  view: "overview",
  range: "24h",
  from: "",
  to: "",
  dataset: "",
  vm: "",
  zone: "",
  host: "",
  verdict: "",
  sameHost: "",
  sort: "-bytes",
  offset: 0,
};

const KEYS: Record<keyof State, string> = {
  view: "view",
  range: "range",
  from: "from",
  to: "to",
  dataset: "dataset",
  vm: "vm",
  zone: "zone",
  host: "host",
  verdict: "verdict",
  sameHost: "same_host",
  sort: "sort",
  offset: "offset",
};

function oneOf<T extends string>(value: string | null, allowed: readonly T[], fallback: T): T {
  return value !== null && (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

/** The state in `search` (a `location.search`), unknown values replaced by defaults. */
export function parse(search: string): State {
  const p = new URLSearchParams(search);
  const from = p.get("from") ?? "";
  const to = p.get("to") ?? "";
  const custom = from !== "" || to !== "";
  const offset = Number.parseInt(p.get("offset") ?? "0", 10);
  return {
    view: oneOf(p.get("view"), VIEWS, DEFAULTS.view),
    range: custom ? "custom" : oneOf(p.get("range"), RANGES, "24h"),
    from,
    to,
    dataset: p.get("dataset") ?? "",
    vm: p.get("vm") ?? "",
    zone: p.get("zone") ?? "",
    host: p.get("host") ?? "",
    verdict: oneOf(p.get("verdict"), ["", ...VERDICTS], ""),
    sameHost: oneOf(p.get("same_host"), ["", "true", "false"], ""),
    sort: /^-?[a-z_]+$/.test(p.get("sort") ?? "") ? (p.get("sort") as string) : DEFAULTS.sort,
    offset: Number.isFinite(offset) && offset > 0 ? offset : 0,
  };
}

/** The query string of `s`: the range always, other values when not the default. */
export function serialize(s: State): string {
  const p = new URLSearchParams();
  for (const key of Object.keys(KEYS) as (keyof State)[]) {
    const value = String(s[key]);
    if (key === "range") {
      if (value !== "custom") p.set(KEYS.range, value);
    } else if (value !== "" && value !== String(DEFAULTS[key])) {
      p.set(KEYS[key], value);
    }
  }
  return `?${p.toString()}`;
}

/**
 * The time window and filters as API parameters. Views add their own
 * (sort, limit, ...) on top.
 */
export function windowParams(s: State): URLSearchParams {
  const p = new URLSearchParams();
  if (s.range === "custom") {
    if (s.from) p.set("from", s.from);
    if (s.to) p.set("to", s.to);
  } else {
    p.set("range", s.range);
  }
  if (s.dataset) p.set("dataset", s.dataset);
  return p;
}

/** Window plus the conversation filters (vm, host, zone, verdict, same_host). */
export function filterParams(s: State): URLSearchParams {
  const p = windowParams(s);
  if (s.vm) p.set("vm", s.vm);
  if (s.host) p.set("host", s.host);
  if (s.zone) p.set("zone", s.zone);
  if (s.verdict) p.set("verdict", s.verdict);
  if (s.sameHost) p.set("same_host", s.sameHost);
  return p;
}
