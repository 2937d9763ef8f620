// Hosts: traffic switched inside each hypervisor (never on the wire, so
// only the vSwitch mirror sees it), cross-zone local traffic first; a
// selected host lists its local conversations.
import { exportUrl, get, type HostDetail, type Hosts, type HostSummary } from "../api";
import { chart, type Chart, dispose, palette, show, tip, tooltipBase } from "../charts";
import { fill, h } from "../dom";
import { bytes, count, plural } from "../format";
import { windowParams } from "../state";
import type { Context, View } from "../view";
import { cards, conversationTable, emptyRange, exports, lastSeen } from "../widgets";

export class HostsView implements View {
  readonly live = true;
  readonly filters = ["range", "dataset"] as const;
  private list!: HTMLElement;
  private detail!: HTMLElement;
  private bars!: HTMLElement;
  private chart: Chart | null = null;
  private shown: HostSummary[] = [];

  mount(root: HTMLElement, ctx: Context): void {
    this.list = h("div", { id: "hosts" });
    this.detail = h("div", { id: "host-detail" });
    this.bars = h("div", {
      class: "chart short",
      id: "host-bars",
      role: "img",
      "aria-label": "Bytes switched inside each host and over the network",
    });
    root.append(
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Hypervisor hosts"),
        h(
          "div",
          { class: "legend-line" },
          h("span", { class: "key allowed-local" }, "inside the host (never on the wire)"),
          h("span", { class: "key network" }, "over the network"),
          h("span", { class: "muted" }, "red: the host's VMs had violating conversations · click a host"),
        ),
        this.bars,
        this.list,
      ),
      this.detail,
    );
    this.chart = chart(this.bars);
    this.chart.on("click", (params: { dataIndex?: number }) => {
      const host = this.shown[params.dataIndex ?? -1];
      if (host) ctx.go({ host: host.host });
    });
  }

  unmount(): void {
    if (this.chart) dispose(this.chart);
    this.chart = null;
  }

  private draw(hosts: HostSummary[]): void {
    if (!this.chart) return;
    const p = palette();
    this.shown = hosts;
    this.bars.style.height = `${Math.max(120, 40 + hosts.length * 34)}px`;
    this.chart.resize();
    show(this.chart, {
      animation: false,
      grid: { left: 8, right: 24, top: 8, bottom: 24, containLabel: true },
      legend: { show: false },
      tooltip: {
        ...tooltipBase(p),
        trigger: "axis",
        axisPointer: { type: "shadow" },
        formatter: (items: unknown) => {
          const x = hosts[(items as { dataIndex: number }[])[0]?.dataIndex ?? -1];
          if (!x) return "";
          return tip(
            x.host,
            [
              ["inside the host", bytes(x.local_bytes)],
              ["over the network", bytes(Math.max(0, x.bytes - x.local_bytes))],
              ["local conversations", count(x.local_conversations)],
              ["local cross-zone", count(x.local_cross_zone)],
            ],
            x.violations > 0 ? plural(x.violations, "violating conversation") : undefined,
          );
        },
      },
      xAxis: {
        type: "value",
        axisLabel: { color: p.muted, hideOverlap: true, formatter: (v: number) => bytes(v) },
        splitLine: { lineStyle: { color: p.line } },
      },
      yAxis: {
        type: "category",
        inverse: true,
        data: hosts.map((x) => x.host),
        axisLabel: {
          color: p.text,
          fontWeight: "bold",
          formatter: (host: string) => (hosts.find((x) => x.host === host)?.violations ? `{bad|${host}}` : host),
          rich: { bad: { color: p.danger, fontWeight: "bold" } },
        },
        axisTick: { show: false },
        axisLine: { lineStyle: { color: p.line } },
      },
      series: [
        {
          name: "inside the host",
          type: "bar",
          stack: "b",
          barMaxWidth: 20,
          data: hosts.map((x) => ({ value: x.local_bytes, itemStyle: { color: p.accent } })),
        },
        {
          name: "over the network",
          type: "bar",
          stack: "b",
          barMaxWidth: 20,
          data: hosts.map((x) => ({
            value: Math.max(0, x.bytes - x.local_bytes),
            itemStyle: { color: p.muted, opacity: 0.35 },
          })),
        },
        {
          // Zero-width bar at the end of the stack, only for its label (the
          // bars' own opacity would dim it).
          name: "violations",
          type: "bar",
          stack: "b",
          barMaxWidth: 20,
          silent: true,
          data: hosts.map(() => 0),
          itemStyle: { color: "transparent" },
          label: {
            show: true,
            position: "right",
            color: p.danger,
            fontWeight: "bold",
            fontSize: 11,
            formatter: (item: { dataIndex: number }) => {
              const x = hosts[item.dataIndex];
              return x && x.violations > 0 ? plural(x.violations, "violation") : "";
            },
          },
        },
      ],
    });
  }

  async update(ctx: Context): Promise<void> {
    const s = ctx.state;
    const hosts = await get<Hosts>("hosts", windowParams(s), ctx.signal);
    const detail = s.host
      ? await get<HostDetail>(`hosts/${encodeURIComponent(s.host)}`, windowParams(s), ctx.signal)
      : null;
    if (ctx.signal.aborted) return;
    this.draw(hosts.hosts);
    if (hosts.hosts.length === 0) fill(this.list, emptyRange(ctx, "hosts"));
    else {
      fill(
        this.list,
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "hosts" },
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                h("th", null, "Host"),
                h("th", { class: "num" }, "VMs"),
                h("th", { class: "num" }, "Conversations"),
                h("th", { class: "num", title: "switched inside the host" }, "Local"),
                h("th", { class: "num", title: "local conversations between two zones" }, "Local cross-zone"),
                h("th", { class: "num" }, "Local bytes"),
                h("th", { class: "num" }, "Violations"),
                h("th", { class: "num" }, "Bytes"),
                h("th", null, "Last seen"),
              ),
            ),
            h(
              "tbody",
              null,
              hosts.hosts.map((x) =>
                h(
                  "tr",
                  {
                    class:
                      [x.violations > 0 ? "violation" : "", x.host === s.host ? "selected" : ""].join(" ").trim() ||
                      undefined,
                    "data-host": x.host,
                  },
                  h("td", null, h("a", { class: "vm", href: ctx.href({ host: x.host }), "data-nav": true }, x.host)),
                  h("td", { class: "num" }, count(x.vms)),
                  h("td", { class: "num" }, count(x.conversations)),
                  h("td", { class: "num" }, count(x.local_conversations)),
                  h(
                    "td",
                    { class: "num" },
                    x.local_cross_zone > 0 ? h("span", { class: "badge unknown" }, count(x.local_cross_zone)) : "0",
                  ),
                  h("td", { class: "num" }, bytes(x.local_bytes)),
                  h(
                    "td",
                    { class: "num" },
                    x.violations > 0 ? h("span", { class: "badge violation" }, count(x.violations)) : "0",
                  ),
                  h("td", { class: "num" }, bytes(x.bytes)),
                  h("td", { class: "muted" }, lastSeen(x.last_ms)),
                ),
              ),
            ),
          ),
        ),
      );
    }
    if (!detail) {
      fill(
        this.detail,
        hosts.hosts.length
          ? h("p", { class: "muted hint" }, "Pick a host to see the conversations its vSwitch kept inside.")
          : null,
      );
      return;
    }
    fill(
      this.detail,
      h(
        "section",
        { class: "panel" },
        h("h2", { class: "entity" }, `Inside ${detail.host}`),
        h("p", { class: "muted" }, `${plural(detail.vms.length, "VM")}: ${detail.vms.join(", ") || "none"}`),
        cards(detail.totals),
        h(
          "div",
          { class: "table-tools" },
          h("span"),
          exports(
            (format) => exportUrl(`hosts/${encodeURIComponent(detail.host)}`, windowParams(s), format),
            `host-${detail.host}`,
          ),
        ),
        detail.conversations.length
          ? conversationTable(ctx, detail.conversations, false)
          : h("div", { class: "empty" }, "No locally switched conversations in this range."),
      ),
    );
  }
}
