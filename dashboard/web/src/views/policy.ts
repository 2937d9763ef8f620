// Policy: the policy in force (revision, warnings, zones, rules,
// separation constraints), the co-residency risk (zones that must not share
// a host but do), and a what-if: paste or upload a draft and see, before
// deploying it, which of the window's conversations would change verdict,
// zone pair by zone pair. Shapes: the policy module's endpoints
// (GET /api/v1/policy, GET /api/v1/coresidency, POST /api/v1/policy/whatif).
import { ApiError, get, post } from "../api";
import { fill, h } from "../dom";
import { bytes, count, plural, protoName, service, when } from "../format";
import type { State } from "../state";
import type { Context, View } from "../view";
import { settle, unavailable, verdictBadge } from "../widgets";

interface ZoneView {
  name: string;
  line: number;
  vm_names: string[];
  tags: string[];
  port_groups: string[];
  vlans: number[];
  vnis: number[];
  cidrs: string[];
}

interface RuleView {
  description: string;
  line: number;
  from: string[];
  to: string[];
  protos: number[] | null;
  ports: string[] | null;
  action: "allow" | "deny";
  severity: string;
}

interface PolicyAnswer {
  path: string;
  error: string | null;
  revision: string | null;
  warnings: string[];
  inventory_warnings: string[];
  default_cross_zone: string | null;
  default_severity: string | null;
  zones: ZoneView[];
  rules: RuleView[];
  separate: [string, string][];
}

interface CoResidencyView {
  host: string;
  zones: [string, string];
  vms: [string, string];
  since_ms: number;
  until_ms: number | null;
}

interface CoResidencyAnswer {
  now_ms: number;
  policy_revision: string | null;
  separate: [string, string][];
  current: CoResidencyView[];
  history: CoResidencyView[];
}

interface Judgement {
  verdict: string;
  rule: string;
  severity: string;
}

interface Change {
  client_vm: string;
  client_addr: string;
  server_vm: string;
  server_addr: string;
  proto: number;
  server_port: number;
  before: Judgement;
  after: Judgement;
  flows: number;
  bytes: number;
}

interface ZonePairChanges {
  client_zone: string;
  server_zone: string;
  new_violations: Change[];
  resolved_violations: Change[];
  other_changes: Change[];
}

interface WhatIf {
  from_ms: number;
  to_ms: number;
  resolution: string;
  draft_revision: string;
  draft_warnings: string[];
  conversations: number;
  new_violations: number;
  resolved_violations: number;
  other_changes: number;
  zone_pairs: ZonePairChanges[];
}

const SPANS: Record<string, number> = {
  "15m": 15 * 60_000,
  "1h": 3_600_000,
  "6h": 6 * 3_600_000,
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
};
/** The API evaluates a draft over at most 31 days. */
const MAX_WHATIF_MS = 31 * 86_400_000;

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The what-if window `[from, to)` of the page's time range. "All" is the
 * data's own span (from the time series), at most its last 31 days.
 */
async function whatIfWindow(s: State, signal: AbortSignal): Promise<{ from: string; to: string }> {
  if (s.range === "custom") {
    return { from: s.from || rfc3339(Date.parse(s.to) - 86_400_000), to: s.to || rfc3339(Date.now()) };
  }
  if (s.range === "all") {
    // Without the time series, the last 31 days.
    const span = await settle(
      get<{ from_ms: number | null; to_ms: number | null }>(
        "timeseries",
        new URLSearchParams({ range: "all" }),
        signal,
      ),
    );
    // Whole seconds, the end rounded up so the last flow is inside.
    const to = Math.ceil((span instanceof Error ? Date.now() : (span.to_ms ?? Date.now())) / 1000) * 1000;
    const from = span instanceof Error ? to - MAX_WHATIF_MS : Math.max(span.from_ms ?? 0, to - MAX_WHATIF_MS);
    return { from: rfc3339(from), to: rfc3339(to) };
  }
  const to = Date.now();
  return { from: rfc3339(to - (SPANS[s.range] ?? 86_400_000)), to: rfc3339(to) };
}

function table(headers: string[], rows: HTMLElement[]): HTMLElement {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      null,
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          headers.map((x) => h("th", null, x)),
        ),
      ),
      h("tbody", null, rows),
    ),
  );
}

function selectors(z: ZoneView): string {
  const parts = [
    z.vm_names.length ? `names ${z.vm_names.join(", ")}` : "",
    z.tags.length ? `tags ${z.tags.join(", ")}` : "",
    z.port_groups.length ? `port groups ${z.port_groups.join(", ")}` : "",
    z.vlans.length ? `VLAN ${z.vlans.join(", ")}` : "",
    z.vnis.length ? `VNI ${z.vnis.join(", ")}` : "",
    z.cidrs.length ? `CIDR ${z.cidrs.join(", ")}` : "",
  ];
  return parts.filter(Boolean).join(" · ") || "–";
}

