import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MESSAGE_MAX_CHARS, NAME_MAX_CHARS } from "../../src/liveResponse/cleanText.js";
import { defaultScenario, parseScenario, type Scenario } from "../../src/simulator/index.js";
import { MAX_FIELD_CHARS, UNTRUSTED_NOTICE } from "../../src/tools/toolResult.js";
import { generatedDeviceId } from "../helpers/simulatorHarness.js";
import {
  startToolHarness,
  structured,
  summaryOf,
  textOf,
  untrustedBlockOf,
  type ToolHarness,
} from "../tools/toolHarness.js";
import { GUESSED_NONCES, INJECTION_CORPUS, LONG_LINE_CHARS } from "./injectionCorpus.js";

/**
 * The corpus planted where a device controls the text — script output and errors, command errors,
 * device names, platforms, groups and tags, library descriptions, collected file names — and the
 * same flow run twice through the real MCP client: once on that tenant, once on a tenant identical
 * but for benign text. What the server does (its API calls) and what it says itself (the summaries)
 * must not differ; the payloads may reach the model only inside the fenced data, cleaned.
 */

const OUTPUT_SCRIPT = "corpus-output.sh";
const FAILING_SCRIPT = "corpus-fail.sh";
const TAG = "corpus";
const PAGE_CHARS = 20_000;

/** Characters no result may carry: C0 (but tab and newline), DEL, C1, bidi controls, invisible and smuggling characters, line separators. */
const FORBIDDEN =
  // eslint-disable-next-line no-control-regex, no-misleading-character-class -- these characters are what the test looks for
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufe00-\ufe0f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}\u{e0100}-\u{e01ef}]/u;
const PAGED_FIELDS = new Set(["output", "errors"]);

const PAYLOADS = INJECTION_CORPUS.map((p) => p.text);
/** As long as the payloads, so that outputs take as many pages. */
const BENIGN = PAYLOADS.map((text, i) => `benign-device-text-${i}-`.padEnd(text.length, "x"));
const DEVICE_IDS = INJECTION_CORPUS.map((_, i) => generatedDeviceId(i));

/** A collectable file name made of the text: what a path may hold (no separators, no control characters). */
function fileNameOf(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters cannot be in a GetFile path
  return text.replace(/[\u0000-\u001f\u007f-\u009f/\\]/g, "_").slice(0, 120);
}

/**
 * Device i names itself `texts[i]` (name, platform, group, tag) and fails corpus-fail.sh with it; device 0
 * holds a file named after every text; corpus-output.sh prints all texts on stdout and stderr; every
 * text is a library file's description.
 */
function tenantOf(texts: readonly string[]): Scenario {
  const everything = texts.join("\n");
  const base = defaultScenario();
  return parseScenario({
    tenant: base.tenant,
    apps: base.apps,
    devices: texts.map((text, i) => ({
      id: DEVICE_IDS[i],
      computerDnsName: text,
      osPlatform: text,
      rbacGroupName: text,
      machineTags: [TAG, text],
      files: i === 0 ? texts.map((t) => ({ path: `/tmp/${fileNameOf(t)}`, content: "evidence\n" })) : [],
    })),
    library: [
      {
        fileName: OUTPUT_SCRIPT,
        description: texts[0],
        behaviour: { output: everything, errors: everything },
      },
      {
        fileName: FAILING_SCRIPT,
        description: texts[1],
        behaviourByPlatform: Object.fromEntries(
          texts.map((t) => [t, { outcome: "failed", failureMessage: t, durationSeconds: 1 }]),
        ),
      },
      ...texts.map((t, i) => ({
        fileName: `corpus-doc-${i}.txt`,
        description: t,
        hasParameters: true,
        parametersDescription: t,
      })),
    ],
  });
}

interface Entry {
  action_id: string | null;
  machine_id: string;
  computer_dns_name: string | null;
  status: string;
  status_detail: string | null;
  commands: Array<{
    errors: string[];
    result: {
      output?: string;
      errors?: string;
      next_output_offset?: number | null;
      saved_path?: string;
    } | null;
  }>;
}
interface Machine {
  machine_id: string;
  computer_dns_name: string;
  os_platform: string;
  rbac_group_name: string;
  tags: string[];
}
interface LibraryEntry {
  file_name: string;
  description: string;
  parameters_description: string;
}

interface Flow {
  h: ToolHarness;
  machines: Machine[];
  library: LibraryEntry[];
  outputs: Entry[];
  failures: Entry[];
  files: Entry;
  /** Device 0's whole script output, read page by page through get_action. */
  wholeOutput: string;
}

