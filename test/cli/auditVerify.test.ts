import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/auditLog.js";
import { RECORDS, steppingClock } from "../audit/auditFixture.js";

// The command as an operator runs it: a real child process, its exit code and its two streams.
const cli = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", cli, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, "exit")) as [number];
  return { code, stdout, stderr };
}

// Each case is its own process start (about a second): they run side by side.
describe.concurrent("mde-live-response-mcp audit verify FILE", () => {
  let dir: string;
  let good: string;
  let tampered: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "audit-cli-"));
    good = join(dir, "audit.jsonl");
    const log = new AuditLog({ path: good, now: steppingClock() });
    for (const record of RECORDS) await log.append(record);
    await log.close();
    tampered = join(dir, "tampered.jsonl");
    const lines = (await readFile(good, "utf8")).split("\n");
    lines[2] = (lines[2] as string).replace('"approval_requested"', '"approval_given"');
    await writeFile(tampered, lines.join("\n"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("exits 0 and says how many records it checked when the chain is intact", async () => {
    const { code, stdout, stderr } = await run(["audit", "verify", good]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toBe(`audit log ${good}: ${RECORDS.length} records, chain intact\n`);
  });

  it("exits 1 and names the first bad record on stderr", async () => {
    const { code, stdout, stderr } = await run(["audit", "verify", tampered]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe(
      `mde-live-response-mcp: audit log ${tampered}: first bad record at line 3 (seq 3): its hash does not match its content (the record was changed); the 2 records before it are intact\n`,
    );
  });

  it.each([
    [["audit", "verify"]],
    [["audit", "check", "x.jsonl"]],
    [["audit", "verify", "a.jsonl", "b.jsonl"]],
  ])("exits 2 with the usage on %j", async (args) => {
    const { code, stderr } = await run(args);
    expect(code).toBe(2);
    expect(stderr).toContain("usage: mde-live-response-mcp audit verify FILE");
  });

  it("exits 2 when the file cannot be read", async () => {
    const { code, stderr } = await run(["audit", "verify", join(dir, "absent.jsonl")]);
    expect(code).toBe(2);
    expect(stderr).toContain("cannot be read (ENOENT)");
  });

  it("is listed in --help", async () => {
    const { stdout } = await run(["--help"]);
    expect(stdout).toContain("mde-live-response-mcp audit verify FILE");
  });
});
