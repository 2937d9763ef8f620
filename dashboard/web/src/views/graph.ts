// The conversation graph: VMs (and outside addresses) as nodes grouped by
// zone, one edge per client → server pair; violating edges in red and
// thick, unknown-endpoint edges dashed. Below it, the violating edges as a
// list (readable without the picture, and by screen readers).
import { type Conversation, conversations } from "../api";
import { alpha, chart, type Chart, dispose, show, palette, tip, tooltipBase } from "../charts";
import { fill, h } from "../dom";
import { bytes, count, plural, service } from "../format";
import { filterParams } from "../state";
import type { Context, View } from "../view";
import { emptyRange, endpoint } from "../widgets";

/** Enough for a data center's east-west map; the rest is in the table views. */
const LIMIT = 2000;

interface Edge {
  client: string;
  server: string;
  clientLabel: { vm: string; addr: string | null };
  serverLabel: { vm: string; addr: string | null };
  bytes: number;
  flows: number;
  verdict: "allowed" | "violation" | "unknown";
  rules: Set<string>;
  services: Set<string>;
  severity: string;
  sameHost: boolean;
}

interface NodeInfo {
  id: string;
  zone: string;
  vm: string;
  bytes: number;
  violations: number;
}

const id = (vm: string, addr: string | null) => (vm ? `vm:${vm}` : `addr:${addr ?? "?"}`);
const label = (vm: string, addr: string | null) => vm || addr || "?";

/** Fold conversations into nodes and client → server edges. */
export function buildGraph(list: Conversation[]): { nodes: Map<string, NodeInfo>; edges: Edge[] } {
  const nodes = new Map<string, NodeInfo>();
  const edges = new Map<string, Edge>();
  const node = (vm: string, addr: string | null, zone: string, c: Conversation) => {
    const key = id(vm, addr);
    const n = nodes.get(key) ?? { id: key, zone, vm, bytes: 0, violations: 0 };
    n.bytes += c.bytes;
    if (c.verdict === "violation") n.violations += 1;
    nodes.set(key, n);
    return key;
  };
  for (const c of list) {
    const client = node(c.client_vm, c.client_addr, c.client_zone, c);
    const server = node(c.server_vm, c.server_addr, c.server_zone, c);
    const key = `${client}\u0000${server}`;
    const e = edges.get(key) ?? {
      client,
      server,
      clientLabel: { vm: c.client_vm, addr: c.client_addr },
      serverLabel: { vm: c.server_vm, addr: c.server_addr },
      bytes: 0,
      flows: 0,
      verdict: "allowed",
      rules: new Set<string>(),
      services: new Set<string>(),
      severity: "",
      sameHost: false,
    };
    e.bytes += c.bytes;
    e.flows += c.flows;
    e.services.add(service(c.proto, c.server_port));
    if (c.rule) e.rules.add(c.rule);
    if (c.same_host) e.sameHost = true;
    if (c.verdict === "violation") {
      e.verdict = "violation";
      e.severity = c.severity || e.severity;
    } else if (c.verdict === "unknown" && e.verdict === "allowed") {
      e.verdict = "unknown";
    }
    edges.set(key, e);
  }
  return { nodes, edges: [...edges.values()] };
}

export class GraphView implements View {
  readonly live = true;
  readonly filters = ["range", "vm", "host", "zone", "verdict", "sameHost", "dataset"] as const;
  private box!: HTMLElement;
  private summary!: HTMLElement;
  private list!: HTMLElement;
  private chart: Chart | null = null;
  private shown = "";
  private last: { nodes: Map<string, NodeInfo>; edges: Edge[] } | null = null;

