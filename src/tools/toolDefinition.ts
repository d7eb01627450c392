import type { z } from "zod";
import type { Who } from "../audit/auditRecord.js";
import type { ApprovalChannel } from "../safety/approvalChannel.js";
import type { AuditTrail } from "../safety/auditTrail.js";
import type { Clearance } from "../safety/runClearance.js";
import type { PolicySource, ToolDeps } from "./toolDeps.js";

/**
 * Every hint is set on every tool: an omitted hint falls back to the protocol's default, and those
 * defaults are the pessimistic values (destructive, open world), so leaving one out would be a claim
 * nobody made.
 */
export interface ToolHints {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

export interface ProgressUpdate {
  progress: number;
  total: number;
  message: string;
}

/** A handler's view of one call: the server's dependencies plus this request's signal and progress channel. */
export interface ToolContext extends ToolDeps {
  /** Aborted when the client cancels the request; stop waiting at once. */
  signal: AbortSignal;
  /** Sends `notifications/progress` when the client asked for progress; does nothing otherwise. */
  reportProgress(update: ProgressUpdate): void;
  /** The policy in force (DEFAULT_POLICY when the server has none). */
  policy: PolicySource;
  /** The audit log (a trail that records nothing when the server has none). */
  audit: AuditTrail;
  /** This call's id in the audit log: every record the call writes carries it as request_id. */
  callId: string;
  /** The MCP client that made the call, as it named itself at initialize. */
  requester: Who;
  /** Asks the person at the MCP client (elicitation tied to this call). */
  approvals: ApprovalChannel;
  /**
   * A run request already judged, and approved when the policy asked for it, before this context was
   * made: an MCP task asks while its tools/call is open, then runs the request in the background.
   */
  clearance?: Clearance;
}

/** What a handler hands back; `toolResult` turns it into the MCP result. */
export interface ToolOutput<Structured> {
  structured: Structured;
  /** A few lines for a person or a model, built only from trusted values (ids, counts, statuses). */
  summary: string;
  /** The call failed as a whole (e.g. no device accepted the action); the structured entries say why. */
  isError?: boolean;
}

export interface ToolDefinition<
  Input extends z.ZodObject = z.ZodObject,
  Output extends z.ZodObject = z.ZodObject,
> {
  name: string;
  title: string;
  /** Written for a model: what it does, when to use it, what it costs, what comes back. */
  description: string;
  inputSchema: Input;
  outputSchema: Output;
  annotations: ToolHints;
  handler(input: z.output<Input>, ctx: ToolContext): Promise<ToolOutput<z.output<Output>>>;
}
