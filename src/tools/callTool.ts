import { randomBytes } from "node:crypto";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { CallToolResult, ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import type { Who } from "../audit/auditRecord.js";
import { runAsUser, type RequestIdentity } from "../auth/requestIdentity.js";
import { toolDecision } from "../policy/toolAccess.js";
import { elicitationChannel } from "../safety/approvalChannel.js";
import { AuditTrail } from "../safety/auditTrail.js";
import { PolicyDeniedError } from "../safety/policyDeniedError.js";
import type { ProgressUpdate, ToolContext, ToolDefinition } from "./toolDefinition.js";
import { NO_POLICY_FILE, type ToolDeps } from "./toolDeps.js";
import { describeError, toToolError } from "./toolErrors.js";
import { toolResult } from "./toolResult.js";
import { principalOf, type Principal } from "../http/principal.js";

export type RequestExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * The user each call's context acts for, keyed by its `requester`: contexts are copied with spread
 * (an MCP task swaps in its own signal), and the copies share that object.
 */
const identities = new WeakMap<Who, RequestIdentity>();

/**
 * Runs one call; every failure becomes an `isError` result through `toToolError`, never a protocol
 * error. A tool the policy hides is refused here too: a call can race a reload that hides it. The
 * call runs as the user who made it (requestIdentity), so with On-Behalf-Of its API calls carry
 * that user's token.
 */
export function callTool(tool: ToolDefinition, input: unknown, ctx: ToolContext): Promise<CallToolResult> {
  return runAsUser(identities.get(ctx.requester), () => runCall(tool, input, ctx));
}

async function runCall(tool: ToolDefinition, input: unknown, ctx: ToolContext): Promise<CallToolResult> {
  try {
    const access = toolDecision(ctx.policy.current(), tool);
    if (access.outcome === "deny") {
      await ctx.audit.note({
        kind: "policy_decision",
        request_id: ctx.callId,
        who: ctx.requester,
        ...access,
        policy_sha256: ctx.policy.sha256 ?? null,
      });
      throw new PolicyDeniedError(access);
    }
    return toolResult(await tool.handler(input as never, ctx));
  } catch (error) {
    const { code } = describeError(error);
    ctx.logger.warn(
      { tool: tool.name, code, errorName: error instanceof Error ? error.name : typeof error },
      "tool call failed",
    );
    return toToolError(error);
  }
}

/**
 * A handler's context for one tools/call request: its signal, progress sent on its progress token,
 * the policy and audit log in force, who asks (the client's name at initialize), and a channel to
 * ask the person at that client, tied to this request.
 */
export function contextFor(deps: ToolDeps, extra: RequestExtra, server: Server): ToolContext {
  const progressToken = extra._meta?.progressToken;
  const principal = principalOf(extra);
  const requester = requesterOf(server, principal);
  const assertion = extra.authInfo?.token;
  // Only a user's own token can be exchanged On-Behalf-Of; an API key or an app acts as the server's app.
  if (principal?.kind === "user" && assertion) {
    identities.set(requester, { assertion, principal: principal.name });
  }
  return {
    ...deps,
    policy: deps.policy ?? NO_POLICY_FILE,
    audit: deps.audit ?? AuditTrail.disabled(deps.logger),
    callId: newCallId(),
    requester,
    approvals: elicitationChannel(server, extra),
    signal: extra.signal,
    reportProgress(update: ProgressUpdate) {
      if (progressToken === undefined) return;
      // A lost progress notification must not fail the call it reports on.
      extra
        .sendNotification({ method: "notifications/progress", params: { progressToken, ...update } })
        .catch((error: unknown) =>
          deps.logger.debug({ err: String(error) }, "progress notification not sent"),
        );
    },
  };
}

/** The audit log's id of one tool call; distinct from the `req_…` ids of the devices' requests. */
function newCallId(): string {
  return `call_${randomBytes(6).toString("hex")}`;
}

/**
 * The client as it named itself (the protocol requires a name and version, but a peer may omit them),
 * and over HTTP the principal its credential was issued to.
 */
function requesterOf(server: Server, principal: Principal | undefined): Who {
  const client = server.getClientVersion();
  // The principal's name (a key's holder, a user's UPN) says who; "anonymous" (loopback without
  // authentication) says nothing.
  const name = principal?.kind === "anonymous" ? undefined : principal?.name;
  return {
    client_name: client?.name ?? "(unnamed client)",
    client_version: client?.version ?? "",
    ...(name ? { principal: name } : {}),
  };
}
