import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { ElicitRequestFormParams, ElicitResult, RequestId } from "@modelcontextprotocol/sdk/types.js";

/** How a tool call asks the person at the MCP client a question, and whether it can. */
export interface ApprovalChannel {
  /** The client declared form elicitation at initialize. */
  readonly available: boolean;
  ask(params: ElicitRequestFormParams): Promise<ElicitResult>;
}

/**
 * A person may take a while to read what will run: ten minutes, wall-clock, before the question is
 * given up (the SDK's default of 60 s is meant for machines).
 */
export const APPROVAL_TIMEOUT_MS = 10 * 60_000;

/**
 * `elicitation/create` tied to the tool call that needs the answer (`relatedRequestId`), so over
 * Streamable HTTP it travels on that call's stream; the call's cancellation withdraws the question.
 * The SDK checks an accepted answer against the requested schema.
 */
export function elicitationChannel(
  server: Server,
  call: { requestId: RequestId; signal: AbortSignal },
): ApprovalChannel {
  return {
    available: server.getClientCapabilities()?.elicitation?.form !== undefined,
    ask: (params) =>
      server.elicitInput(params, {
        relatedRequestId: call.requestId,
        signal: call.signal,
        timeout: APPROVAL_TIMEOUT_MS,
      }),
  };
}

/** Where no tool call is open to ask on (the background part of an MCP task): nobody can be asked. */
export const NO_APPROVAL_CHANNEL: ApprovalChannel = {
  available: false,
  ask: () => Promise.reject(new Error("no tool call is open to ask a person on")),
};
