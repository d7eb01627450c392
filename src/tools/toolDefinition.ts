import type { z } from "zod";
import type { ToolDeps } from "./toolDeps.js";

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