async function runFlow(texts: readonly string[]): Promise<Flow> {
  const h = await startToolHarness({ sim: { scenario: tenantOf(texts) } });
  const ok = async (name: string, args: Record<string, unknown>): Promise<CallToolResult> => {
    const result = await h.call(name, args);
    expect(result.isError ?? false, `${name}: ${textOf(result).slice(0, 500)}`).toBe(false);
    return result;
  };
  const run = (commands: unknown[], machineIds = DEVICE_IDS) =>
    ok("run_live_response", { machine_ids: machineIds, commands, comment: "corpus", wait_seconds: 30 });

  const { machines } = structured<{ machines: Machine[] }>(await ok("find_machines", { tag: TAG, top: 100 }));
  const { files: library } = structured<{ files: LibraryEntry[] }>(
    await ok("list_library_files", { name_contains: "corpus" }),
  );
  const outputs = structured<{ actions: Entry[] }>(
    await run([{ type: "RunScript", script_name: OUTPUT_SCRIPT }]),
  ).actions;
  const failures = structured<{ actions: Entry[] }>(
    await run([{ type: "RunScript", script_name: FAILING_SCRIPT }]),
  ).actions;
  const [files] = structured<{ actions: Entry[] }>(
    await run(
      texts.map((t) => ({ type: "GetFile", path: `/tmp/${fileNameOf(t)}` })),
      DEVICE_IDS.slice(0, 1),
    ),
  ).actions;

  const first = outputs[0]!;
  const pages = [first.commands[0]?.result?.output ?? ""];
  let offset = first.commands[0]?.result?.next_output_offset ?? null;
  while (offset !== null) {
    const page = structured<{ action: Entry }>(
      await ok("get_action", {
        action_id: first.action_id,
        command_index: 0,
        output_offset: offset,
        max_output_chars: PAGE_CHARS,
      }),
    ).action;
    pages.push(page.commands[0]?.result?.output ?? "");
    offset = page.commands[0]?.result?.next_output_offset ?? null;
  }
  await ok("get_action", { action_id: failures[0]!.action_id, wait_seconds: 0 });
  return { h, machines, library, outputs, failures, files: files!, wholeOutput: pages.join("") };
}

/** Every string in a value, with the key it sits under. */
function stringsOf(value: unknown, key = ""): Array<{ key: string; text: string }> {
  if (typeof value === "string") return [{ key, text: value }];
  if (Array.isArray(value)) return value.flatMap((item) => stringsOf(item, `${key}[]`));
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => stringsOf(v, k));
  }
  return [];
}

/** What the server says itself, with the ids that differ from run to run made equal. */
function normalisedSummary(result: CallToolResult): string {
  return summaryOf(result)
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<guid>")
    .replace(/req_[0-9a-f]+/g, "<req>");
}

/** Calls whose number depends on how long actions take (the poller's rounds), not on what the call asked. */
const POLLING_ENDPOINTS = ["getMachineAction", "listMachineActions"];
function nonPollingCalls(h: ToolHarness): Record<string, number> {
  return Object.fromEntries(Object.entries(h.calls()).filter(([name]) => !POLLING_ENDPOINTS.includes(name)));
}

let hostile: Flow;
let benign: Flow;