  mount(root: HTMLElement, ctx: Context): void {
    this.box = h("div", {
      class: "chart tall",
      id: "graph",
      role: "img",
      "aria-label": "Conversation graph grouped by zone",
    });
    this.summary = h("p", { class: "muted", id: "graph-summary" });
    this.list = h("div", { id: "violating-edges" });
    root.append(
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Conversations by zone"),
        h(
          "div",
          { class: "legend-line" },
          h("span", { class: "key violation" }, "violation"),
          h("span", { class: "key unknown" }, "unknown endpoint"),
          h("span", { class: "key allowed" }, "allowed"),
          h(
            "span",
            { class: "muted" },
            "line width ∝ bytes (log) · arrow points to the server · click a VM for its detail",
          ),
        ),
        this.box,
        this.summary,
      ),
      h("section", { class: "panel" }, h("h2", null, "Violating edges"), this.list),
    );
    this.chart = chart(this.box, () => {
      if (this.last) this.draw(this.last.nodes, this.last.edges);
    });
    this.chart.on("click", (params: { dataType?: string; data?: unknown }) => {
      const data = params.data as { vm?: string } | undefined;
      if (params.dataType === "node" && data?.vm) ctx.go({ view: "vm", vm: data.vm });
    });
  }

  unmount(): void {
    if (this.chart) dispose(this.chart);
    this.chart = null;
  }

  async update(ctx: Context): Promise<void> {
    const params = filterParams(ctx.state);
    params.set("limit", String(LIMIT));
    params.set("sort", "-bytes");
    const data = await conversations(params, ctx.signal);
    if (ctx.signal.aborted) return;
    const { nodes, edges } = buildGraph(data.conversations);
    const violating = edges.filter((e) => e.verdict === "violation").sort((a, b) => b.bytes - a.bytes);
    this.box.dataset.nodes = String(nodes.size);
    this.box.dataset.edges = String(edges.length);
    this.box.dataset.violatingEdges = String(violating.length);
    fill(
      this.summary,
      `${plural(nodes.size, "endpoint")}, ${plural(edges.length, "edge")}, `,
      h("b", { class: violating.length ? "danger-text" : undefined }, plural(violating.length, "violating edge")),
      data.totals.conversations > data.conversations.length
        ? ` (the ${count(data.conversations.length)} largest of ${plural(data.totals.conversations, "conversation")})`
        : "",
    );
    this.renderList(ctx, violating);
    if (nodes.size === 0) {
      this.chart?.clear();
      fill(this.list, emptyRange(ctx, "conversations"));
      return;
    }
    // Redraw only when the picture changed (auto-refresh keeps the layout still).
    const signature = JSON.stringify(edges.map((e) => [e.client, e.server, e.bytes, e.verdict]));
    if (signature === this.shown) return;
    this.shown = signature;
    this.last = { nodes, edges };
    this.draw(nodes, edges);
  }

  private renderList(ctx: Context, violating: Edge[]): void {
    if (violating.length === 0) {
      fill(this.list, h("div", { class: "empty ok" }, "No violating conversations in this range."));
      return;
    }
    const SHOWN = 50;
    fill(
      this.list,
      h(
        "ul",
        { class: "edges" },
        violating.slice(0, SHOWN).map((e) =>
          h(
            "li",
            {
              class: "violation",
              "data-edge": `${label(e.clientLabel.vm, e.clientLabel.addr)}→${label(e.serverLabel.vm, e.serverLabel.addr)}`,
            },
            endpoint(ctx, e.clientLabel.vm, e.clientLabel.addr),
            h("span", { class: "arrow" }, " → "),
            endpoint(ctx, e.serverLabel.vm, e.serverLabel.addr),
            h("span", { class: "svc" }, [...e.services].join(", ")),
            h("span", { class: `badge violation sev-${e.severity || "none"}` }, e.severity || "violation"),
            e.sameHost ? h("span", { class: "badge samehost" }, "same host") : null,
            h("span", { class: "muted" }, ` ${bytes(e.bytes)}`),
            h("div", { class: "rule" }, [...e.rules].join(" · ")),
          ),
        ),
      ),
      violating.length > SHOWN
        ? h(
            "a",
            { class: "more", href: ctx.href({ view: "overview", verdict: "violation" }), "data-nav": true },
            `${count(violating.length - SHOWN)} more violating edges: all violations →`,
          )
        : null,
    );
  }

  private draw(nodes: Map<string, NodeInfo>, edges: Edge[]): void {
    if (!this.chart) return;
    const p = palette();
    const zones = [...new Set([...nodes.values()].map((n) => n.zone))].sort();
    const zoneColor = (z: string) => p.series[zones.indexOf(z) % p.series.length];
    // Zones on a large ellipse, each zone's endpoints on a ring inside a
    // tinted disc: the grouping is the layout, stable across refreshes.
    // Laid out in units, then scaled uniformly to the chart's pixels; two
    // invisible corner anchors make ECharts' fit-to-box a 1:1 mapping, so
    // the discs (sized in pixels) match their rings.
    const W = this.chart.getWidth();
    const H = this.chart.getHeight();
    const byZone = new Map<string, NodeInfo[]>();
    for (const n of nodes.values()) byZone.set(n.zone, [...(byZone.get(n.zone) ?? []), n]);
    const SPACING = 46; // units between neighbours on a ring
    const ring = (k: number) => (k > 1 ? Math.max(40, (k * (k <= 12 ? 1.5 * SPACING : SPACING)) / (2 * Math.PI)) : 0);
    const disc = (k: number) => ring(k) + 44;
    const discs = zones.map((z) => disc((byZone.get(z) ?? []).length));
    // Big enough that neighbouring discs (equal angles apart) do not overlap.
    const R = zones.length > 1 ? (2 * Math.max(...discs) + 16) / (2 * Math.sin(Math.PI / zones.length)) : 0;
    const aspect = Math.min(2.4, Math.max(1, W / Math.max(1, H)));
    const centres = zones.map((_, zi) => {
      const angle = (2 * Math.PI * zi) / zones.length - Math.PI / 2;
      return [R * aspect * Math.cos(angle), R * Math.sin(angle)];
    });
    const minX = Math.min(...centres.map(([x], i) => x - discs[i]));
    const maxX = Math.max(...centres.map(([x], i) => x + discs[i]));
    const minY = Math.min(...centres.map(([, y], i) => y - discs[i]));
    const maxY = Math.max(...centres.map(([, y], i) => y + discs[i]));
    const pad = 12;
    const scale = Math.min(1.6, (W - 2 * pad) / Math.max(1, maxX - minX), (H - 2 * pad) / Math.max(1, maxY - minY));
    const px = (x: number) => W / 2 + (x - (minX + maxX) / 2) * scale;
    const py = (y: number) => H / 2 + (y - (minY + maxY) / 2) * scale;
    const nodeSize = (b: number) => Math.max(6, Math.min(1, scale * 1.4) * (12 + 3 * Math.log10(1 + b)));
    const maxBytes = Math.max(1, ...edges.map((e) => e.bytes));
    const data: Record<string, unknown>[] = [
      { id: "anchor:0", x: 0, y: 0, symbolSize: 0, silent: true, label: { show: false }, tooltip: { show: false } },
      { id: "anchor:1", x: W, y: H, symbolSize: 0, silent: true, label: { show: false }, tooltip: { show: false } },
    ];
    zones.forEach((zone, zi) => {
      const [cx, cy] = centres[zi];
      const members = (byZone.get(zone) ?? []).sort((a, b) => a.id.localeCompare(b.id));
      const r = ring(members.length);
      data.push({
        id: `zone:${zone}`,
        name: zone,
        x: px(cx),
        y: py(cy),
        symbolSize: 2 * discs[zi] * scale,
        z: 0,
        itemStyle: {
          color: alpha(zoneColor(zone), 0.1),
          borderColor: alpha(zoneColor(zone), 0.6),
          borderWidth: 1,
          borderType: "dashed",
        },
        label: {
          show: true,
          position: "insideTop",
          distance: 2,
          color: zoneColor(zone),
          fontWeight: "bold",
          fontSize: 13,
          formatter: zone,
        },
        tooltip: { show: false },
        silent: true,
      });
      members.forEach((n, i) => {
        const a = (2 * Math.PI * i) / Math.max(1, members.length);
        data.push({
          id: n.id,
          name: n.vm || n.id.replace(/^addr:/, ""),
          vm: n.vm,
          zone,
          x: px(cx + r * Math.cos(a)),
          y: py(cy + 8 + r * Math.sin(a)),
          symbol: n.vm ? "circle" : "diamond",
          symbolSize: nodeSize(n.bytes),
          itemStyle: {
            color: zoneColor(zone),
            borderColor: n.violations > 0 ? p.danger : p.panel,
            borderWidth: n.violations > 0 ? 3 : 1.5,
          },
          label: {
            // Crowded zones name only their violators; hover names the rest.
            show: members.length <= 12 || n.violations > 0,
            color: p.text,
            fontSize: 11,
            position:
              members.length < 2
                ? "bottom"
                : Math.cos(a) > 0.35
                  ? "right"
                  : Math.cos(a) < -0.35
                    ? "left"
                    : Math.sin(a) < 0
                      ? "top"
                      : "bottom",
            textBorderColor: p.panel,
            textBorderWidth: 2,
          },
          bytes: n.bytes,
          violations: n.violations,
        });
      });
    });
    const links = edges.map((e) => {
      const width = 1 + 4 * (Math.log10(1 + e.bytes) / Math.log10(1 + maxBytes));
      const v = e.verdict;
      return {
        source: e.client,
        target: e.server,
        edge: e,
        lineStyle: {
          color: v === "violation" ? p.danger : v === "unknown" ? p.warn : p.muted,
          width: v === "violation" ? Math.max(3, width + 1.5) : width,
          type: v === "unknown" ? "dashed" : "solid",
          opacity: v === "violation" ? 0.95 : edges.length > 150 ? 0.2 : 0.55,
          curveness: 0.12,
        },
        z: v === "violation" ? 10 : 1,
      };
    });
    show(this.chart, {
      animation: false,
      tooltip: {
        ...tooltipBase(p),
        formatter: (params: unknown) => {
          const item = params as { dataType: string; data: Record<string, unknown> };
          if (item.dataType === "edge") {
            const e = item.data.edge as Edge;
            return tip(
              `${label(e.clientLabel.vm, e.clientLabel.addr)} → ${label(e.serverLabel.vm, e.serverLabel.addr)}`,
              [
                ["service", [...e.services].join(", ")],
                ["bytes", bytes(e.bytes)],
                ["flows", count(e.flows)],
                ["verdict", e.verdict],
                ["switched", e.sameHost ? "inside one host" : "network"],
              ],
              e.verdict === "violation" ? [...e.rules].join(" · ") : undefined,
            );
          }
          const d = item.data;
          return tip(String(d.name), [
            ["zone", String(d.zone)],
            ["bytes", bytes(Number(d.bytes))],
            ["violating conversations", count(Number(d.violations))],
          ]);
        },
      },
      series: [
        {
          type: "graph",
          layout: "none",
          roam: true,
          draggable: false,
          left: 0,
          top: 0,
          right: 0,
          bottom: 0,
          edgeSymbol: ["none", "arrow"],
          edgeSymbolSize: [0, 7],
          emphasis: { focus: "adjacency", lineStyle: { width: 5, opacity: 1 }, label: { show: true } },
          labelLayout: { hideOverlap: true },
          data,
          links,
        },
      ],
    });
  }
}
