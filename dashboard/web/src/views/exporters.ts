// Mirror coverage: every exporter (address, source id) the collector heard,
// when, how much, and whether it lost anything (sequence gaps, drops). A
// stale exporter means a host whose traffic is not being seen.
import { exportUrl, type Exporters, get } from "../api";
import { fill, h } from "../dom";
import { count, plural, when } from "../format";
import type { Context, View } from "../view";
import { empty, exports, lastSeen } from "../widgets";

export class ExportersView implements View {
  readonly live = true;
  readonly filters = [] as const;
  private box!: HTMLElement;

  mount(root: HTMLElement): void {
    this.box = h("div", { id: "exporters" });
    root.append(this.box);
  }

  unmount(): void {}

  async update(ctx: Context): Promise<void> {
    const data = await get<Exporters>("exporters", undefined, ctx.signal);
    if (ctx.signal.aborted) return;
    const stale = data.exporters.filter((e) => e.stale).length;
    const lossy = data.exporters.filter((e) => e.sequence_gaps > 0 || e.drops > 0).length;
    const card = (label: string, value: string, bad: boolean) =>
      h(
        "div",
        { class: `card${bad ? " danger alarm" : ""}` },
        h("div", { class: "label" }, label),
        h("div", { class: "value" }, value),
      );
    fill(
      this.box,
      h(
        "section",
        { class: "cards" },
        card("Exporters", count(data.exporters.length), false),
        card("Stale", count(stale), stale > 0),
        card("With gaps or drops", count(lossy), lossy > 0),
      ),
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Mirror coverage"),
        h(
          "div",
          { class: "table-tools" },
          h(
            "span",
            { class: "muted" },
            `Stale after ${data.stale_after_s} s of silence. Server time ${when(data.now_ms)}.`,
          ),
          exports((format) => exportUrl("exporters", new URLSearchParams(), format), "exporters"),
        ),
        data.exporters.length === 0
          ? empty("No exporter has sent anything yet: point an exporter at the collector.")
          : h(
              "div",
              { class: "table-wrap" },
              h(
                "table",
                { class: "exporters" },
                h(
                  "thead",
                  null,
                  h(
                    "tr",
                    null,
                    h("th", null, "Host"),
                    h("th", null, "Exporter"),
                    h("th", { class: "num" }, "Source id"),
                    h("th", null, "Last seen"),
                    h("th", { class: "num" }, "Packets"),
                    h("th", { class: "num" }, "Flows"),
                    h("th", { class: "num" }, "Sequence gaps"),
                    h("th", { class: "num" }, "Drops"),
                    h("th", { class: "num" }, "Templates"),
                    h("th", null, "State"),
                  ),
                ),
                h(
                  "tbody",
                  null,
                  data.exporters.map((e) => {
                    const bad = e.sequence_gaps > 0 || e.drops > 0;
                    return h(
                      "tr",
                      { class: e.stale || bad ? "violation" : undefined },
                      h(
                        "td",
                        null,
                        e.name
                          ? h(
                              "a",
                              { class: "vm", href: ctx.href({ view: "hosts", host: e.name }), "data-nav": true },
                              e.name,
                            )
                          : h("span", { class: "muted" }, "unnamed"),
                      ),
                      h("td", { class: "addr" }, e.exporter),
                      h("td", { class: "num" }, String(e.source_id)),
                      h("td", null, lastSeen(e.last_seen_ms)),
                      h("td", { class: "num" }, count(e.packets)),
                      h("td", { class: "num" }, count(e.flows)),
                      h(
                        "td",
                        { class: "num" },
                        e.sequence_gaps ? h("span", { class: "badge violation" }, count(e.sequence_gaps)) : "0",
                      ),
                      h(
                        "td",
                        { class: "num" },
                        e.drops ? h("span", { class: "badge violation" }, count(e.drops)) : "0",
                      ),
                      h("td", { class: "num" }, count(e.templates)),
                      h(
                        "td",
                        null,
                        e.stale
                          ? h("span", { class: "badge violation" }, "stale")
                          : bad
                            ? h("span", { class: "badge unknown" }, plural(e.sequence_gaps + e.drops, "loss", "losses"))
                            : h("span", { class: "badge allowed" }, "reporting"),
                      ),
                    );
                  }),
                ),
              ),
            ),
      ),
    );
  }
}
