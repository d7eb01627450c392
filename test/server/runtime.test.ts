import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthenticationError } from "../../src/auth/errors.js";
import { loadConfig } from "../../src/config/loadConfig.js";
import { createMcpServer } from "../../src/server/createMcpServer.js";
import { createRuntime } from "../../src/server/runtime.js";
import { version } from "../../src/version.js";
import { capturingLogger, rejectionOf } from "../defender/clientFixture.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "runtime-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const simulatorSettings = (env: NodeJS.ProcessEnv = {}) =>
  loadConfig({ argv: ["--simulator", "--time-scale", "600", "--download-dir", dir], env, cwd: dir });

describe("createRuntime with the embedded simulator", () => {
  it("serves the demo tenant with the settings' limits, warns about ignored tenant settings, and closes it", async () => {
    const { logger, lines } = capturingLogger();
    const runtime = await createRuntime(
      simulatorSettings({
        AZURE_TENANT_ID: "11111111-2222-3333-4444-555555555555",
        MDE_MAX_DEVICES_PER_CALL: "7",
        MDE_DEFAULT_WAIT_SECONDS: "20",
        MDE_MAX_OUTPUT_CHARS: "5000",
        MDE_SUBMITS_PER_MINUTE: "6",
        MDE_READS_PER_MINUTE: "50",
        MDE_READS_PER_HOUR: "900",
      }),
      { logger },
    );
    const logs = lines.map((l) => JSON.parse(l) as { msg: string; apiBase?: string; ignored?: string[] });
    const started = logs.find((l) => l.msg.includes("SIMULATED tenant"));
    expect(started?.apiBase).toMatch(/^https:\/\/localhost:\d+$/);
    expect(logs.find((l) => l.ignored)?.ignored).toEqual(["AZURE_TENANT_ID"]);

    expect(runtime.simulated).toBe(true);
    expect(runtime.deps.limits).toEqual({
      defaultWaitSeconds: 20,
      maxOutputChars: 5000,
      maxDevicesPerCall: 7,
    });
    expect(runtime.deps.client.limiters.settings).toMatchObject({
      submitPerMinute: 6,
      readsPerMinute: 50,
      readsPerHour: 900,
    });
    expect((await runtime.deps.client.listLibraryFiles()).items).toHaveLength(13);

    await runtime.close();
    const dispatcher = new Agent();
    const afterClose = await rejectionOf(request(`${started?.apiBase}/api/machines`, { dispatcher }));
    await dispatcher.close();
    expect((afterClose as Error & { code?: string }).code).toBe("ECONNREFUSED");
  });

  it("the McpServer built on it gives its name, version, and instructions with the configured limits", async () => {
    const { logger } = capturingLogger();
    const runtime = await createRuntime(
      simulatorSettings({ MDE_MAX_DEVICES_PER_CALL: "7", MDE_DEFAULT_WAIT_SECONDS: "20" }),
      { logger },
    );
    const server = createMcpServer(runtime.deps);
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const client = new Client({ name: "runtime-test", version: "1.0.0" });
    await Promise.all([server.connect(serverSide), client.connect(clientSide)]);
    try {
      expect(client.getServerVersion()).toMatchObject({ name: "mde-live-response-mcp", version });
      const instructions = client.getInstructions() ?? "";
      expect(instructions).toContain("at most 7 devices per call");
      expect(instructions).toContain("default 20 s");
      const result = await client.callTool({ name: "find_machines", arguments: { name: "hr-ws" } });
      expect(JSON.stringify(result.structuredContent)).toContain("hr-ws-0087.contoso.com");
    } finally {
      await client.close();
      await server.close();
      await runtime.close();
    }
  });
});

describe("createRuntime against a tenant", () => {
  it("without a credential fails naming the variables to set", async () => {
    const { logger } = capturingLogger();
    const settings = loadConfig({ argv: [], env: { MDE_DOWNLOAD_DIR: dir }, cwd: dir });
    const error = await rejectionOf(createRuntime(settings, { logger }));
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).code).toBe("AUTH_CONFIG");
    expect(error.message).toContain("AZURE_CLIENT_SECRET");
  });
});
