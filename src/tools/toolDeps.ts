import type { DefenderClient } from "../defender/defenderClient.js";
import type { LiveResponseApi } from "../liveResponse/types.js";
import type { Logger } from "../logger.js";

/** Server-wide bounds on what one tool call may ask for. */
export interface ToolLimits {
  /** Wall-clock seconds a call waits for a final status when the caller gives no `wait_seconds`. */
  defaultWaitSeconds: number;
  /** RunScript output characters returned per command when the caller gives no `max_output_chars`. */
  maxOutputChars: number;
  /** Devices one run_live_response call may target. */
  maxDevicesPerCall: number;
}

/**
 * 45 s keeps a default wait under the 60 s request timeout most MCP clients apply; a batch of up to
 * 100 devices is scheduled inside the submit budget, the devices past it queued in turn.
 */
export const DEFAULT_TOOL_LIMITS: ToolLimits = {
  defaultWaitSeconds: 45,
  maxOutputChars: 20_000,
  maxDevicesPerCall: 100,
};

/** What every tool handler may use; nothing else reaches a tool. */
export interface ToolDeps {
  liveResponse: LiveResponseApi;
  client: DefenderClient;
  limits: ToolLimits;
  logger: Logger;
}
