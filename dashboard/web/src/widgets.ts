// Pieces several views share: totals cards, the conversations table with
// sorting and paging, export buttons, empty and loading states.
import { ApiError, type Conversation, conversationPacketsUrl, download, type Flows, getUrl, type Totals } from "./api";
import { h } from "./dom";
import { ago, bytes, count, plural, service, when } from "./format";
import type { Context } from "./view";

export function cards(totals: Totals): HTMLElement {
  const card = (label: string, value: string, title: string, extra = "") =>
    h(
      "div",
      { class: `card ${extra}`, title },
      h("div", { class: "label" }, label),
      h("div", { class: "value" }, value),
    );
  return h(
    "section",
    { class: "cards", "aria-label": "Totals" },
    card("Conversations", count(totals.conversations), `${count(totals.conversations)} conversations`),
    card("Flows", count(totals.flows), `${count(totals.flows)} flow records`),
    card("Packets", count(totals.packets), `${count(totals.packets)} packets`),
    card("Bytes", bytes(totals.bytes), `${count(totals.bytes)} bytes`),
    card(
      "Violations",
      count(totals.violations),
      `${count(totals.violations)} violating conversations`,
      totals.violations > 0 ? "danger alarm" : "danger",
    ),
  );
}

const RESOLUTION: Record<string, string> = {
  raw: "every flow record",
  "1m": "1-minute rollups",
  "10m": "10-minute rollups",
  "1h": "1-hour rollups",
  "1d": "1-day rollups",
};

/** "2026-11-02 09:00:00 UTC – 10:00:00 UTC · from 1-minute rollups": what the numbers cover. */
export function windowLine(w: { from_ms: number | null; to_ms: number | null; resolution?: string }): HTMLElement {
  const span = w.from_ms === null && w.to_ms === null ? "all time" : `${when(w.from_ms)} – ${when(w.to_ms)}`;
  const res = w.resolution ? ` · from ${RESOLUTION[w.resolution] ?? w.resolution}` : "";
  return h("p", { class: "window muted small", id: "window" }, `Window: ${span}${res}`);
}

/** A VM (link to its detail) or an address outside the inventory. */
export function endpoint(ctx: Context, vm: string, addr: string | null): HTMLElement {
  if (vm) return h("a", { class: "vm", href: ctx.href({ view: "vm", vm }), "data-nav": true }, vm);
  return h("span", { class: "addr", title: "not in the inventory" }, addr ?? "?");
}

export function verdictBadge(verdict: string, severity = ""): HTMLElement {
  const label = verdict === "violation" && severity ? `${verdict} · ${severity}` : verdict;
  return h("span", { class: `badge ${verdict} sev-${severity || "none"}` }, label);
}

interface Column {
  label: string;
  sort?: string;
  num?: boolean;
  title?: string;
}

const COLUMNS: Column[] = [
  { label: "Client", sort: "client_vm", title: "initiator" },
  { label: "" },
  { label: "Server", sort: "server_vm", title: "responder" },
  { label: "Zones", sort: "client_zone" },
  { label: "Service", sort: "server_port" },
  { label: "Verdict", sort: "verdict" },
  { label: "→ bytes", sort: "bytes_fwd", num: true, title: "client → server" },
  { label: "← bytes", sort: "bytes_rev", num: true, title: "server → client" },
  { label: "Packets", sort: "packets", num: true },
  { label: "Flows", sort: "flows", num: true },
  { label: "Switched", title: "same host: switched inside the hypervisor, never on the wire" },
  { label: "Last seen", sort: "end_ms" },
];

