// Overview: totals, the traffic over time with violations marked, the
// newest violations, and the top conversations (sortable, paged, exported).
import {
  type Conversation,
  conversations as fetchConversations,
  exportUrl,
  get,
  packetsUrl,
  type Timeseries,
  type Violations,
} from "../api";
import { chart, type Chart, dispose, show, palette, tip, tooltipBase } from "../charts";
import { fill, h } from "../dom";
import { bytes, count, plural, service, when } from "../format";
import { filterParams, windowParams } from "../state";
import type { Context, View } from "../view";
import {
  cards,
  conversationTable,
  emptyRange,
  endpoint,
  exports,
  evidence,
  packetsButton,
  pager,
  settle,
  unavailable,
  windowLine,
} from "../widgets";

const PAGE = 100;

/** RFC 3339 without milliseconds, as the API takes it. */
function instant(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export class OverviewView implements View {
  readonly live = true;
  readonly filters = ["range", "vm", "host", "zone", "verdict", "sameHost", "dataset"] as const;
  private totals!: HTMLElement;
  private series!: HTMLElement;
  private seriesNote!: HTMLElement;
  private violations!: HTMLElement;
  private table!: HTMLElement;
  private chart: Chart | null = null;
  private top!: HTMLElement;
  private topChart: Chart | null = null;
  private topRows: Conversation[] = [];
  private violationParams = new URLSearchParams();
  /** Buckets of the series shown, for click-to-zoom. */
  private step: { t0: number; ms: number } | null = null;

  mount(root: HTMLElement, ctx: Context): void {
    this.totals = h("div", { id: "totals" });
    this.series = h("div", {
      class: "chart",
      id: "timeseries",
      role: "img",
      "aria-label": "Traffic and violations over time",
    });
    this.seriesNote = h("div");
    this.violations = h("div", { id: "violations" });
    this.table = h("div", { id: "conversations" });
    this.top = h("div", {
      class: "chart",
      id: "top-conversations",
      role: "img",
      "aria-label": "Top conversations by bytes",
    });
    root.append(
      this.totals,
      h(
        "div",
        { class: "split" },
        h(
          "div",
          { class: "column" },
          h(
            "section",
            { class: "panel" },
            h("h2", null, "Traffic over time ", h("span", { class: "hint-inline" }, "click to zoom into a step")),
            this.seriesNote,
            this.series,
          ),
          h("section", { class: "panel" }, h("h2", null, "Top conversations by bytes"), this.top),
        ),
        h("section", { class: "panel side" }, h("h2", null, "Newest violations"), this.violations),
      ),
      h("section", { class: "panel" }, h("h2", null, "Conversations"), this.table),
    );
    this.chart = chart(this.series);
    this.topChart = chart(this.top);
    this.topChart.on("click", (params: { dataIndex?: number }) => {
      const c = this.topRows[params.dataIndex ?? -1];
      if (c?.client_vm) ctx.go({ view: "vm", vm: c.client_vm });
    });
    // Click the chart: zoom to that step of time (a custom window).
    this.chart.getZr().on("click", (event: { offsetX: number; offsetY: number }) => {
      const step = this.step;
      if (!this.chart || !step || !this.chart.containPixel({ gridIndex: 0 }, [event.offsetX, event.offsetY])) return;
      const [t] = this.chart.convertFromPixel({ gridIndex: 0 }, [event.offsetX, event.offsetY]) as number[];
      const from = step.t0 + Math.floor((t - step.t0) / step.ms) * step.ms;
      ctx.go({ range: "custom", from: instant(from), to: instant(from + step.ms) });
    });
  }

  unmount(): void {
    if (this.chart) dispose(this.chart);
    if (this.topChart) dispose(this.topChart);
    this.chart = null;
    this.topChart = null;
  }

  async update(ctx: Context): Promise<void> {
    const s = ctx.state;
    const params = filterParams(s);
    params.set("sort", s.sort);
    params.set("limit", String(PAGE));
    params.set("offset", String(s.offset));
    const violationParams = windowParams(s);
    if (s.vm) violationParams.set("vm", s.vm);
    if (s.zone) violationParams.set("zone", s.zone);
    this.violationParams = new URLSearchParams(violationParams);
    violationParams.set("limit", "8");
    // The top ten by bytes: the table's first page when it is sorted so.
    const ownTop = s.sort !== "-bytes" || s.offset !== 0;
    const topParams = filterParams(s);
    topParams.set("sort", "-bytes");
    topParams.set("limit", "10");
    // The side panels fail on their own: the conversations still show.
    const [conversations, series, violations, top] = await Promise.all([
      fetchConversations(params, ctx.signal),
      settle(get<Timeseries>("timeseries", filterParams(s), ctx.signal)),
      s.verdict && s.verdict !== "violation"
        ? Promise.resolve(null)
        : settle(get<Violations>("violations", violationParams, ctx.signal)),
      ownTop ? fetchConversations(topParams, ctx.signal) : Promise.resolve(null),
    ]);
    if (ctx.signal.aborted) return;
    fill(this.totals, cards(conversations.totals), windowLine(conversations));
    if (series instanceof Error) {
      this.chart?.clear();
      this.series.dataset.points = "0";
      fill(this.seriesNote, unavailable(series));
    } else {
      fill(this.seriesNote);
      this.renderSeries(series);
    }
    if (violations instanceof Error) fill(this.violations, unavailable(violations));
    else this.renderViolations(ctx, violations);
    this.renderTop((top ?? conversations).conversations.slice(0, 10));
    const list = conversations.conversations;
    fill(
      this.table,
      h(
        "div",
        { class: "table-tools" },
        pager(ctx, list.length, conversations.totals.conversations, PAGE),
        exports((format) => {
          const p = filterParams(s);
          p.set("sort", s.sort);
          p.set("limit", "10000");
          return exportUrl("conversations", p, format);
        }, "conversations"),
      ),
      list.length > 0 ? conversationTable(ctx, list, true) : emptyRange(ctx, "conversations"),
    );
  }

  private renderSeries(series: Timeseries): void {
    if (!this.chart) return;
    const p = palette();
    const t = series.points.map((pt) => pt.t_ms);
    this.step = t.length ? { t0: t[0], ms: series.step_ms } : null;
    const stepLabel =
      series.step_ms >= 3_600_000 ? `${series.step_ms / 3_600_000} h` : `${series.step_ms / 60_000} min`;
    this.series.dataset.points = String(series.points.length);
    show(this.chart, {
      animation: false,
      grid: { left: 64, right: 56, top: 30, bottom: 54 },
      legend: { bottom: 0, textStyle: { color: p.muted }, itemWidth: 14, itemHeight: 8 },
      tooltip: {
        ...tooltipBase(p),
        trigger: "axis",
        formatter: (items: unknown) => {
          const list = items as { dataIndex: number }[];
          const pt = series.points[list[0]?.dataIndex ?? 0];
          if (!pt) return "";
          return tip(
            `${when(pt.t_ms)} (+${stepLabel})`,
            [
              ["bytes", bytes(pt.bytes)],
              ["of which violating", bytes(pt.violation_bytes)],
              ["flows", count(pt.flows)],
              ["violating flows", count(pt.violations)],
            ],
            pt.violations > 0 ? plural(pt.violations, "violating flow") : undefined,
          );
        },
      },
      xAxis: {
        type: "time",
        min: t[0],
        max: t.length ? t[t.length - 1] + series.step_ms : undefined,
        axisLabel: { color: p.muted, hideOverlap: true },
        axisLine: { lineStyle: { color: p.line } },
      },
      yAxis: [
        {
          type: "value",
          name: "bytes",
          nameTextStyle: { color: p.muted },
          axisLabel: { color: p.muted, formatter: (v: number) => bytes(v) },
          splitLine: { lineStyle: { color: p.line } },
        },
        {
          type: "value",
          name: "violating flows",
          minInterval: 1,
          nameTextStyle: { color: p.danger },
          axisLabel: { color: p.danger },
          splitLine: { show: false },
        },
      ],
      series: [
        {
          name: "bytes",
          type: "line",
          step: "start",
          showSymbol: false,
          lineStyle: { color: p.accent, width: 1.5 },
          itemStyle: { color: p.accent },
          areaStyle: { color: p.accent, opacity: 0.15 },
          data: series.points.map((pt) => [pt.t_ms, pt.bytes]),
        },
        {
          name: "violating bytes",
          type: "line",
          step: "start",
          showSymbol: false,
          lineStyle: { color: p.danger, width: 1.5 },
          itemStyle: { color: p.danger },
          areaStyle: { color: p.danger, opacity: 0.3 },
          data: series.points.map((pt) => [pt.t_ms, pt.violation_bytes]),
        },
        {
          name: "violating flows",
          type: "bar",
          yAxisIndex: 1,
          barMaxWidth: 10,
          itemStyle: { color: p.danger, opacity: 0.8 },
          data: series.points.map((pt) => [pt.t_ms, pt.violations]),
        },
      ],
    });
  }

  private renderTop(rows: Conversation[]): void {
    if (!this.topChart) return;
    const p = palette();
    this.topRows = rows;
    const name = (vm: string, addr: string | null) => vm || addr || "?";
    const labels = rows.map(
      (c) =>
        `${name(c.client_vm, c.client_addr)} → ${name(c.server_vm, c.server_addr)}  ${service(c.proto, c.server_port)}`,
    );
    const bar = (c: Conversation, value: number, rev: boolean) => ({
      value,
      itemStyle: {
        color: c.verdict === "violation" ? p.danger : c.verdict === "unknown" ? p.warn : p.accent,
        opacity: rev ? 0.55 : 1,
      },
    });
    this.top.style.height = `${Math.max(120, 36 + rows.length * 30)}px`;
    this.topChart.resize();
    show(this.topChart, {
      animation: false,
      grid: { left: 8, right: 72, top: 8, bottom: 24, containLabel: true },
      tooltip: {
        ...tooltipBase(p),
        trigger: "axis",
        axisPointer: { type: "shadow" },
        formatter: (items: unknown) => {
          const c = rows[(items as { dataIndex: number }[])[0]?.dataIndex ?? -1];
          if (!c) return "";
          return tip(
            `${name(c.client_vm, c.client_addr)} → ${name(c.server_vm, c.server_addr)}`,
            [
              ["service", service(c.proto, c.server_port)],
              ["client → server", bytes(c.bytes_fwd)],
              ["server → client", bytes(c.bytes_rev)],
              ["flows", count(c.flows)],
              ["verdict", c.verdict],
            ],
            c.verdict === "violation" ? c.rule : undefined,
          );
        },
      },
      xAxis: {
        type: "value",
        splitNumber: this.topChart.getWidth() < 600 ? 2 : 5,
        axisLabel: { color: p.muted, hideOverlap: true, formatter: (v: number) => bytes(v) },
        splitLine: { lineStyle: { color: p.line } },
      },
      yAxis: {
        type: "category",
        inverse: true,
        data: labels,
        axisLabel: {
          color: p.text,
          fontSize: 12,
          width: Math.max(120, this.topChart.getWidth() * 0.4),
          overflow: "truncate",
        },
        axisLine: { lineStyle: { color: p.line } },
        axisTick: { show: false },
      },
      series: [
        {
          name: "client → server",
          type: "bar",
          stack: "bytes",
          barMaxWidth: 18,
          data: rows.map((c) => bar(c, c.bytes_fwd, false)),
        },
        {
          name: "server → client",
          type: "bar",
          stack: "bytes",
          barMaxWidth: 18,
          data: rows.map((c) => bar(c, c.bytes_rev, true)),
          label: {
            show: true,
            position: "right",
            color: p.muted,
            fontSize: 11,
            formatter: (x: { dataIndex: number }) => bytes(rows[x.dataIndex]?.bytes ?? 0),
          },
        },
      ],
    });
  }

  private renderViolations(ctx: Context, violations: Violations | null): void {
    if (!violations) {
      fill(this.violations, h("div", { class: "empty" }, "Filtered to non-violating traffic."));
      return;
    }
    if (violations.violations.length === 0) {
      fill(this.violations, h("div", { class: "empty ok" }, "No violations in this range."));
      return;
    }
    fill(
      this.violations,
      exports((format) => {
        const p = new URLSearchParams(this.violationParams);
        p.set("limit", "10000");
        return exportUrl("violations", p, format);
      }, "violations"),
      h(
        "ol",
        { class: "violations" },
        violations.violations.map((v) =>
          h(
            "li",
            { class: `sev-${v.severity || "none"}` },
            h(
              "div",
              { class: "pair" },
              endpoint(ctx, v.client_vm, v.client_addr),
              h("span", { class: "arrow" }, " → "),
              endpoint(ctx, v.server_vm, v.server_addr),
              h("span", { class: "svc" }, service(v.proto, v.server_port)),
            ),
            h("div", { class: "rule" }, v.rule),
            h(
              "div",
              { class: "meta" },
              h("span", { class: `badge violation sev-${v.severity || "none"}` }, v.severity || "violation"),
              ` ${v.client_zone} → ${v.server_zone} · ${bytes(v.bytes)} · last ${when(v.last_ms)}`,
              v.same_host ? h("span", { class: "badge samehost" }, "same host") : null,
            ),
            h(
              "div",
              { class: "meta" },
              `seen by ${v.observation_points.map((o) => `${o.observer} (${o.encap})`).join(", ")}`,
            ),
            h("div", { class: "meta" }, packetsButton(packetsUrl(v.flows_url, ctx.state.dataset || undefined))),
            evidence(v.flows_url),
          ),
        ),
      ),
      violations.total > violations.violations.length
        ? h(
            "a",
            { class: "more", href: ctx.href({ verdict: "violation" }), "data-nav": true },
            `all ${plural(violations.total, "violation")} →`,
          )
        : null,
    );
  }
}