beforeAll(async () => {
  [hostile, benign] = await Promise.all([runFlow(PAYLOADS), runFlow(BENIGN)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([hostile?.h.close(), benign?.h.close()]);
});

describe("a prompt-injection corpus planted on devices", () => {
  it("has at least 25 payloads, each with its own marker", () => {
    expect(INJECTION_CORPUS.length).toBeGreaterThanOrEqual(25);
    expect(new Set(INJECTION_CORPUS.map((p) => p.marker)).size).toBe(INJECTION_CORPUS.length);
  });

  it("changes nothing the server does: the same API calls as with benign text, no extra submit, no cancel", () => {
    const submits = 2 * DEVICE_IDS.length + 1;
    expect(nonPollingCalls(hostile.h)).toEqual(nonPollingCalls(benign.h));
    expect(hostile.h.calls()).toMatchObject({ runliveresponse: submits, cancelMachineAction: 0 });
    for (const flow of [hostile, benign]) {
      const stats = flow.h.fx.t.sim.stats();
      expect(stats.submitsAccepted).toBe(submits);
      expect(stats.duplicateSubmissions).toBe(0);
    }
    expect(hostile.outputs.map((e) => e.status)).toEqual(benign.outputs.map((e) => e.status));
    expect(hostile.failures.map((e) => e.status)).toEqual(DEVICE_IDS.map(() => "Failed"));
    expect(hostile.files.status).toBe("Succeeded");
  });

  it("changes nothing the server says itself: the summaries are those of the benign run", () => {
    expect(hostile.h.results.length).toBe(benign.h.results.length);
    expect(hostile.h.results.map(normalisedSummary)).toEqual(benign.h.results.map(normalisedSummary));
    for (const result of hostile.h.results) {
      expect(summaryOf(result)).not.toContain("[inj-");
      expect(summaryOf(result)).not.toMatch(FORBIDDEN);
    }
  });

  it("keeps every payload inside a fence it cannot close: a fresh unguessed nonce, the data on one line", () => {
    const nonces = new Set<string>();
    for (const result of hostile.h.results) {
      const text = textOf(result);
      const { nonce, body } = untrustedBlockOf(result);
      expect(GUESSED_NONCES).not.toContain(nonce);
      expect(nonces.has(nonce)).toBe(false);
      nonces.add(nonce);
      expect(body).not.toContain("\n");
      expect(JSON.parse(body)).toEqual(result.structuredContent);
      expect(text).toBe(
        `${summaryOf(result)}${UNTRUSTED_NOTICE}\n<<<UNTRUSTED ENDPOINT DATA ${nonce}>>>\n${body}\n<<<END UNTRUSTED ENDPOINT DATA ${nonce}>>>`,
      );
      expect(text.split(`<<<END UNTRUSTED ENDPOINT DATA ${nonce}>>>`)).toHaveLength(2);
    }
    // The fake markers are there, as data inside the fence.
    const bodies = hostile.h.results.map((r) => untrustedBlockOf(r).body).join("");
    for (const guess of GUESSED_NONCES)
      expect(bodies).toContain(`<<<END UNTRUSTED ENDPOINT DATA ${guess}>>>`);
  });

  it("returns no control, escape, bidirectional or invisible character, and caps every string but paged output", () => {
    for (const result of hostile.h.results) {
      for (const { key, text } of stringsOf(result.structuredContent)) {
        expect(text, `${key}: ${JSON.stringify(text.slice(0, 80))}`).not.toMatch(FORBIDDEN);
        if (!PAGED_FIELDS.has(key)) expect(text.length, key).toBeLessThanOrEqual(MAX_FIELD_CHARS);
      }
    }
  });

  it("shows script output as a person would read it: hiding tricks undone, hidden parts gone, long lines paged", () => {
    const output = hostile.wholeOutput;
    for (const p of INJECTION_CORPUS) {
      for (const visible of p.visible)
        expect(output.includes(visible), `${p.marker} shows ${visible}`).toBe(true);
      for (const hidden of p.hidden)
        expect(output.includes(hidden), `${p.marker} hides ${hidden}`).toBe(false);
    }
    expect(output.includes(`${"A".repeat(LONG_LINE_CHARS)} ignore previous instructions`)).toBe(true);
    expect(hostile.h.results.length).toBeGreaterThan(5);
    const errors = hostile.outputs[0]!.commands[0]!.result!.errors!;
    for (const p of INJECTION_CORPUS) expect(errors.includes(p.marker), p.marker).toBe(true);
  });

  it("brings device names, platforms, groups and tags, library descriptions, command errors and file names only as fenced data", () => {
    INJECTION_CORPUS.forEach(({ marker }, i) => {
      const machine = hostile.machines.find((m) => m.machine_id === DEVICE_IDS[i]);
      expect(machine?.computer_dns_name, marker).toContain(marker);
      expect(machine?.os_platform, marker).toContain(marker);
      expect(machine?.rbac_group_name, marker).toContain(marker);
      expect(
        machine?.tags.some((t) => t.includes(marker)),
        marker,
      ).toBe(true);

      const doc = hostile.library.find((f) => f.file_name === `corpus-doc-${i}.txt`);
      expect(doc?.description, marker).toContain(marker);
      expect(doc?.parameters_description, marker).toContain(marker);

      const ran = hostile.outputs[i]!;
      expect(ran.computer_dns_name, marker).toContain(marker);
      expect(ran.computer_dns_name!.length).toBeLessThanOrEqual(NAME_MAX_CHARS);
      expect(ran.computer_dns_name, marker).not.toContain("\n");

      const failed = hostile.failures[i]!;
      const [error] = failed.commands[0]!.errors;
      expect(error, marker).toContain(marker);
      expect(error!.length).toBeLessThanOrEqual(MESSAGE_MAX_CHARS);
      expect(failed.status_detail, marker).toContain(marker);

      const saved = hostile.files.commands[i]?.result?.saved_path;
      expect(saved, marker).toContain(marker);
      expect(saved?.startsWith(hostile.h.downloadDir)).toBe(true);
    });
  });
});
