import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { request } from "undici";
import type { AuditEntry } from "../../src/audit/auditRecord.js";
import type { TestSimulator } from "../helpers/simulatorHarness.js";
import { until } from "../helpers/until.js";
import type { ToolHarness } from "../tools/toolHarness.js";

export const sha256Hex = (text: string | Buffer): string => createHash("sha256").update(text).digest("hex");

/** Writes the policy file and waits until the server follows it (the store reloads on change). */
export async function setPolicy(h: ToolHarness, file: string, yaml: string): Promise<void> {
  await writeFile(file, yaml);
  await until(() => h.policy.sha256 === sha256Hex(yaml));
}

/** Every record of the audit log, parsed. */
export async function auditEntries(file: string): Promise<AuditEntry[]> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as AuditEntry);
}

/** The records one tool call wrote (they share its request_id), in order. */
export function recordsOf(entries: readonly AuditEntry[], callId: string): AuditEntry[] {
  return entries.filter((e) => e.request_id === callId);
}

/** The audit id of the call that wrote the last `request` record. */
export function lastCallId(entries: readonly AuditEntry[]): string {
  const last = entries.findLast((e) => e.kind === "request");
  if (!last) throw new Error("no request record in the audit log");
  return last.request_id;
}

/** Replaces a library file in the simulated tenant, as an administrator would (POST /api/libraryfiles). */
export async function replaceLibraryFile(t: TestSimulator, fileName: string, content: string): Promise<void> {
  const form = new FormData();
  form.set("File", new File([content], fileName));
  form.set("OverrideIfExists", "true");
  // Encoded by the platform's own multipart writer, then sent as plain bytes.
  const encoded = new Response(form);
  const res = await request(`${t.sim.apiBase}/api/libraryfiles`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await t.token()}`,
      "content-type": encoded.headers.get("content-type") ?? "",
    },
    body: Buffer.from(await encoded.arrayBuffer()),
    dispatcher: t.dispatcher,
  });
  const body = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`library upload failed: ${res.statusCode} ${body}`);
}

/** The library's sha256 of a file, as the API lists it. */
export async function librarySha256(t: TestSimulator, fileName: string): Promise<string> {
  const res = await t.call("GET", "/api/libraryfiles");
  const files = (res.json as { value: Array<{ fileName: string; sha256: string }> }).value;
  const file = files.find((f) => f.fileName === fileName);
  if (!file) throw new Error(`${fileName} is not in the library`);
  return file.sha256;
}
