import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent, request } from "undici";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

// The CLI as a user runs it: a real child process, stdout parsed as the documented JSON line.
const cli = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));
const node = (args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess =>
  spawn(process.execPath, ["--import", "tsx", cli, ...args], {
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });

async function run(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = node(args, env);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, "exit")) as [number];
  return { code, stdout, stderr };
}

interface ConnectionInfo {
  apiBase: string;
  authorityHost: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  caFile: string;
}

describe("mde-live-response-mcp simulator / check", () => {
  let sim: ChildProcess;
  let info: ConnectionInfo;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    sim = node(["simulator", "--time-scale", "600"]);
    const lines = createInterface({ input: sim.stdout! });
    const [first] = (await once(lines, "line")) as [string];
    info = JSON.parse(first) as ConnectionInfo;
    env = {
      MDE_API_BASE_URL: info.apiBase,
      AZURE_AUTHORITY_HOST: info.authorityHost,
      AZURE_TENANT_ID: info.tenantId,
      AZURE_CLIENT_ID: info.clientId,
      AZURE_CLIENT_SECRET: info.clientSecret,
      NODE_EXTRA_CA_CERTS: info.caFile,
    };
  });
  afterAll(async () => {
    sim.kill("SIGTERM");
    await once(sim, "exit");
  });

  it("prints one JSON line with everything a client needs", async () => {
    expect(Object.keys(info).sort()).toEqual(
      ["apiBase", "authorityHost", "caFile", "clientId", "clientSecret", "tenantId"].sort(),
    );
    expect(info.apiBase).toMatch(/^https:\/\/localhost:\d+$/);
    const ca = await readFile(info.caFile, "utf8");
    expect(ca).toContain("BEGIN CERTIFICATE");
    // The CA it names really is the one the simulator's TLS chain ends in.
    const res = await request(`${info.apiBase}/_simulator/stats`, {
      dispatcher: new Agent({ connect: { ca } }),
    });
    expect(res.statusCode).toBe(200);
    await res.body.json();
  });

  it("check walks token, permissions and read endpoints against it and succeeds", async () => {
    const result = await run(["check"], env);
    expect(result.stdout).toContain("ok   token acquired");
    expect(result.stdout).toMatch(/ok {3}library: 13 file\(s\)/);
    expect(result.stdout).not.toContain("FAIL");
    expect(result.code).toBe(0);
  });

  it("check names the fix for a wrong secret and never prints it", async () => {
    const wrong = "Wrong~SecretValue-1234567890abcdef";
    const result = await run(["check"], { ...env, AZURE_CLIENT_SECRET: wrong });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAIL token: .*AZURE_CLIENT_SECRET/);
    expect(result.stdout + result.stderr).not.toContain(wrong);
  });

  it("serves the tenant of a --scenario file, and names every mistake in a bad one with its path", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cli-scenario-"));
    try {
      const demo = JSON.parse(
        await readFile(new URL("../../examples/scenario.demo.json", import.meta.url), "utf8"),
      );
      const custom = { ...demo, library: demo.library.slice(0, 2) };
      const good = join(dir, "good.json");
      await writeFile(good, JSON.stringify(custom));
      const child = node(["simulator", "--scenario", good]);
      const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
      const custInfo = JSON.parse(line) as ConnectionInfo;
      const result = await run(["check"], {
        ...env,
        MDE_API_BASE_URL: custInfo.apiBase,
        AZURE_AUTHORITY_HOST: custInfo.authorityHost,
        NODE_EXTRA_CA_CERTS: custInfo.caFile,
      });
      child.kill("SIGTERM");
      await once(child, "exit");
      expect(result.stdout).toMatch(/ok {3}library: 2 file\(s\)/);

      const bad = join(dir, "bad.json");
      await writeFile(bad, JSON.stringify({ ...demo, devices: [{ ...demo.devices[0], id: "not-hex" }] }));
      const refused = await run(["simulator", "--scenario", bad], {});
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain("devices.0.id: a device id is 40 lower-case hex characters");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects bad flags and settings with a message naming them", async () => {
    const badScale = await run(["simulator", "--time-scale", "0"], {});
    expect(badScale.code).toBe(2);
    expect(badScale.stderr).toContain("--time-scale must be a number greater than 0");
    const badEnv = await run(["check"], { MDE_CLOUD: "mars" });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toContain("MDE_CLOUD must be one of commercial");
    const unknown = await run(["frobnicate"], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });
});
