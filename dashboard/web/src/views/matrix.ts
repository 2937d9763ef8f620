// Zone × zone matrix: client zone (row) → server zone (column), shaded by
// bytes; a cell with any violating conversation is red with its count.
// The same cells follow as a table, violating ones first.
import { exportUrl, get, type Matrix, type MatrixCell } from "../api";
import { chart, type Chart, dispose, show, palette, tip, tooltipBase } from "../charts";
import { fill, h } from "../dom";
import { bytes, count, plural } from "../format";
import { windowParams } from "../state";
import type { Context, View } from "../view";
import { emptyRange, exports } from "../widgets";

export class MatrixView implements View {
  readonly live = true;
  readonly filters = ["range", "verdict", "sameHost", "dataset"] as const;
  private box!: HTMLElement;
  private table!: HTMLElement;
  private chart: Chart | null = null;

  mount(root: HTMLElement, ctx: Context): void {
    this.box = h("div", {
      class: "chart square",
      id: "matrix",
      role: "img",
      "aria-label": "Zone by zone traffic matrix",
    });
    this.table = h("div", { id: "matrix-cells" });
    root.append(
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Zone × zone"),
        h(
          "div",
          { class: "legend-line" },
          h("span", { class: "key violation" }, "cell with violations (count)"),
          h(
            "span",
            { class: "muted" },
            "rows: client zone · columns: server zone · shade: bytes · click a cell for its conversations",
          ),
        ),
        this.box,
      ),
      h("section", { class: "panel" }, h("h2", null, "Cells"), this.table),
    );
    this.chart = chart(this.box);
    this.chart.on("click", (params: { data?: unknown }) => {
      const cell = (params.data as { cell?: MatrixCell } | undefined)?.cell;
      if (cell)
        ctx.go({
          view: "overview",
          zone: cell.client_zone,
          verdict: cell.violations > 0 ? "violation" : ctx.state.verdict,
        });
    });
  }

  unmount(): void {
    if (this.chart) dispose(this.chart);
    this.chart = null;
  }

  private params(ctx: Context): URLSearchParams {
    const p = windowParams(ctx.state);
    if (ctx.state.verdict) p.set("verdict", ctx.state.verdict);
    if (ctx.state.sameHost) p.set("same_host", ctx.state.sameHost);
    return p;
  }

  async update(ctx: Context): Promise<void> {
    const m = await get<Matrix>("zones/matrix", this.params(ctx), ctx.signal);
    if (ctx.signal.aborted) return;
    const violating = m.cells.filter((c) => c.violations > 0);
    this.box.dataset.zones = String(m.zones.length);
    this.box.dataset.violatingCells = String(violating.length);
    this.draw(m);
    if (m.cells.length === 0) {
      fill(this.table, emptyRange(ctx, "traffic"));
      return;
    }
    const cells = [...m.cells].sort((a, b) => b.violations - a.violations || b.bytes - a.bytes);
    fill(
      this.table,
      h(
        "div",
        { class: "table-tools" },
        h(
          "span",
          { class: "muted" },
          `${plural(m.cells.length, "zone pair")}, `,
          h(
            "b",
            { class: violating.length ? "danger-text" : undefined },
            plural(violating.length, "with violations", "with violations"),
          ),
        ),
        exports((format) => exportUrl("zones/matrix", this.params(ctx), format), "zone-matrix"),
      ),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "cells" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              h("th", null, "Client zone"),
              h("th", null, ""),
              h("th", null, "Server zone"),
              h("th", { class: "num" }, "Conversations"),
              h("th", { class: "num" }, "Violating"),
              h("th", { class: "num" }, "Flows"),
              h("th", { class: "num" }, "Bytes"),
              h("th", { class: "num" }, "Violating bytes"),
            ),
          ),
          h(
            "tbody",
            null,
            cells.map((c) =>
              h(
                "tr",
                { class: c.violations > 0 ? "violation" : undefined, "data-cell": `${c.client_zone}→${c.server_zone}` },
                h(
                  "td",
                  null,
                  h(
                    "a",
                    { href: ctx.href({ view: "overview", zone: c.client_zone }), "data-nav": true },
                    c.client_zone,
                  ),
                ),
                h("td", { class: "arrow" }, "→"),
                h(
                  "td",
                  null,
                  h(
                    "a",
                    { href: ctx.href({ view: "overview", zone: c.server_zone }), "data-nav": true },
                    c.server_zone,
                  ),
                ),
                h("td", { class: "num" }, count(c.conversations)),
                h(
                  "td",
                  { class: "num" },
                  c.violations > 0 ? h("span", { class: "badge violation" }, count(c.violations)) : "0",
                ),
                h("td", { class: "num" }, count(c.flows)),
                h("td", { class: "num" }, bytes(c.bytes)),
                h("td", { class: "num" }, c.violation_bytes ? bytes(c.violation_bytes) : "–"),
              ),
            ),
          ),
        ),
      ),
    );
  }

  private draw(m: Matrix): void {
    if (!this.chart) return;
    const p = palette();
    const zones = m.zones;
    const index = new Map(zones.map((z, i) => [z, i]));
    const logMax = Math.max(1, ...m.cells.map((c) => Math.log10(1 + c.bytes)));
    const seen = new Set(m.cells.map((c) => `${c.client_zone}\u0000${c.server_zone}`));
    const quiet: [number, number, number][] = [];
    zones.forEach((client, y) => {
      zones.forEach((server, x) => {
        if (!seen.has(`${client}\u0000${server}`)) quiet.push([x, y, 0]);
      });
    });
    const item = (c: MatrixCell) => ({
      value: [index.get(c.server_zone) ?? 0, index.get(c.client_zone) ?? 0, Math.log10(1 + c.bytes)],
      cell: c,
    });
    const fmt = (params: unknown) => {
      const c = (params as { data: { cell: MatrixCell } }).data.cell;
      return c.violations > 0 ? `${plural(c.violations, "violation")}\n${bytes(c.bytes)}` : bytes(c.bytes);
    };
    show(this.chart, {
      animation: false,
      grid: { left: 130, right: 24, top: 16, bottom: 96 },
      tooltip: {
        ...tooltipBase(p),
        formatter: (params: unknown) => {
          const c = (params as { data: { cell: MatrixCell } }).data.cell;
          return tip(
            `${c.client_zone} → ${c.server_zone}`,
            [
              ["conversations", count(c.conversations)],
              ["flows", count(c.flows)],
              ["bytes", bytes(c.bytes)],
              ["violating conversations", count(c.violations)],
              ["violating bytes", bytes(c.violation_bytes)],
            ],
            c.violations > 0 ? plural(c.violations, "violating conversation") : undefined,
          );
        },
      },
      xAxis: {
        type: "category",
        data: zones,
        name: "server zone",
        nameLocation: "middle",
        nameGap: 70,
        nameTextStyle: { color: p.muted },
        axisLabel: { color: p.text, rotate: 30, interval: 0 },
        axisLine: { lineStyle: { color: p.line } },
        splitLine: { show: false },
      },
      yAxis: {
        type: "category",
        data: zones,
        name: "client zone",
        nameLocation: "middle",
        nameGap: 110,
        nameTextStyle: { color: p.muted },
        axisLabel: { color: p.text, interval: 0 },
        inverse: true,
        axisLine: { lineStyle: { color: p.line } },
        splitLine: { show: false },
      },
      visualMap: {
        show: false,
        seriesIndex: 0,
        min: 0,
        max: logMax,
        dimension: 2,
        inRange: { color: [p.accentBg, p.accent] },
      },
      series: [
        {
          name: "traffic",
          type: "heatmap",
          data: m.cells.filter((c) => c.violations === 0).map(item),
          label: {
            show: true,
            color: p.text,
            fontSize: 11,
            formatter: fmt,
            textBorderColor: p.panel,
            textBorderWidth: 2,
          },
          itemStyle: { borderColor: p.panel, borderWidth: 2 },
        },
        {
          name: "no traffic",
          type: "heatmap",
          data: quiet,
          silent: true,
          tooltip: { show: false },
          itemStyle: { color: p.panel2, borderColor: p.panel, borderWidth: 2 },
        },
        {
          name: "violations",
          type: "heatmap",
          data: m.cells.filter((c) => c.violations > 0).map(item),
          label: { show: true, color: "#fff", fontWeight: "bold", fontSize: 12, lineHeight: 17, formatter: fmt },
          itemStyle: { color: p.danger, borderColor: p.panel, borderWidth: 2 },
        },
      ],
    });
  }
}