export class PolicyView implements View {
  readonly live = false;
  readonly filters = ["range", "dataset"] as const;
  private current!: HTMLElement;
  private coresidency!: HTMLElement;
  private result!: HTMLElement;
  private draft!: HTMLTextAreaElement;
  private ctx: Context | null = null;

  mount(root: HTMLElement, ctx: Context): void {
    this.ctx = ctx;
    this.current = h("div", { id: "policy-current" });
    this.coresidency = h("div", { id: "coresidency" });
    this.result = h("div", { id: "whatif-result", "aria-live": "polite" });
    this.draft = h("textarea", {
      id: "draft",
      rows: 16,
      spellcheck: "false",
      class: "code",
      placeholder: "Paste a draft policy (TOML, the policy file's format) or load a file.",
      "aria-label": "Draft policy",
    });
    const file = h("input", { type: "file", id: "draft-file", accept: ".toml,text/plain" });
    file.addEventListener("change", async () => {
      const chosen = file.files?.[0];
      if (chosen) this.draft.value = await chosen.text();
    });
    const run = h("button", { type: "button", class: "button primary", id: "whatif-run" }, "Evaluate the draft");
    run.addEventListener("click", () => void this.evaluate());
    root.append(
      h(
        "section",
        { class: "panel" },
        h("h2", null, "What if"),
        h(
          "p",
          { class: "muted" },
          "A draft is only evaluated against the conversations of the time range above (at most 31 days); nothing changes in the collector.",
        ),
        this.draft,
        h("div", { class: "downloads" }, h("label", { class: "field" }, "Load a file", file), run),
      ),
      this.result,
      this.coresidency,
      this.current,
    );
  }

  unmount(): void {
    this.ctx = null;
  }

  async update(ctx: Context): Promise<void> {
    this.ctx = ctx;
    const [policy, coresidency] = await Promise.all([
      get<PolicyAnswer>("policy", undefined, ctx.signal),
      settle(get<CoResidencyAnswer>("coresidency", undefined, ctx.signal)),
    ]);
    if (ctx.signal.aborted) return;
    this.renderPolicy(policy);
    if (coresidency instanceof Error)
      fill(this.coresidency, h("section", { class: "panel" }, h("h2", null, "Co-residency"), unavailable(coresidency)));
    else this.renderCoresidency(coresidency);
  }