function row(ctx: Context, c: Conversation): HTMLTableRowElement {
  const violation = c.verdict === "violation";
  const verdict = h("td", null, verdictBadge(c.verdict, c.severity));
  if (c.rule && c.verdict !== "allowed") verdict.appendChild(h("span", { class: "rule" }, c.rule));
  else if (c.rule) verdict.title = c.rule;
  verdict.appendChild(packetsButton(conversationPacketsUrl(c, ctx.state.dataset || undefined)));
  return h(
    "tr",
    { class: violation ? "violation" : c.verdict === "unknown" ? "unknown" : undefined, "data-verdict": c.verdict },
    h(
      "td",
      { class: "ep" },
      endpoint(ctx, c.client_vm, c.client_addr),
      c.client_host ? h("span", { class: "host" }, c.client_host) : null,
    ),
    h("td", { class: "arrow", "aria-hidden": "true" }, "→"),
    h(
      "td",
      { class: "ep" },
      endpoint(ctx, c.server_vm, c.server_addr),
      c.server_host ? h("span", { class: "host" }, c.server_host) : null,
    ),
    h(
      "td",
      { class: "zone" },
      zoneLink(ctx, c.client_zone),
      h("span", { class: "muted" }, " → "),
      zoneLink(ctx, c.server_zone),
    ),
    h("td", { class: "svc" }, service(c.proto, c.server_port)),
    verdict,
    h(
      "td",
      { class: "num", title: `${count(c.bytes_fwd)} bytes, ${count(c.packets_fwd)} packets` },
      bytes(c.bytes_fwd),
    ),
    h(
      "td",
      { class: "num", title: `${count(c.bytes_rev)} bytes, ${count(c.packets_rev)} packets` },
      bytes(c.bytes_rev),
    ),
    h("td", { class: "num" }, count(c.packets)),
    h("td", { class: "num" }, count(c.flows)),
    h(
      "td",
      null,
      c.same_host
        ? h(
            "a",
            {
              class: "badge samehost",
              href: ctx.href({ view: "hosts", host: c.client_host }),
              "data-nav": true,
              title: "switched inside the host, never on the wire",
            },
            `in ${c.client_host || "host"}`,
          )
        : h("span", { class: "muted" }, "network"),
    ),
    h(
      "td",
      {
        class: "muted",
        title: `first ${when(c.start_ms)}\nlast ${when(c.end_ms)}\nobserved by ${c.observers.join(", ")}`,
      },
      when(c.end_ms),
    ),
  );
}

function zoneLink(ctx: Context, zone: string): HTMLElement {
  return h(
    "a",
    { class: "zone-name", href: ctx.href({ view: "overview", zone }), "data-nav": true, title: `only zone ${zone}` },
    zone,
  );
}

/**
 * The conversations table. `sortable`: header clicks change `sort` in the
 * URL (the API sorts); otherwise the rows are shown in the order given.
 */
export function conversationTable(ctx: Context, rows: Conversation[], sortable: boolean): HTMLElement {
  const key = ctx.state.sort.replace(/^-/, "");
  const asc = !ctx.state.sort.startsWith("-");
  const head = h(
    "tr",
    null,
    COLUMNS.map((col) => {
      const th = h("th", { class: col.num ? "num" : undefined, title: col.title, scope: "col" }, col.label);
      if (sortable && col.sort) {
        const sortKey = col.sort;
        th.dataset.sort = sortKey;
        th.tabIndex = 0;
        if (sortKey === key) {
          th.classList.add("sorted");
          if (asc) th.classList.add("asc");
          th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        }
        const toggle = () => ctx.go({ sort: ctx.state.sort === `-${sortKey}` ? sortKey : `-${sortKey}` });
        th.addEventListener("click", toggle);
        th.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            toggle();
          }
        });
      }
      return th;
    }),
  );
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "conversations" },
      h("thead", null, head),
      h(
        "tbody",
        null,
        rows.map((c) => row(ctx, c)),
      ),
    ),
  );
}

/** "Showing 1–100 of 2,345" with previous/next. */
export function pager(ctx: Context, shown: number, total: number, limit: number): HTMLElement {
  const offset = ctx.state.offset;
  const box = h("div", { class: "pager" });
  if (total === 0) return box;
  box.appendChild(
    h("span", { class: "muted" }, `${count(offset + 1)}–${count(offset + shown)} of ${plural(total, "conversation")}`),
  );
  if (offset > 0) {
    box.appendChild(
      h(
        "a",
        { class: "button", href: ctx.href({ offset: Math.max(0, offset - limit) }), "data-nav": true },
        "← previous",
      ),
    );
  }
  if (offset + shown < total) {
    box.appendChild(
      h("a", { class: "button", href: ctx.href({ offset: offset + limit }), "data-nav": true }, "next →"),
    );
  }
  return box;
}

/** CSV and JSON export buttons for an API list. */
export function exports(urlFor: (format: "csv" | "json") => string, name: string): HTMLElement {
  const status = h("span", { class: "muted small", role: "status" });
  const button = (format: "csv" | "json") => {
    const b = h("button", { type: "button", class: "button", "data-export": format }, format.toUpperCase());
    b.addEventListener("click", async () => {
      status.textContent = "";
      try {
        await download(urlFor(format), `${name}.${format}`);
      } catch (err) {
        status.textContent = err instanceof ApiError ? `export failed: ${err.message}` : "export failed";
      }
    });
    return b;
  };
  return h(
    "div",
    { class: "exports" },
    h("span", { class: "muted small" }, "Export"),
    button("csv"),
    button("json"),
    status,
  );
}

