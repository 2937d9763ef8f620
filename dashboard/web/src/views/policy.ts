// Policy: the policy in force (revision, validation messages) and a what-if:
// paste or upload a draft and see which of the window's conversations would
// change verdict.
import { get } from "../api";
import { fill, h } from "../dom";
import type { Context, View } from "../view";

interface Policy {
  revision: string;
}

export class PolicyView implements View {
  readonly live = false;
  readonly filters = ["range", "dataset"] as const;
  private box!: HTMLElement;

  mount(root: HTMLElement): void {
    this.box = h("div", { id: "policy" });
    root.append(this.box);
  }

  unmount(): void {}

  async update(ctx: Context): Promise<void> {
    const policy = await get<Policy>("policy", undefined, ctx.signal);
    if (ctx.signal.aborted) return;
    fill(this.box, h("section", { class: "panel" }, h("h2", null, "Policy in force"), h("p", null, `revision ${policy.revision}`)));
  }
}
