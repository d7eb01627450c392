import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPolicy } from "../../src/policy/loadPolicy.js";
import { PolicyError } from "../../src/policy/policyError.js";
import { DEFAULT_POLICY } from "../../src/policy/policySchema.js";

const examples = fileURLToPath(new URL("../../examples/", import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "policy-load-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

async function problemsOf(name: string, text: string): Promise<readonly string[]> {
  const err = await loadPolicy(await write(name, text)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PolicyError);
  return (err as PolicyError).problems;
}

describe("loadPolicy", () => {
  it("loads the documented example and names its SHA-256", async () => {
    const file = join(examples, "policy.example.yaml");
    const loaded = await loadPolicy(file);
    expect(loaded.policy.scripts?.map((s) => s.name)).toEqual([
      "Get-TriageSnapshot.ps1",
      "Collect-EventLogs.ps1",
      "Remediate-Persistence.ps1",
    ]);
    expect(loaded.policy.approval).toMatchObject({ batch_size_at_least: 3 });
    expect(loaded.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("loads each example policy of examples/policies", async () => {
    const names = (await readdir(join(examples, "policies"))).sort();
    expect(names).toEqual(["collection-only.yaml", "full-response.yaml", "investigation-only.yaml"]);
    const [collection, full, investigation] = await Promise.all(
      names.map((n) => loadPolicy(join(examples, "policies", n))),
    );
    expect(investigation?.policy.read_only).toBe(true);
    expect(collection?.policy).toMatchObject({ read_only: false, scripts: [], put_file: [] });
    expect(full?.policy.devices?.max_devices_per_call).toBe(25);
  });

  it("reads JSON by its extension, with the same fields", async () => {
    const loaded = await loadPolicy(await write("p.json", '{ "read_only": true, "approval": "all" }'));
    expect(loaded.policy).toMatchObject({ read_only: true, approval: "all" });
    expect(loaded.sha256).toBe(
      createHash("sha256").update('{ "read_only": true, "approval": "all" }').digest("hex"),
    );
  });

  it("an empty mapping allows everything, as no file does", async () => {
    expect((await loadPolicy(await write("empty-map.yaml", "{}\n"))).policy).toEqual(DEFAULT_POLICY);
  });

  it("reports every mistake at once, each with its path and line", async () => {
    const problems = await problemsOf(
      "many.yaml",
      `read_only: yes
scripts:
  - name: a.ps1
    sha256: abc
  - name: b.ps1
    args_pattern: "(unclosed"
    sha265: ${"0".repeat(64)}
  - name: a.ps1
get_file:
  deny: ['C:\\Windows\\..\\x', 'relative\\path']
devices:
  ids: [not-an-id]
  max_devices_per_call: 101
approval: sometimes
extra_section: 1
`,
    );
    expect(problems).toEqual([
      "read_only (line 1): expected true or false",
      "scripts[0].sha256 (line 4): expected 64 hex characters (the library file's sha256)",
      expect.stringMatching(/^scripts\[1\]\.args_pattern \(line 6\): not a valid regular expression: /),
      "scripts[1].sha265 (line 7): unknown field (a misspelt rule would be ignored)",
      "scripts[2].name (line 8): a.ps1 is already listed at [0]",
      "get_file.allow (line 10): expected a list of path patterns (use [] to allow none)",
      "get_file.deny[0] (line 10): a pattern has no '.' or '..' segment",
      "get_file.deny[1] (line 10): a pattern starts with a drive (C:\\ or *:\\), with / (Linux and macOS), or with **",
      "devices.ids[0] (line 12): expected a device id (40 hex characters)",
      "devices.max_devices_per_call (line 13): expected a whole number from 1 to 100",
      "approval (line 14): expected none, all, or a mapping of rules (command_types, scripts, device_tags, batch_size_at_least)",
      "extra_section (line 15): unknown field (a misspelt rule would be ignored)",
    ]);
  });

  it("reports the mistakes inside an approval mapping, not the union's other branch", async () => {
    const problems = await problemsOf(
      "approval.yaml",
      "approval:\n  command_types: [Run]\n  batch_size_at_least: 0\n  device_tag: [VIP]\n",
    );
    expect(problems).toEqual([
      expect.stringMatching(/^approval\.command_types\[0\] \(line 2\): .*RunScript/),
      "approval.batch_size_at_least (line 3): expected a whole number of devices, at least 1",
      "approval.device_tag (line 4): unknown field (a misspelt rule would be ignored)",
    ]);
  });

  it.each([
    ["C:\\Temp\\a**", "** stands alone between separators"],
    ["C:\\Temp\\\\x", "a pattern has no empty segment (doubled or trailing separator)"],
    ["C:\\Temp\\x:y", "a pattern has no ':' after the drive"],
    [
      "\\\\server\\share\\**",
      "a pattern starts with a drive (C:\\ or *:\\), with / (Linux and macOS), or with **",
    ],
  ])("refuses the path pattern %j", async (pattern, problem) => {
    const problems = await problemsOf("pattern.json", JSON.stringify({ get_file: { allow: [pattern] } }));
    expect(problems).toEqual([`get_file.allow[0] (line 1): ${problem}`]);
  });

  it("refuses syntax errors and duplicate keys, with their line", async () => {
    expect(await problemsOf("dup.yaml", "read_only: true\nread_only: false\n")).toEqual([
      expect.stringMatching(/^line 2: Map keys must be unique/),
    ]);
    expect(await problemsOf("dup.json", '{\n"approval": "all",\n"approval": "none"\n}')).toEqual([
      expect.stringMatching(/^line 3: Map keys must be unique/),
    ]);
    expect(await problemsOf("broken.json", '{ "read_only": tru }')).toEqual([
      expect.stringMatching(/^line 1: /),
    ]);
  });

  it("refuses an empty file, an unknown extension and a missing file", async () => {
    expect(await problemsOf("empty.yaml", "")).toEqual(["the file is empty; write {} to allow everything"]);
    expect(await problemsOf("policy.txt", "{}")).toEqual(["the file name must end in .yaml, .yml or .json"]);
    const err = await loadPolicy(join(dir, "absent.yaml")).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "POLICY_UNREADABLE", problems: ["cannot read the file (ENOENT)"] });
  });

  it("says in its message which file is wrong", async () => {
    const file = await write("message.yaml", "read_only: 1\n");
    await expect(loadPolicy(file)).rejects.toThrow(
      `policy file ${file} is invalid:\n  read_only (line 1): expected true or false`,
    );
  });
});