export function empty(message: string, action?: HTMLElement): HTMLElement {
  return h("div", { class: "empty" }, message, action ? " " : null, action ?? null);
}

/** "No conversations in this range" with links to all time and to the datasets (a replay keeps its capture's time). */
export function emptyRange(ctx: Context, what: string): HTMLElement {
  const datasets = h(
    "a",
    { href: ctx.href({ view: "datasets" }), "data-nav": true },
    "the datasets and their time spans",
  );
  const links =
    ctx.state.range !== "all"
      ? h(
          "span",
          null,
          h("a", { href: ctx.href({ range: "all", from: "", to: "" }), "data-nav": true }, "Show all time"),
          " or see ",
          datasets,
          ".",
        )
      : h("span", null, "See ", datasets, ".");
  return empty(`No ${what} in this range.`, links);
}

export function section(title: string, ...children: (Node | null)[]): HTMLElement {
  return h("section", { class: "panel" }, h("h2", null, title), ...children);
}

export function lastSeen(ms: number): HTMLElement {
  return h("span", { title: when(ms) }, ago(ms));
}

const TCP_FLAGS = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];

function tcpFlags(bits: number): string {
  return TCP_FLAGS.filter((_, i) => bits & (1 << i)).join(" ") || "–";
}

/**
 * "Packets": a button that downloads the conversation's packets (pcapng,
 * merged from every observation point) with the token; the server's
 * reason shows beside it when it cannot (role, rotated store, no store).
 */
export function packetsButton(url: string): HTMLElement {
  const note = h("span", { class: "muted small packets-note", role: "status" });
  const button = h("button", { type: "button", class: "link packets", "data-url": url }, "packets");
  button.addEventListener("click", async () => {
    note.textContent = "fetching packets…";
    try {
      const name = await download(url, "packets.pcapng");
      note.textContent = `saved ${name}`;
    } catch (err) {
      note.textContent = err instanceof Error ? err.message : String(err);
    }
  });
  return h("span", { class: "packets-box" }, button, " ", note);
}

/**
 * "Evidence": a button that loads the flow records behind a violation
 * (`flows_url`) into a table beneath it, and hides them again.
 */
export function evidence(url: string): HTMLElement {
  const box = h("div", { class: "evidence" });
  const button = h("button", { type: "button", class: "link", "aria-expanded": "false" }, "evidence");
  let open = false;
  button.addEventListener("click", async () => {
    open = !open;
    button.setAttribute("aria-expanded", String(open));
    if (!open) {
      box.replaceChildren();
      return;
    }
    box.replaceChildren(h("span", { class: "muted small" }, "loading flow records…"));
    try {
      const data = await getUrl<Flows>(url);
      box.replaceChildren(
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "flows" },
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                [
                  "Start",
                  "End",
                  "Observer",
                  "Encap",
                  "Exporter",
                  "Source",
                  "Destination",
                  "Packets",
                  "Bytes",
                  "TCP flags",
                  "Policy",
                ].map((x) => h("th", null, x)),
              ),
            ),
            h(
              "tbody",
              null,
              data.flows.map((f) =>
                h(
                  "tr",
                  null,
                  h("td", null, when(f.start_ms)),
                  h("td", null, when(f.end_ms)),
                  h("td", null, f.observer),
                  h("td", null, f.encap),
                  h("td", { class: "addr" }, `${f.exporter}/${f.source_id}`),
                  h("td", { class: "addr" }, `${f.src_vm || f.src_addr}:${f.src_port}`),
                  h("td", { class: "addr" }, `${f.dst_vm || f.dst_addr}:${f.dst_port}${f.reply ? " (reply)" : ""}`),
                  h("td", { class: "num" }, count(f.packets)),
                  h("td", { class: "num" }, count(f.bytes)),
                  h("td", { class: "small" }, f.proto === 6 ? tcpFlags(f.tcp_flags) : "–"),
                  h("td", { class: "addr", title: f.policy_revision }, f.policy_revision.slice(0, 12)),
                ),
              ),
            ),
          ),
        ),
        h("div", { class: "muted small" }, `${count(data.flows.length)} of ${plural(data.total, "flow record")}`),
      );
    } catch (err) {
      box.replaceChildren(
        h(
          "span",
          { class: "muted small" },
          `cannot load the flow records: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
    }
  });
  return h("div", null, button, box);
}

/** The value, or the error it failed with (aborts still throw). */
export async function settle<T>(promise: Promise<T>): Promise<T | Error> {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** A panel whose endpoint failed: say so where the data would be. */
export function unavailable(err: Error): HTMLElement {
  return h("div", { class: "empty warn", role: "note" }, `Not available: ${err.message}.`);
}
