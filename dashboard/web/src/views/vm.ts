// One VM: its zones, where it ran (placements), its traffic over time and
// its conversations as client or server.
import { exportUrl, get, type Timeseries, type VmDetail, vmPacketsUrl } from "../api";
import { chart, type Chart, dispose, show, palette } from "../charts";
import { fill, h } from "../dom";
import { bytes, when } from "../format";
import { windowParams } from "../state";
import type { Context, View } from "../view";
import { cards, conversationTable, empty, exports, packetsButton } from "../widgets";

export class VmView implements View {
  readonly live = true;
  readonly filters = ["range", "dataset"] as const;
  private head!: HTMLElement;
  private body!: HTMLElement;
  private series!: HTMLElement;
  private chart: Chart | null = null;

  mount(root: HTMLElement): void {
    this.head = h("div", { id: "vm-head" });
    this.series = h("div", { class: "chart short", id: "vm-series" });
    this.body = h("div", { id: "vm-conversations" });
    root.append(
      this.head,
      h("section", { class: "panel" }, h("h2", null, "Traffic over time"), this.series),
      this.body,
    );
    this.chart = chart(this.series);
  }

  unmount(): void {
    if (this.chart) dispose(this.chart);
    this.chart = null;
  }

  async update(ctx: Context): Promise<void> {
    const s = ctx.state;
    if (!s.vm) {
      fill(this.head, empty("No VM chosen: click a VM's name in any view."));
      fill(this.body);
      return;
    }
    const params = windowParams(s);
    const seriesParams = windowParams(s);
    seriesParams.set("vm", s.vm);
    const [vm, series] = await Promise.all([
      get<VmDetail>(`vms/${encodeURIComponent(s.vm)}`, params, ctx.signal),
      get<Timeseries>("timeseries", seriesParams, ctx.signal),
    ]);
    if (ctx.signal.aborted) return;
    fill(
      this.head,
      h(
        "section",
        { class: "panel vm-head" },
        h("h2", { class: "entity" }, vm.name),
        h(
          "div",
          { class: "facts" },
          h(
            "div",
            null,
            h("span", { class: "muted" }, "Zones "),
            vm.zones.map((z) => h("span", { class: "badge zone" }, z)),
          ),
          h(
            "div",
            null,
            h("span", { class: "muted" }, "Placements "),
            h(
              "ol",
              { class: "placements" },
              vm.placements.map((pl) =>
                h(
                  "li",
                  null,
                  h("a", { href: ctx.href({ view: "hosts", host: pl.host }), "data-nav": true }, pl.host),
                  h("span", { class: "muted" }, ` ${when(pl.first_ms)} – ${when(pl.last_ms)}`),
                ),
              ),
            ),
            vm.placements.length > 1 ? h("span", { class: "badge unknown" }, "migrated in this range") : null,
          ),
          h(
            "div",
            { class: "vm-packets" },
            h("span", { class: "muted" }, "Packets of its conversations "),
            packetsButton(vmPacketsUrl(vm.name, params)),
          ),
        ),
        cards(vm.totals),
      ),
    );
    this.draw(series);
    fill(
      this.body,
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Conversations"),
        h(
          "div",
          { class: "table-tools" },
          h("span"),
          exports((format) => exportUrl(`vms/${encodeURIComponent(vm.name)}`, params, format), `vm-${vm.name}`),
        ),
        vm.conversations.length
          ? conversationTable(ctx, vm.conversations, false)
          : empty("No conversations in this range."),
      ),
    );
  }

  private draw(series: Timeseries): void {
    if (!this.chart) return;
    const p = palette();
    show(this.chart, {
      animation: false,
      grid: { left: 64, right: 16, top: 16, bottom: 28 },
      tooltip: {
        trigger: "axis",
        backgroundColor: p.panel,
        borderColor: p.line,
        textStyle: { color: p.text },
        valueFormatter: (v: unknown) => bytes(Number(v)),
      },
      xAxis: {
        type: "time",
        axisLabel: { color: p.muted, hideOverlap: true },
        axisLine: { lineStyle: { color: p.line } },
      },
      yAxis: {
        type: "value",
        axisLabel: { color: p.muted, formatter: (v: number) => bytes(v) },
        splitLine: { lineStyle: { color: p.line } },
      },
      series: [
        {
          name: "bytes",
          type: "line",
          step: "start",
          showSymbol: false,
          color: p.accent,
          areaStyle: { opacity: 0.15 },
          data: series.points.map((pt) => [pt.t_ms, pt.bytes]),
        },
        {
          name: "violating bytes",
          type: "line",
          step: "start",
          showSymbol: false,
          color: p.danger,
          areaStyle: { opacity: 0.3 },
          data: series.points.map((pt) => [pt.t_ms, pt.violation_bytes]),
        },
      ],
    });
  }
}
