// Datasets: the live data and every replayed capture, with the span of time
// its flows cover. A replay keeps its capture's own time (a capture from
// March shows nothing under "last 24 h"), so each row opens the views on
// its own span; an admin deletes a replay here.
import { ApiError, type Dataset, type Datasets, exportUrl, get, remove } from "../api";
import { fill, h } from "../dom";
import { bytes, count, when } from "../format";
import type { Context, View } from "../view";
import { empty, exports } from "../widgets";

const HOUR_MS = 3_600_000;

/** The whole hours around a dataset's flows: the window that shows all of it (read from the hourly rollup). */
export function spanOf(d: Dataset): { from: string; to: string } {
  const from = Math.floor(d.first_ms / HOUR_MS) * HOUR_MS;
  const to = (Math.floor(d.last_ms / HOUR_MS) + 1) * HOUR_MS;
  const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");
  return { from: iso(from), to: iso(to) };
}

export class DatasetsView implements View {
  readonly live = true;
  readonly filters = [] as const;
  private box!: HTMLElement;

  mount(root: HTMLElement): void {
    this.box = h("div", { id: "datasets" });
    root.append(this.box);
  }

  unmount(): void {}

  async update(ctx: Context): Promise<void> {
    const data = await get<Datasets>("datasets", undefined, ctx.signal);
    if (ctx.signal.aborted) return;
    const status = h("span", { class: "muted", id: "dataset-status" });
    fill(
      this.box,
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Datasets"),
        h(
          "div",
          { class: "table-tools" },
          h(
            "span",
            { class: "muted" },
            "Live data is kept for the collector's retention days; a replayed capture keeps its own time and stays until it is deleted.",
          ),
          exports((format) => exportUrl("datasets", new URLSearchParams(), format), "datasets"),
        ),
        status,
        data.datasets.length === 0
          ? empty("Nothing stored yet: point an exporter at the collector, or replay a capture with --dataset NAME.")
          : h(
              "div",
              { class: "table-wrap" },
              h(
                "table",
                { class: "datasets" },
                h(
                  "thead",
                  null,
                  h(
                    "tr",
                    null,
                    h("th", null, "Dataset"),
                    h("th", null, "Kind"),
                    h("th", { class: "num" }, "Flows"),
                    h("th", null, "First packet"),
                    h("th", null, "Last packet"),
                    h("th", null, "Stored"),
                    h("th", { class: "num" }, "On disk"),
                    h("th", null, ""),
                  ),
                ),
                h(
                  "tbody",
                  null,
                  data.datasets.map((d) => this.row(ctx, d, status)),
                ),
              ),
            ),
      ),
    );
  }

  private row(ctx: Context, d: Dataset, status: HTMLElement): HTMLElement {
    const span = spanOf(d);
    const open = h(
      "a",
      {
        class: "vm",
        "data-nav": true,
        "data-dataset": d.name,
        href: ctx.href({ view: "overview", dataset: d.name, range: "custom", from: span.from, to: span.to }),
      },
      d.name || "(unnamed)",
    );
    let action: HTMLElement | null = null;
    if (!d.live) {
      action = h("button", { type: "button", class: "danger small", "data-delete": d.name }, "Delete");
      action.addEventListener("click", () => {
        if (
          !window.confirm(
            `Delete the dataset ${d.name}: ${count(d.flows)} flows, from every table? This cannot be undone.`,
          )
        )
          return;
        status.textContent = `deleting ${d.name}…`;
        remove(`datasets/${encodeURIComponent(d.name)}`)
          .then(() => ctx.go({}))
          .catch((err: unknown) => {
            status.textContent =
              err instanceof ApiError && err.status === 403
                ? "Deleting a dataset needs an admin token."
                : `Not deleted: ${err instanceof Error ? err.message : String(err)}`;
          });
      });
    }
    return h(
      "tr",
      null,
      h("td", null, open),
      h("td", null, h("span", { class: `badge ${d.live ? "allowed" : "unknown"}` }, d.live ? "live" : "replay")),
      h("td", { class: "num" }, count(d.flows)),
      h("td", null, when(d.first_ms)),
      h("td", null, when(d.last_ms)),
      h("td", null, when(d.stored_last_ms)),
      h("td", { class: "num" }, bytes(d.bytes)),
      h("td", null, action),
    );
  }
}
