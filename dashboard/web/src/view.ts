// What a view is: a skeleton mounted once, filled by `update` on every
// change of the URL state and on auto-refresh.
import type { State } from "./state";

export type Filter = "vm" | "host" | "zone" | "verdict" | "sameHost" | "dataset" | "range";

export interface Context {
  state: State;
  /** Aborted when the state changes again before this update finished. */
  signal: AbortSignal;
  /** Navigate: merge `change` into the state, push it to the URL, update. */
  go(change: Partial<State>): void;
  /** The address of the state with `change` merged (for real links). */
  href(change: Partial<State>): string;
}

export interface View {
  /** Filters of the filter bar that apply to this view. */
  readonly filters: readonly Filter[];
  /** Whether auto-refresh updates it (not for reports and drafts). */
  readonly live: boolean;
  mount(root: HTMLElement, ctx: Context): void;
  update(ctx: Context): Promise<void>;
  /** Release charts and timers. */
  unmount(): void;
}
