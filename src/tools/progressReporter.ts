import type { ToolContext } from "./toolDefinition.js";

/**
 * Of the gap between the work done and the total, the share that time spent waiting may fill: the
 * value keeps moving while nothing changes on the devices, yet never claims all the work left.
 */
const WAITING_SHARE = 0.5;

/**
 * The progress notifications of one tool call. The protocol requires each value to be larger than
 * the last, so the value is the work done plus a part of the work left that grows with the time
 * waited; a report that would not move the value forward is not sent.
 */
export class ProgressReporter {
  private reported = -1;
  private readonly started = performance.now();

  constructor(
    private readonly ctx: Pick<ToolContext, "reportProgress">,
    readonly total: number,
    private readonly waitMs: number,
  ) {}

  report(work: number, message: string): void {
    const waited = this.waitMs > 0 ? Math.min(1, (performance.now() - this.started) / this.waitMs) : 1;
    const progress = work + (this.total - work) * WAITING_SHARE * waited;
    if (progress <= this.reported) return;
    this.reported = progress;
    this.ctx.reportProgress({ progress, total: this.total, message });
  }
}
