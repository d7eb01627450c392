import { AuditLog } from "../audit/auditLog.js";
import type { AuditRecord } from "../audit/auditRecord.js";
import type { Logger } from "../logger.js";

export interface AuditTrailOptions {
  /** MDE_AUDIT_LOG; undefined: nothing is recorded. */
  path: string | undefined;
  /** The configured credentials (client secret, certificate password): a record holding one is refused. */
  secrets?: readonly (string | undefined)[];
  logger: Logger;
  /** The log's clock; tests pass a fixed one. */
  now?: () => Date;
}

/**
 * What the tools write to the audit log, and how much each write matters. A record that must be on
 * disk before the server acts (`require`) stops the action when it cannot be written: tools that
 * change or collect fail closed. A record of what already happened (`note`) cannot undo it, so a
 * failure is logged and the answer still goes out: hiding an action that exists would be worse.
 * Either way the write is fsynced before the tool answers.
 */
export class AuditTrail {
  private readonly log: AuditLog | undefined;
  private readonly logger: Logger;
  /** Keys of facts recorded once per process: an action's final status, a command's result. */
  private readonly recorded = new Set<string>();
  /** Background work that still writes records (queued requests followed to their submit). */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(options: AuditTrailOptions) {
    this.logger = options.logger;
    this.log =
      options.path === undefined
        ? undefined
        : new AuditLog({
            path: options.path,
            secrets: options.secrets?.filter((s): s is string => s !== undefined && s !== ""),
            ...(options.now ? { now: options.now } : {}),
          });
  }

  /** No audit log: every write does nothing. */
  static disabled(logger: Logger): AuditTrail {
    return new AuditTrail({ path: undefined, logger });
  }

  get enabled(): boolean {
    return this.log !== undefined;
  }

  /** Written and fsynced, or an AuditLogError: the caller must not act without it. */
  async require(record: AuditRecord): Promise<void> {
    await this.log?.append(record);
  }

  /** Written and fsynced when possible; a failure is logged, never thrown. */
  async note(record: AuditRecord): Promise<boolean> {
    if (this.log === undefined) return true;
    try {
      await this.log.append(record);
      return true;
    } catch (error) {
      this.logger.error(
        { kind: record.kind, requestId: record.request_id, err: String(error) },
        "audit record not written",
      );
      return false;
    }
  }

  /** `note`, once per key for the life of the process; a write that failed is tried again next time. */
  async noteOnce(key: string, record: AuditRecord): Promise<void> {
    if (this.log === undefined || this.recorded.has(key)) return;
    this.recorded.add(key);
    if (!(await this.note(record))) this.recorded.delete(key);
  }

  /** Keeps background work that writes records; `close` waits for it. */
  track(work: Promise<unknown>): void {
    if (this.log === undefined) return;
    const tracked = work.catch((error: unknown) =>
      this.logger.error({ err: String(error) }, "audit follow-up failed"),
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  /** Waits for the background work (close the live response service first, so it ends) and the writes. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    await this.log?.close();
  }
}
