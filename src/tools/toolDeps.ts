import type { CoordinationRedis } from "../coordination/coordinationRedis.js";
import type { DefenderClient } from "../defender/defenderClient.js";
import type { LiveResponseApi } from "../liveResponse/types.js";
import type { Logger } from "../logger.js";
import { DEFAULT_POLICY, type Policy } from "../policy/policySchema.js";
import type { ApprovalStore } from "../review/approvalStore.js";
import type { AuditTrail } from "../safety/auditTrail.js";

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

/** The policy in force, as the tools read it: a PolicyStore, reloaded when its file changes. */
export interface PolicySource {
  current(): Policy;
  /** SHA-256 of the policy file; undefined when there is none. */
  readonly sha256: string | undefined;
  /** Calls `listener` with each reloaded policy; returns the unsubscribe function. */
  onChange(listener: (policy: Policy) => void): () => void;
}

/** No policy file: the default policy, which never changes. */
export const NO_POLICY_FILE: PolicySource = {
  current: () => DEFAULT_POLICY,
  sha256: undefined,
  onChange: () => () => {},
};

/** What every tool handler may use; nothing else reaches a tool. */
export interface ToolDeps {
  liveResponse: LiveResponseApi;
  client: DefenderClient;
  limits: ToolLimits;
  logger: Logger;
  /** MDE_POLICY_FILE as loaded; absent: DEFAULT_POLICY (everything allowed, no approval), as with no file. */
  policy?: PolicySource;
  /** MDE_AUDIT_LOG; absent: nothing is recorded, as with the setting unset. */
  audit?: AuditTrail;
  /** The review console's requests (approval mode console); absent: console mode cannot be used. */
  review?: ApprovalStore;
  /** The Redis replicas share (REDIS_URL), so tool results can say when it is unreachable; absent without one. */
  coordination?: Pick<CoordinationRedis, "health">;
}
