// Hosts: traffic switched inside each hypervisor (never on the wire, so
// only the vSwitch mirror sees it), cross-zone local traffic first; a
// selected host lists its local conversations.
import { exportUrl, get, HostDetail, Hosts } from "../api";
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

  mount(root: HTMLElement): void {
    this.list = h("div", { id: "hosts" });
    this.detail = h("div", { id: "host-detail" });
    root.append(h("section", { class: "panel" }, h("h2", null, "Hypervisor hosts"), this.list), this.detail);
  }

  unmount(): void {}

  async update(ctx: Context): Promise<void> {
    const s = ctx.state;
    const hosts = await get<Hosts>("hosts", windowParams(s), ctx.signal);
    const detail = s.host
      ? await get<HostDetail>(`hosts/${encodeURIComponent(s.host)}`, windowParams(s), ctx.signal)
      : null;
    if (ctx.signal.aborted) return;
    if (hosts.hosts.length === 0) fill(this.list, emptyRange(ctx, "hosts"));
    else {
      fill(this.list, h("div", { class: "table-wrap" }, h("table", { class: "hosts" },
        h("thead", null, h("tr", null,
          h("th", null, "Host"), h("th", { class: "num" }, "VMs"), h("th", { class: "num" }, "Conversations"),
          h("th", { class: "num", title: "switched inside the host" }, "Local"),
          h("th", { class: "num", title: "local conversations between two zones" }, "Local cross-zone"),
          h("th", { class: "num" }, "Local bytes"), h("th", { class: "num" }, "Violations"),
          h("th", { class: "num" }, "Bytes"), h("th", null, "Last seen"))),
        h("tbody", null, hosts.hosts.map((x) =>
          h("tr", { class: [x.violations > 0 ? "violation" : "", x.host === s.host ? "selected" : ""].join(" ").trim() || undefined, "data-host": x.host },
            h("td", null, h("a", { class: "vm", href: ctx.href({ host: x.host }), "data-nav": true }, x.host)),
            h("td", { class: "num" }, count(x.vms)),
            h("td", { class: "num" }, count(x.conversations)),
            h("td", { class: "num" }, count(x.local_conversations)),
            h("td", { class: "num" }, x.local_cross_zone > 0 ? h("span", { class: "badge unknown" }, count(x.local_cross_zone)) : "0"),
            h("td", { class: "num" }, bytes(x.local_bytes)),
            h("td", { class: "num" }, x.violations > 0 ? h("span", { class: "badge violation" }, count(x.violations)) : "0"),
            h("td", { class: "num" }, bytes(x.bytes)),
            h("td", { class: "muted" }, lastSeen(x.last_ms))))))));
    }
    if (!detail) {
      fill(this.detail, hosts.hosts.length ? h("p", { class: "muted hint" }, "Pick a host to see the conversations its vSwitch kept inside.") : null);
      return;
    }
    fill(
      this.detail,
      h("section", { class: "panel" },
        h("h2", { class: "entity" }, `Inside ${detail.host}`),
        h("p", { class: "muted" }, `${plural(detail.vms.length, "VM")}: ${detail.vms.join(", ") || "none"}`),
        cards(detail.totals),
        h("div", { class: "table-tools" }, h("span"),
          exports((format) => exportUrl(`hosts/${encodeURIComponent(detail.host)}`, windowParams(s), format), `host-${detail.host}`)),
        detail.conversations.length
          ? conversationTable(ctx, detail.conversations, false)
          : h("div", { class: "empty" }, "No locally switched conversations in this range.")),
    );
  }
}
