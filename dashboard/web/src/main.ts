// eastwest dashboard page: the shell (navigation, time range and filters in
// the URL, theme, auto-refresh, errors) around one view at a time.
import "./style.css";
import { ApiError, setToken, token } from "./api";
import { byId, fill, h } from "./dom";
import { parse, RANGES, serialize, type State, VERDICTS, type View as ViewName } from "./state";
import type { Context, Filter, View } from "./view";
import { OverviewView } from "./views/overview";
import { GraphView } from "./views/graph";
import { MatrixView } from "./views/matrix";
import { HostsView } from "./views/hosts";
import { VmView } from "./views/vm";
import { ExportersView } from "./views/exporters";
import { DatasetsView } from "./views/datasets";
import { PolicyView } from "./views/policy";
import { ReportsView } from "./views/reports";

const REFRESH_MS = 30_000;

const VIEWS: Record<ViewName, { label: string; make: () => View }> = {
  overview: { label: "Overview", make: () => new OverviewView() },
  graph: { label: "Graph", make: () => new GraphView() },
  matrix: { label: "Zone matrix", make: () => new MatrixView() },
  hosts: { label: "Hosts", make: () => new HostsView() },
  vm: { label: "VM", make: () => new VmView() },
  exporters: { label: "Coverage", make: () => new ExportersView() },
  datasets: { label: "Datasets", make: () => new DatasetsView() },
  policy: { label: "Policy", make: () => new PolicyView() },
  reports: { label: "Reports", make: () => new ReportsView() },
};

const RANGE_LABELS: Record<string, string> = {
  "15m": "15 min",
  "1h": "1 h",
  "6h": "6 h",
  "24h": "24 h",
  "7d": "7 d",
  "30d": "30 d",
  all: "All",
};

let current: { name: ViewName; view: View } | null = null;
let controller: AbortController | null = null;
let timer: number | undefined;

function state(): State {
  return parse(window.location.search);
}

function href(change: Partial<State>): string {
  return serialize({ ...state(), ...change });
}

function go(change: Partial<State>): void {
  const next = { ...state(), ...change };
  // A new filter or view starts at the first page.
  if (!("offset" in change)) next.offset = 0;
  window.history.pushState(null, "", serialize(next));
  render();
}

/** Links inside the page navigate without reloading. */
document.addEventListener("click", (event) => {
  const target = event.target as Element | null;
  const link = target?.closest("a[data-nav]") as HTMLAnchorElement | null;
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  window.history.pushState(null, "", link.getAttribute("href") ?? "?");
  render();
});

window.addEventListener("popstate", () => render());

function render(): void {
  const s = state();
  renderNav(s);
  if (!current || current.name !== s.view) {
    current?.view.unmount();
    const view = VIEWS[s.view].make();
    current = { name: s.view, view };
    const root = byId("view");
    fill(root);
    root.dataset.view = s.view;
    view.mount(root, context(s, new AbortController().signal));
  }
  renderFilters(s, current.view.filters);
  document.title = `eastwest · ${VIEWS[s.view].label}`;
  void update();
}

function context(s: State, signal: AbortSignal): Context {
  return { state: s, signal, go, href };
}

async function update(): Promise<void> {
  if (!current) return;
  controller?.abort();
  controller = new AbortController();
  const { signal } = controller;
  const status = byId("status");
  status.textContent = "loading…";
  document.body.classList.add("busy");
  try {
    await current.view.update(context(state(), signal));
    if (signal.aborted) return;
    byId("error").hidden = true;
    status.classList.remove("stale");
    status.textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
  } catch (err) {
    if (signal.aborted || (err instanceof DOMException && err.name === "AbortError")) return;
    showError(err);
    status.classList.add("stale");
    status.textContent = "stale";
  } finally {
    if (!signal.aborted) document.body.classList.remove("busy");
  }
}

function showError(err: unknown): void {
  const banner = byId("error");
  banner.hidden = false;
  if (err instanceof ApiError && err.status === 401) {
    const input = h("input", {
      type: "password",
      id: "token",
      placeholder: "API token",
      autocomplete: "off",
      "aria-label": "API token",
    });
    const save = h("button", { type: "submit" }, "Use token");
    const form = h("form", { class: "token" }, input, save);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      setToken(input.value.trim());
      void update();
    });
    fill(banner, token() ? "That API token was refused. " : "This dashboard needs an API token. ", form);
    input.focus();
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  fill(banner, `Cannot load this view: ${message}.`);
}

function renderNav(s: State): void {
  const nav = byId("nav");
  fill(
    nav,
    (Object.keys(VIEWS) as ViewName[])
      .filter((name) => name !== "vm" || s.view === "vm")
      .map((name) =>
        h(
          "a",
          {
            href: href({ view: name }),
            "data-nav": true,
            class: name === s.view ? "active" : undefined,
            "aria-current": name === s.view ? "page" : undefined,
          },
          name === "vm" && s.vm ? `VM ${s.vm}` : VIEWS[name].label,
        ),
      ),
  );
}

