import type { LiveResponseCommand } from "../defender/defenderClient.js";
import { filter } from "../defender/odataQuery.js";
import { MachineSchema, type LibraryFile, type Machine } from "../defender/schemas.js";
import type { Policy } from "../policy/policySchema.js";
import type { ToolContext } from "../tools/toolDefinition.js";

type ReadContext = Pick<ToolContext, "client" | "signal">;

/**
 * What the API must be asked before the policy can judge a request. Rules on ids, paths, script
 * names and arguments, PutFile names and batch size need nothing: they decide with no API call.
 * Device names, tags and groups need the devices read; a sha256 pin needs the library listing.
 * Both are reads, from the read budget, never a submit.
 */
export function policyNeedsDevices(policy: Policy): boolean {
  const d = policy.devices;
  const byData = d?.name_patterns !== undefined || d?.tags !== undefined || d?.groups !== undefined;
  const approval = policy.approval;
  return byData || (typeof approval === "object" && approval.device_tags !== undefined);
}

export function policyNeedsLibrary(policy: Policy, commands: readonly LiveResponseCommand[]): boolean {
  return commands.some((c) =>
    c.type === "RunScript"
      ? policy.scripts?.find((s) => s.name === c.scriptName)?.sha256 !== undefined
      : c.type === "PutFile"
        ? policy.put_file?.find((f) => f.name === c.fileName)?.sha256 !== undefined
        : false,
  );
}

/** Commands whose content comes from the library: an approval shows and covers that content. */
export function usesLibrary(commands: readonly LiveResponseCommand[]): boolean {
  return commands.some((c) => c.type !== "GetFile");
}

/**
 * A device known only by its id: what the policy sees when no rule needs more, or when the API does
 * not know the device (no name, tags or group, so a scope by name, tag or group leaves it out).
 */
export function deviceById(id: string): Machine {
  return MachineSchema.parse({ id });
}

/** Devices per list call, as the live response service reads them. */
const IDS_PER_LIST_CALL = 50;

/** The devices as the API knows them, in the order asked; one list call per 50 devices. */
export async function readDevices(ctx: ReadContext, machineIds: readonly string[]): Promise<Machine[]> {
  const found = new Map<string, Machine>();
  for (let i = 0; i < machineIds.length; i += IDS_PER_LIST_CALL) {
    const chunk = machineIds.slice(i, i + IDS_PER_LIST_CALL).map((id) => id.toLowerCase());
    const { items } = await ctx.client.listMachines(
      { filter: filter.in("id", chunk) },
      { signal: ctx.signal },
    );
    for (const machine of items) found.set(machine.id.toLowerCase(), machine);
  }
  return machineIds.map((id) => found.get(id.toLowerCase()) ?? deviceById(id));
}

export async function readLibrary(ctx: ReadContext): Promise<LibraryFile[]> {
  return (await ctx.client.listLibraryFiles({ signal: ctx.signal })).items;
}
