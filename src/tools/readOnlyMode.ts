import type { RegisteredTool } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Logger } from "../logger.js";
import { toolAllowed } from "../policy/toolAccess.js";
import type { ToolDefinition } from "./toolDefinition.js";
import type { PolicySource } from "./toolDeps.js";

export interface RegisteredDefinition {
  definition: ToolDefinition;
  registered: RegisteredTool;
}

/**
 * Read-only mode hides every tool whose readOnlyHint is false: a hidden tool is not in tools/list
 * and a call to it is refused. It follows the policy file as it is reloaded; each change of the
 * list is announced with notifications/tools/list_changed (the SDK sends one per tool switched).
 * Returns the unsubscribe function.
 */
export function followReadOnly(
  tools: readonly RegisteredDefinition[],
  policy: PolicySource,
  logger: Logger,
): () => void {
  const apply = (): void => {
    const current = policy.current();
    const hidden: string[] = [];
    for (const { definition, registered } of tools) {
      const allowed = toolAllowed(current, definition);
      if (!allowed) hidden.push(definition.name);
      if (allowed === registered.enabled) continue;
      if (allowed) registered.enable();
      else registered.disable();
    }
    // Once per server (an HTTP session has its own): the runtime's start line says it once for all.
    logger.debug({ hidden }, "tools hidden by the policy");
  };
  apply();
  return policy.onChange(apply);
}
