// ECharts, only the parts the views use (tree-shaken by esbuild), with the
// page's colours for the light and dark themes.
import * as echarts from "echarts/core";
import { BarChart, GraphChart, HeatmapChart, LineChart } from "echarts/charts";
import {
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
} from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([
  BarChart,
  GraphChart,
  HeatmapChart,
  LineChart,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
]);

export type Chart = echarts.ECharts;
export type Option = echarts.EChartsCoreOption;

/** Colours read from the page's CSS variables, so charts follow the theme. */
export interface Palette {
  text: string;
  muted: string;
  line: string;
  panel: string;
  panel2: string;
  accent: string;
  accentBg: string;
  danger: string;
  ok: string;
  warn: string;
  series: string[];
}

export function palette(): Palette {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string) => css.getPropertyValue(name).trim();
  return {
    text: v("--text"),
    muted: v("--muted"),
    line: v("--line"),
    panel: v("--panel"),
    panel2: v("--panel-2"),
    accent: v("--accent"),
    accentBg: v("--accent-bg"),
    danger: v("--danger"),
    ok: v("--ok"),
    warn: v("--warn"),
    series: [1, 2, 3, 4, 5, 6, 7, 8].map((i) => v(`--zone-${i}`)),
  };
}

/** `#rrggbb` with an alpha channel, as `rgba(...)`. */
export function alpha(hex: string, a: number): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return hex;
  return `rgba(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)}, ${a})`;
}

/**
 * A chart in `el`, resized with its box (then `onResize`, for layouts
 * computed in pixels). Dispose it with `dispose`.
 */
export function chart(el: HTMLElement, onResize?: () => void): Chart {
  const instance = echarts.init(el, undefined, { renderer: "canvas" });
  const observer = new ResizeObserver(() => {
    instance.resize();
    onResize?.();
  });
  observer.observe(el);
  instance.on("finished", () => {
    el.dataset.rendered = "true";
  });
  disposers.set(instance, () => observer.disconnect());
  return instance;
}

const disposers = new WeakMap<Chart, () => void>();

/**
 * Replace the chart's option. The chart's element carries
 * `data-rendered="true"` once the new picture is painted (tests wait on it).
 */
export function show(instance: Chart, option: Option): void {
  instance.getDom().dataset.rendered = "false";
  instance.setOption(option, true);
}

export function dispose(instance: Chart): void {
  disposers.get(instance)?.();
  instance.dispose();
}

/** Tooltip contents as DOM (never HTML strings: names come from the inventory). */
export function tip(title: string, rows: [string, string][], alert?: string): HTMLElement {
  const box = document.createElement("div");
  box.className = "tip";
  const head = document.createElement("div");
  head.className = "tip-title";
  head.textContent = title;
  box.appendChild(head);
  if (alert) {
    const a = document.createElement("div");
    a.className = "tip-alert";
    a.textContent = alert;
    box.appendChild(a);
  }
  for (const [k, val] of rows) {
    const row = document.createElement("div");
    row.className = "tip-row";
    const key = document.createElement("span");
    key.textContent = k;
    const value = document.createElement("b");
    value.textContent = val;
    row.append(key, value);
    box.appendChild(row);
  }
  return box;
}

/** Tooltip options shared by every chart: themed, DOM content, no HTML from data. */
export function tooltipBase(p: Palette): Record<string, unknown> {
  return {
    backgroundColor: p.panel,
    borderColor: p.line,
    textStyle: { color: p.text },
    extraCssText: "box-shadow: 0 4px 16px rgba(0,0,0,.18); border-radius: 6px;",
    confine: true,
  };
}
