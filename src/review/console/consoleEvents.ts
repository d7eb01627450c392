import { stat } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import type { ApprovalStore } from "../approvalStore.js";
import type { PendingApproval } from "../pendingApproval.js";
import { requesterName } from "../pendingApprovals.js";

/** How often the audit log's size is checked for new outcomes while a page listens. */
const AUDIT_CHECK_MS = 250;
/** A comment line now and then keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ConsoleEventsOptions {
  store: ApprovalStore;
  /** MDE_AUDIT_LOG; undefined: no history events. */
  auditLogPath: string | undefined;
}

/** What a page announces (aria-live) about a changed request. */
export function changeMessage(approval: PendingApproval): string {
  const by = approval.decision ? ` by ${approval.decision.reviewer}` : "";
  switch (approval.status) {
    case "pending":
      return `New request ${approval.id} from ${requesterName(approval)} awaits review`;
    case "approved":
      return `Request ${approval.id} approved${by}`;
    case "denied":
      return `Request ${approval.id} denied${by}`;
    case "expired":
      return `Request ${approval.id} expired`;
    case "withdrawn":
      return `Request ${approval.id} was withdrawn by the agent`;
    case "submitted":
      return `Request ${approval.id} was sent to Defender`;
  }
}

/**
 * Server-sent events for every open console page: `requests` when a request changes (added,
 * decided, expired, withdrawn, submitted), `history` when the audit log grew (a new outcome). A
 * request's expiry is announced when it happens, not only when someone next reads it.
 */
export class ConsoleEvents {
  private readonly clients = new Set<ServerResponse>();
  private readonly offChange: () => void;
  private auditTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private auditSize = -1;
  private closed = false;

  constructor(private readonly options: ConsoleEventsOptions) {
    this.offChange = options.store.onChange((approval) => {
      this.send("requests", { id: approval.id, status: approval.status, message: changeMessage(approval) });
      void this.scheduleExpiry();
    });
    void this.scheduleExpiry();
  }

  /** Answers GET /review/api/events with a stream that lasts until the page goes away. */
  attach(res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
    });
    res.write("retry: 2000\n\n");
    this.clients.add(res);
    res.on("close", () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stopTimers();
    });
    this.startTimers();
  }

  close(): void {
    this.closed = true;
    this.offChange();
    this.stopTimers();
    clearTimeout(this.expiryTimer);
    for (const client of this.clients) client.end();
    this.clients.clear();
  }

  private send(event: string, data: unknown): void {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const client of this.clients) client.write(frame);
  }

  private startTimers(): void {
    if (this.keepalive !== undefined) return;
    this.keepalive = setInterval(() => {
      for (const client of this.clients) client.write(": keepalive\n\n");
    }, KEEPALIVE_MS);
    this.keepalive.unref();
    const path = this.options.auditLogPath;
    if (path === undefined) return;
    const check = async (): Promise<void> => {
      const size = await stat(path).then(
        (s) => s.size,
        () => 0,
      );
      if (this.auditSize >= 0 && size !== this.auditSize) this.send("history", { size });
      this.auditSize = size;
    };
    this.auditTimer = setInterval(() => void check(), AUDIT_CHECK_MS);
    this.auditTimer.unref();
    void check();
  }

  private stopTimers(): void {
    clearInterval(this.keepalive);
    clearInterval(this.auditTimer);
    this.keepalive = undefined;
    this.auditTimer = undefined;
    this.auditSize = -1;
  }

  /** Reading the store when the next request is due expires it, which announces it like any change. */
  private async scheduleExpiry(): Promise<void> {
    if (this.closed) return;
    const live = (await this.options.store.list()).filter(
      (a) => a.status === "pending" || a.status === "approved",
    );
    const next = Math.min(...live.map((a) => Date.parse(a.expires_at)));
    clearTimeout(this.expiryTimer);
    if (!Number.isFinite(next) || this.closed) return;
    // setTimeout fires at once past 2^31 - 1 ms: a far expiry is looked at again then.
    this.expiryTimer = setTimeout(
      () => void this.options.store.list().then(() => this.scheduleExpiry()),
      Math.min(MAX_TIMER_MS, Math.max(0, next - Date.now()) + 5),
    );
    this.expiryTimer.unref();
  }
}
