import { z } from "zod";
import { DEFAULT_TOOL_LIMITS } from "./toolDeps.js";

/** Input fields more than one tool takes, described once. */

export const MACHINE_ID_PATTERN = /^[0-9a-fA-F]{40}$/;

/** 15 minutes: longer than any client keeps a request open, and RunScript's own limit is 10 minutes. */
export const WAIT_SECONDS_MAX = 900;

export const actionIdInput = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .describe(
    'The action to read: the action_id Defender gave (a GUID), or the request_id ("req_…") run_live_response returned.',
  );

export const waitSecondsInput = z
  .number()
  .int()
  .min(0)
  .max(WAIT_SECONDS_MAX)
  .optional()
  .describe(
    `Wall-clock seconds to wait for a final status before returning (default ${DEFAULT_TOOL_LIMITS.defaultWaitSeconds}, under the 60 s timeout most MCP clients apply). 0 reads once without waiting.`,
  );