/** UTC `datetime-local` value of an RFC 3339 instant, or "". */
function localValue(instant: string): string {
  const ms = Date.parse(instant);
  return Number.isNaN(ms) ? "" : new Date(ms).toISOString().slice(0, 16);
}

function renderFilters(s: State, filters: readonly Filter[]): void {
  const bar = byId("filters");
  const parts: Node[] = [];
  if (filters.includes("range")) {
    const ranges = h("div", { class: "group", role: "group", "aria-label": "Time range", id: "ranges" });
    for (const r of RANGES) {
      const b = h(
        "button",
        {
          type: "button",
          "data-range": r,
          class: s.range === r ? "active" : undefined,
          "aria-pressed": s.range === r ? "true" : "false",
        },
        RANGE_LABELS[r],
      );
      b.addEventListener("click", () => go({ range: r, from: "", to: "" }));
      ranges.appendChild(b);
    }
    parts.push(ranges);
    const from = h("input", {
      type: "datetime-local",
      id: "from",
      value: localValue(s.from),
      "aria-label": "From (UTC)",
    });
    const to = h("input", { type: "datetime-local", id: "to", value: localValue(s.to), "aria-label": "To (UTC)" });
    const apply = h("button", { type: "submit" }, "Apply");
    const custom = h(
      "form",
      { class: `custom${s.range === "custom" ? " active" : ""}` },
      from,
      "–",
      to,
      h("span", { class: "muted" }, "UTC"),
      apply,
    );
    custom.addEventListener("submit", (e) => {
      e.preventDefault();
      const iso = (v: string) => (v ? `${v}:00Z` : "");
      if (from.value || to.value) go({ range: "custom", from: iso(from.value), to: iso(to.value) });
    });
    parts.push(custom);
  }
  const text = (key: "vm" | "host" | "zone" | "dataset", label: string, placeholder: string) => {
    const input = h("input", { type: "search", id: `f-${key}`, value: s[key], placeholder, size: 12 });
    input.addEventListener("change", () => go({ [key]: input.value.trim() }));
    return h("label", { class: "field" }, label, input);
  };
  if (filters.includes("vm")) parts.push(text("vm", "VM", "any"));
  if (filters.includes("host")) parts.push(text("host", "Host", "any"));
  if (filters.includes("zone")) parts.push(text("zone", "Zone", "any"));
  if (filters.includes("verdict")) {
    const select = h(
      "select",
      { id: "f-verdict" },
      h("option", { value: "" }, "any"),
      VERDICTS.map((v) => h("option", { value: v, selected: s.verdict === v }, v)),
    );
    select.addEventListener("change", () => go({ verdict: select.value }));
    parts.push(h("label", { class: "field" }, "Verdict", select));
  }
  if (filters.includes("sameHost")) {
    const select = h(
      "select",
      { id: "f-same-host" },
      h("option", { value: "" }, "any"),
      h("option", { value: "true", selected: s.sameHost === "true" }, "same host only"),
      h("option", { value: "false", selected: s.sameHost === "false" }, "across hosts only"),
    );
    select.addEventListener("change", () => go({ sameHost: select.value }));
    parts.push(h("label", { class: "field" }, "Switching", select));
  }
  if (filters.includes("dataset")) parts.push(text("dataset", "Dataset", "any"));
  const auto = h("input", { type: "checkbox", id: "autorefresh", checked: autoRefresh() });
  auto.addEventListener("change", () => {
    try {
      localStorage.setItem("eastwest.autorefresh", auto.checked ? "1" : "0");
    } catch {
      // not kept
    }
    schedule();
  });
  parts.push(h("label", { class: "field check" }, auto, "auto-refresh"));
  fill(bar, parts);
}

function autoRefresh(): boolean {
  try {
    return localStorage.getItem("eastwest.autorefresh") !== "0";
  } catch {
    return true;
  }
}

function schedule(): void {
  window.clearInterval(timer);
  timer = undefined;
  if (autoRefresh()) {
    timer = window.setInterval(() => {
      if (!document.hidden && !document.body.classList.contains("busy") && current?.view.live) void update();
    }, REFRESH_MS);
  }
}

function applyTheme(theme: string): void {
  document.documentElement.dataset.theme = theme;
}

function initialTheme(): string {
  try {
    const saved = localStorage.getItem("eastwest.theme");
    if (saved === "dark" || saved === "light") return saved;
  } catch {
    // default below
  }
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

applyTheme(initialTheme());

document.addEventListener("DOMContentLoaded", () => {
  byId("theme").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    applyTheme(next);
    try {
      localStorage.setItem("eastwest.theme", next);
    } catch {
      // not kept
    }
    // Charts take their colours at render time: mount the view again.
    current?.view.unmount();
    current = null;
    render();
  });
  const jump = byId<HTMLInputElement>("jump-vm");
  byId("jump").addEventListener("submit", (e) => {
    e.preventDefault();
    const vm = jump.value.trim();
    if (vm) go({ view: "vm", vm });
    jump.value = "";
  });
  render();
  schedule();
});
