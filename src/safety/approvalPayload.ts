import { createHash } from "node:crypto";
import { z } from "zod";
import type { ElicitRequestFormParams } from "@modelcontextprotocol/sdk/types.js";
import { canonicalJson } from "../audit/canonicalJson.js";
import { WhoSchema, type Who } from "../audit/auditRecord.js";
import { effectiveArgs } from "../defender/commandRules.js";
import type { LiveResponseCommand } from "../defender/defenderClient.js";
import type { LibraryFile, Machine } from "../defender/schemas.js";
import type { Decision } from "../policy/decision.js";

/**
 * Exactly what a person approves: who asks and why, every device by id and name, every command with
 * its arguments, and the content (library sha256) of every library file a command uses. Its SHA-256
 * is shown with it and recorded; an approval covers that hash and nothing else.
 */
export const ApprovalPayloadSchema = z.strictObject({
  requester: WhoSchema,
  comment: z.string(),
  devices: z.array(z.strictObject({ id: z.string(), name: z.string().nullable() })),
  commands: z.array(
    z.discriminatedUnion("type", [
      z.strictObject({
        type: z.literal("RunScript"),
        script_name: z.string(),
        args: z.string().nullable(),
        library_sha256: z.string().nullable(),
      }),
      z.strictObject({
        type: z.literal("PutFile"),
        file_name: z.string(),
        library_sha256: z.string().nullable(),
      }),
      z.strictObject({ type: z.literal("GetFile"), path: z.string() }),
    ]),
  ),
});
export type ApprovalPayload = z.infer<typeof ApprovalPayloadSchema>;

export interface PayloadSource {
  requester: Who;
  comment: string;
  machineIds: readonly string[];
  /** The devices as read from the API, for their names; a device not read has no name. */
  machines: readonly Machine[];
  commands: readonly LiveResponseCommand[];
  library: readonly LibraryFile[];
}

export function approvalPayload(source: PayloadSource): ApprovalPayload {
  const contentOf = (name: string): string | null =>
    source.library.find((f) => f.fileName === name)?.sha256?.toLowerCase() ?? null;
  return {
    requester: source.requester,
    comment: source.comment,
    devices: source.machineIds.map((id) => ({
      id: id.toLowerCase(),
      name: source.machines.find((m) => m.id.toLowerCase() === id.toLowerCase())?.computerDnsName ?? null,
    })),
    commands: source.commands.map((c) => {
      switch (c.type) {
        case "RunScript":
          return {
            type: c.type,
            script_name: c.scriptName,
            args: effectiveArgs(c.args) ?? null,
            library_sha256: contentOf(c.scriptName),
          };
        case "PutFile":
          return { type: c.type, file_name: c.fileName, library_sha256: contentOf(c.fileName) };
        case "GetFile":
          return { type: c.type, path: c.path };
      }
    }),
  };
}

/** SHA-256 of the payload's canonical JSON: the same payload hashes the same, whatever built it. */
export function payloadSha256(payload: ApprovalPayload): string {
  return createHash("sha256").update(canonicalJson(payload)).digest("hex");
}

/**
 * Every value that comes from outside (device names, paths, arguments, the comment, the client's
 * name) is shown JSON-quoted: a newline or a quote inside one cannot pass for a line of this message.
 */
const q = (value: string | null): string => (value === null ? "(unknown)" : JSON.stringify(value));

export function approvalMessage(payload: ApprovalPayload, sha256: string, decision: Decision): string {
  const devices = payload.devices.map((d, i) => `  ${i + 1}. ${q(d.name)}, id ${d.id}`);
  const commands = payload.commands.map((c, i) => {
    const line =
      c.type === "RunScript"
        ? `RunScript ${q(c.script_name)}${c.args === null ? " (no arguments)" : ` with arguments ${q(c.args)}`}, library content sha256 ${c.library_sha256 ?? "(not in the library listing)"}`
        : c.type === "PutFile"
          ? `PutFile ${q(c.file_name)}, library content sha256 ${c.library_sha256 ?? "(not in the library listing)"}`
          : `GetFile ${q(c.path)}`;
    return `  ${i + 1}. ${line}`;
  });
  return [
    `An AI agent asks to run live response commands with SYSTEM rights on ${payload.devices.length} device(s). Approve only what you expect.`,
    "",
    `Requested by: MCP client ${q(payload.requester.client_name)} version ${q(payload.requester.client_version)}`,
    `Why (comment): ${q(payload.comment)}`,
    `Devices (${payload.devices.length}):`,
    ...devices,
    "Commands, in this order, on every device:",
    ...commands,
    `Approval needed because: ${decision.reason}`,
    `Payload SHA-256: ${sha256}`,
    "",
    "Set approve to true to run exactly this request, once. Anything else refuses it; any change to it needs a new approval.",
  ].join("\n");
}

/** One boolean that must be true, and an optional note; nothing else can be answered. */
export const APPROVAL_SCHEMA: ElicitRequestFormParams["requestedSchema"] = {
  type: "object",
  properties: {
    approve: {
      type: "boolean",
      title: "Approve this request",
      description: "true runs exactly the request shown, once; false refuses it.",
      default: false,
    },
    note: {
      type: "string",
      title: "Note (optional)",
      description: "Why you approve or refuse; kept in the server's log.",
      maxLength: 500,
    },
  },
  required: ["approve"],
};