  private renderPolicy(p: PolicyAnswer): void {
    const warnings = [...p.warnings, ...p.inventory_warnings];
    fill(
      this.current,
      p.error
        ? h(
            "section",
            { class: "panel statement bad" },
            h("h2", null, "The policy file does not load"),
            h("pre", { class: "code" }, p.error),
            h(
              "p",
              { class: "muted" },
              p.revision ? "Shown below: the last version that loaded." : "No version has loaded.",
            ),
          )
        : null,
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Policy in force"),
        h(
          "p",
          null,
          "Revision ",
          h("code", { id: "policy-revision" }, p.revision ?? "none"),
          h("span", { class: "muted" }, ` · ${p.path}`),
          p.default_cross_zone
            ? h(
                "span",
                { class: "muted" },
                ` · cross-zone traffic no rule matches: ${p.default_cross_zone} (${p.default_severity ?? ""})`,
              )
            : null,
        ),
        warnings.length
          ? h(
              "ul",
              { class: "warnings" },
              warnings.map((w) => h("li", null, w)),
            )
          : null,
        h("h3", null, "Rules, first match decides"),
        table(
          ["#", "Rule", "From", "To", "Service", "Action", "Severity"],
          p.rules.map((r, i) =>
            h(
              "tr",
              { class: r.action === "deny" ? "deny" : undefined },
              h("td", { class: "num muted", title: `line ${r.line}` }, String(i + 1)),
              h("td", { class: "wrap" }, r.description),
              h("td", null, r.from.join(", ")),
              h("td", null, r.to.join(", ")),
              h(
                "td",
                { class: "svc" },
                `${r.protos ? r.protos.map(protoName).join("/") : "any"}${r.ports ? ` ${r.ports.join(",")}` : ""}`,
              ),
              h("td", null, h("span", { class: `badge ${r.action === "deny" ? "violation" : "allowed"}` }, r.action)),
              h("td", null, r.severity || "–"),
            ),
          ),
        ),
        h("h3", null, "Zones"),
        table(
          ["Zone", "Selected by", "Line"],
          p.zones.map((z) =>
            h(
              "tr",
              null,
              h("td", { class: "vm" }, z.name),
              h("td", { class: "wrap" }, selectors(z)),
              h("td", { class: "num muted" }, String(z.line)),
            ),
          ),
        ),
        p.separate.length
          ? h(
              "p",
              null,
              "Must never share a host: ",
              p.separate.map(([a, b]) => h("span", { class: "badge zone" }, `${a} / ${b}`)),
            )
          : null,
      ),
    );
  }

  private renderCoresidency(c: CoResidencyAnswer): void {
    fill(
      this.coresidency,
      h(
        "section",
        { class: `panel statement ${c.current.length ? "bad" : "ok"}` },
        h("h2", null, "Co-residency"),
        h(
          "p",
          { class: "big" },
          c.current.length
            ? `${plural(c.current.length, "pair")} of VMs from zones that must be kept apart share a host now.`
            : "No zones that must be kept apart share a host now.",
        ),
        c.history.length
          ? table(
              ["Host", "Zones", "VMs", "Since", "Until"],
              c.history.map((x) =>
                h(
                  "tr",
                  { class: x.until_ms === null ? "violation" : undefined },
                  h("td", { class: "vm" }, x.host),
                  h("td", null, `${x.zones[0]} / ${x.zones[1]}`),
                  h("td", null, `${x.vms[0]}, ${x.vms[1]}`),
                  h("td", null, x.since_ms === 0 ? "inventory start" : when(x.since_ms)),
                  h("td", null, x.until_ms === null ? h("b", { class: "danger-text" }, "now") : when(x.until_ms)),
                ),
              ),
            )
          : null,
      ),
    );
  }

  private async evaluate(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    if (!this.draft.value.trim()) {
      fill(this.result, h("div", { class: "empty" }, "Paste or load a draft first."));
      return;
    }
    fill(this.result, h("p", { class: "muted" }, "evaluating…"));
    try {
      const window = await whatIfWindow(ctx.state, ctx.signal);
      const body = JSON.stringify({
        policy: this.draft.value,
        ...window,
        ...(ctx.state.dataset ? { dataset: ctx.state.dataset } : {}),
      });
      this.renderWhatIf(await post<WhatIf>("policy/whatif", body, "application/json"));
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) {
        fill(
          this.result,
          h(
            "section",
            { class: "panel statement bad", id: "whatif-error" },
            h("h2", null, "The draft was refused"),
            h("pre", { class: "code" }, err.message),
          ),
        );
      } else {
        fill(this.result, unavailable(err instanceof Error ? err : new Error(String(err))));
      }
    }
  }

  private renderWhatIf(r: WhatIf): void {
    const ep = (vm: string, addr: string) => vm || addr || "?";
    const rows = (kind: string, changes: Change[]) =>
      changes.map((c) =>
        h(
          "tr",
          { class: kind === "new" ? "violation" : kind === "resolved" ? "resolved" : undefined, "data-change": kind },
          h(
            "td",
            null,
            h("span", { class: "vm" }, ep(c.client_vm, c.client_addr)),
            " → ",
            h("span", { class: "vm" }, ep(c.server_vm, c.server_addr)),
          ),
          h("td", { class: "svc" }, service(c.proto, c.server_port)),
          h(
            "td",
            null,
            verdictBadge(c.before.verdict, c.before.severity),
            c.before.rule ? h("span", { class: "rule muted-rule" }, c.before.rule) : null,
          ),
          h(
            "td",
            null,
            verdictBadge(c.after.verdict, c.after.severity),
            c.after.rule ? h("span", { class: "rule muted-rule" }, c.after.rule) : null,
          ),
          h("td", { class: "num" }, count(c.flows)),
          h("td", { class: "num" }, bytes(c.bytes)),
        ),
      );
    const changed = r.new_violations + r.resolved_violations + r.other_changes;
    fill(
      this.result,
      h(
        "section",
        { class: `panel statement ${r.new_violations ? "bad" : changed ? "warn" : "ok"}`, id: "whatif-summary" },
        h("h2", null, "What the draft would change"),
        h(
          "div",
          { class: "cards" },
          h(
            "div",
            { class: `card${r.new_violations ? " danger alarm" : ""}` },
            h("div", { class: "label" }, "New violations"),
            h("div", { class: "value" }, count(r.new_violations)),
          ),
          h(
            "div",
            { class: "card" },
            h("div", { class: "label" }, "Resolved violations"),
            h("div", { class: "value ok-text" }, count(r.resolved_violations)),
          ),
          h(
            "div",
            { class: "card" },
            h("div", { class: "label" }, "Other changes"),
            h("div", { class: "value" }, count(r.other_changes)),
          ),
          h(
            "div",
            { class: "card" },
            h("div", { class: "label" }, "Conversations judged"),
            h("div", { class: "value" }, count(r.conversations)),
          ),
        ),
        h("p", { class: "muted" }, `Draft revision ${r.draft_revision} · window ${when(r.from_ms)} – ${when(r.to_ms)}`),
        r.draft_warnings.length
          ? h(
              "ul",
              { class: "warnings" },
              r.draft_warnings.map((w) => h("li", null, w)),
            )
          : null,
      ),
      r.zone_pairs.map((zp) =>
        h(
          "section",
          { class: "panel", "data-pair": `${zp.client_zone}→${zp.server_zone}` },
          h("h2", { class: "entity" }, `${zp.client_zone} → ${zp.server_zone}`),
          table(
            ["Conversation", "Service", "Now", "With the draft", "Flows", "Bytes"],
            [
              ...rows("new", zp.new_violations),
              ...rows("resolved", zp.resolved_violations),
              ...rows("other", zp.other_changes),
            ],
          ),
        ),
      ),
    );
  }
}
