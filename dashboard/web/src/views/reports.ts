// Reports: the compliance report of the chosen window, previewed here
// (statement, coverage per host, violations by zone pair, intra-host
// cross-zone traffic, policy revisions) and downloadable as HTML, PDF, CSV
// or JSON from the API's report endpoint.
import { ApiError, download, exportUrl, get } from "../api";
import type { Report } from "../api.gen";
import { fill, h } from "../dom";
import { bytes, count, when } from "../format";
import { windowParams } from "../state";
import type { Context, View } from "../view";

const FORMATS = [
  ["pdf", "PDF", "for the auditor's file"],
  ["html", "HTML", "printable page"],
  ["csv", "CSV", "one file, a section column first"],
  ["json", "JSON", "for scripts"],
] as const;

export class ReportsView implements View {
  readonly live = false;
  readonly filters = ["range", "dataset"] as const;
  private downloads!: HTMLElement;
  private preview!: HTMLElement;

  mount(root: HTMLElement): void {
    this.downloads = h("div", { id: "report-downloads" });
    this.preview = h("div", { id: "report-preview" });
    root.append(h("section", { class: "panel" }, h("h2", null, "Compliance report"), this.downloads), this.preview);
  }

  unmount(): void {}

  async update(ctx: Context): Promise<void> {
    const params = windowParams(ctx.state);
    const status = h("span", { class: "muted small", role: "status", id: "report-status" });
    fill(
      this.downloads,
      h(
        "p",
        { class: "muted" },
        'The report covers the time range and dataset chosen above. "No violations" is stated only for hosts whose mirror coverage was complete.',
      ),
      h(
        "div",
        { class: "downloads" },
        FORMATS.map(([format, label, what]) => {
          const b = h(
            "button",
            { type: "button", class: "button primary", "data-report": format },
            `Download ${label}`,
          );
          b.title = what;
          b.addEventListener("click", async () => {
            status.textContent = `preparing ${label}…`;
            try {
              const name = await download(exportUrl("report", params, format as "csv"), `eastwest-report.${format}`);
              status.textContent = `downloaded ${name}`;
            } catch (err) {
              status.textContent = err instanceof ApiError ? `${label} failed: ${err.message}` : `${label} failed`;
            }
          });
          return b;
        }),
        status,
      ),
    );
    const report = await get<Report>("report", params, ctx.signal);
    if (ctx.signal.aborted) return;
    this.render(report);
  }

  private render(r: Report): void {
    const clean = r.summary.violations === 0 && r.summary.hosts_incomplete.length === 0;
    fill(
      this.preview,
      h(
        "section",
        {
          class: `panel statement ${clean ? "ok" : r.summary.violations > 0 ? "bad" : "warn"}`,
          id: "report-statement",
        },
        h("h2", null, "Summary"),
        h("p", { class: "big" }, r.summary.statement),
        h(
          "p",
          { class: "muted", id: "report-window" },
          `Window ${r.from_ms === null ? "all time" : `${when(r.from_ms)} – ${when(r.to_ms)}`}` +
            ` · flows ${r.first_flow_ms === null ? "none" : `${when(r.first_flow_ms)} – ${when(r.last_flow_ms)}`}` +
            ` · ${r.dataset ? `dataset ${r.dataset}` : "every dataset"} · generated ${when(r.generated_ms)}`,
        ),
      ),
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Mirror coverage per host"),
        table(
          ["Host", "Exporters", "First", "Last", "Flows", "Gaps", "Drops", "Coverage"],
          r.coverage.map((c) =>
            h(
              "tr",
              { class: c.complete ? undefined : "unknown" },
              h("td", null, c.host),
              h("td", { class: "addr" }, c.exporters.join(" ")),
              h("td", null, when(c.first_ms)),
              h("td", null, when(c.last_ms)),
              h("td", { class: "num" }, count(c.flows)),
              h("td", { class: "num" }, count(c.sequence_gaps)),
              h("td", { class: "num" }, count(c.drops)),
              h(
                "td",
                null,
                h(
                  "span",
                  { class: `badge ${c.complete ? "allowed" : "unknown"}` },
                  c.complete ? "complete" : "incomplete",
                ),
              ),
            ),
          ),
        ),
      ),
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Violations by zone pair"),
        r.violations_by_zone_pair.length === 0
          ? h("div", { class: "empty ok" }, "None in this window.")
          : table(
              ["Client zone", "Server zone", "Severity", "Conversations", "Flows", "Bytes", "First", "Last"],
              r.violations_by_zone_pair.map((v) =>
                h(
                  "tr",
                  { class: "violation" },
                  h("td", null, v.client_zone),
                  h("td", null, v.server_zone),
                  h("td", null, h("span", { class: `badge violation sev-${v.severity || "none"}` }, v.severity || "–")),
                  h("td", { class: "num" }, count(v.conversations)),
                  h("td", { class: "num" }, count(v.flows)),
                  h("td", { class: "num" }, bytes(v.bytes)),
                  h("td", null, when(v.first_ms)),
                  h("td", null, when(v.last_ms)),
                ),
              ),
            ),
      ),
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Cross-zone traffic inside one host"),
        r.intra_host_cross_zone.length === 0
          ? h("div", { class: "empty ok" }, "None in this window.")
          : table(
              ["Host", "Client", "Server", "Verdict", "Flows", "Bytes"],
              r.intra_host_cross_zone.map((x) =>
                h(
                  "tr",
                  { class: x.verdict === "violation" ? "violation" : undefined },
                  h("td", null, x.host),
                  h("td", null, `${x.client_vm} (${x.client_zone})`),
                  h("td", null, `${x.server_vm} (${x.server_zone})`),
                  h("td", null, h("span", { class: `badge ${x.verdict}` }, x.verdict)),
                  h("td", { class: "num" }, count(x.flows)),
                  h("td", { class: "num" }, bytes(x.bytes)),
                ),
              ),
            ),
      ),
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Policy revisions in force"),
        table(
          ["Revision", "First", "Last", "Flows"],
          r.policy_revisions.map((p) =>
            h(
              "tr",
              null,
              h("td", { class: "addr" }, p.revision),
              h("td", null, when(p.first_ms)),
              h("td", null, when(p.last_ms)),
              h("td", { class: "num" }, count(p.flows)),
            ),
          ),
        ),
      ),
    );
  }
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
