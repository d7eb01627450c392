import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_PATH, ensureBuilt } from "../../scripts/ensureBuilt.js";
import { ConfigError } from "../../src/config/settings.js";
import { httpConfigFrom } from "../../src/http/httpConfig.js";
import { testSettings, writeApiKeysFile } from "./httpHarness.js";

/** The product as users start it: `node dist/cli.js serve --transport http`, a real process. */

const CREDENTIAL_VARIABLES = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "MDE_CONFIG_FILE"];

function startCli(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string } {
  const inherited = { ...process.env };
  for (const name of CREDENTIAL_VARIABLES) delete inherited[name];
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { ...inherited, LOG_LEVEL: "info", MDE_TIME_SCALE: "600", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return { child, stderr: () => stderr };
}

/** The URL the server logged once ready (it listens on a free port). */
async function readyUrl(child: ChildProcess, stderr: () => string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const line = stderr()
      .split("\n")
      .find((l) => l.includes('"msg":"MCP server ready"'));
    if (line !== undefined) return (JSON.parse(line) as { url: string }).url;
    if (child.exitCode !== null) throw new Error(`the server exited ${child.exitCode}: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the server did not get ready: ${stderr()}`);
}

describe("serve --transport http (the built CLI)", () => {
  let dir: string;
  beforeAll(async () => {
    await ensureBuilt();
    dir = await mkdtemp(join(tmpdir(), "serve-http-"));
  }, 120_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("serves MCP over HTTP with API keys against the embedded simulator, and stops on SIGTERM", async () => {
    const key = randomBytes(32).toString("base64url");
    const keysFile = await writeApiKeysFile(dir, { "ci-agent": key });
    const { child, stderr } = startCli(["serve", "--transport", "http", "--simulator", "--port", "0"], {
      MDE_HTTP_API_KEYS_FILE: keysFile,
      MDE_DOWNLOAD_DIR: join(dir, "downloads"),
    });
    try {
      const url = await readyUrl(child, stderr);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      });
      const client = new Client({ name: "cli-test", version: "0.0.0" });
      await client.connect(transport);
      const result = await client.callTool({ name: "find_machines", arguments: { name: "fin-ws" } });
      expect(result.isError).toBeFalsy();
      expect(JSON.stringify(result.structuredContent)).toContain("fin-ws-0142");
      await client.close();
      expect(stderr()).toContain('"principal":"ci-agent"');
      expect(stderr()).not.toContain(key);
    } finally {
      child.kill("SIGTERM");
    }
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(0);
    expect(stderr()).toContain('"msg":"stopped"');
  }, 30_000);

  it("refuses to listen beyond loopback without authentication: exit 2 and why", async () => {
    const { child, stderr } = startCli(
      ["serve", "--transport", "http", "--host", "0.0.0.0", "--simulator"],
      {},
    );
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(2);
    expect(stderr()).toContain("refusing to listen on 0.0.0.0 without authentication");
    expect(stderr()).not.toContain("MCP server");
  });
});

describe("httpConfigFrom", () => {
  const problemsOf = (values: Parameters<typeof testSettings>[0]): readonly string[] => {
    try {
      httpConfigFrom(testSettings(values));
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
  };

  it("binds 127.0.0.1 by default and allows every loopback address without authentication", () => {
    expect(httpConfigFrom(testSettings()).host).toBe("127.0.0.1");
    for (const host of ["127.0.0.1", "localhost", "::1", "127.0.0.2"]) {
      expect(problemsOf({ MDE_HTTP_HOST: host })).toEqual([]);
    }
  });

  it("refuses any other address until API keys or OAuth are configured", () => {
    for (const host of ["0.0.0.0", "::", "10.1.2.3", "mcp.contoso.test"]) {
      expect(problemsOf({ MDE_HTTP_HOST: host })).toEqual([
        expect.stringContaining(`refusing to listen on ${host} without authentication`),
      ]);
    }
    expect(problemsOf({ MDE_HTTP_HOST: "0.0.0.0", MDE_HTTP_API_KEYS_FILE: "keys.yaml" })).toEqual([]);
    expect(
      problemsOf({
        MDE_HTTP_HOST: "0.0.0.0",
        MDE_HTTP_OAUTH_AUDIENCE: "api://mde-mcp",
        MDE_HTTP_OAUTH_TENANT_ID: "6f1d2c3b-0000-4000-8000-000000000001",
        MDE_HTTP_OAUTH_ROLE: "Mcp.Invoke",
      }),
    ).toEqual([]);
  });

  it("refuses On-Behalf-Of without OAuth: there would be no user token to exchange", () => {
    expect(problemsOf({ MDE_HTTP_OBO: "1" })).toEqual([
      expect.stringContaining("MDE_HTTP_OBO: On-Behalf-Of needs the callers' Entra ID tokens"),
    ]);
    expect(
      problemsOf({
        MDE_HTTP_OBO: "1",
        MDE_HTTP_OAUTH_AUDIENCE: "api://mde-mcp",
        MDE_HTTP_OAUTH_TENANT_ID: "6f1d2c3b-0000-4000-8000-000000000001",
        MDE_HTTP_OAUTH_SCOPE: "Mcp.Invoke",
      }),
    ).toEqual([]);
  });

  it("requires OAuth to name a tenant and the scope or role that admits a caller", () => {
    expect(problemsOf({ MDE_HTTP_OAUTH_AUDIENCE: "api://mde-mcp" })).toEqual([
      expect.stringContaining("MDE_HTTP_OAUTH_TENANT_ID: set the tenant"),
      expect.stringContaining("MDE_HTTP_OAUTH_SCOPE / MDE_HTTP_OAUTH_ROLE"),
    ]);
    expect(problemsOf({ MDE_HTTP_OAUTH_ROLE: "Mcp.Invoke" })).toEqual([
      "MDE_HTTP_OAUTH_ROLE: OAuth is off until MDE_HTTP_OAUTH_AUDIENCE names this server",
    ]);
  });

  it("takes origins only as scheme://host[:port]", () => {
    expect(
      problemsOf({ MDE_HTTP_ALLOWED_ORIGINS: "https://console.contoso.test, http://localhost:3000" }),
    ).toEqual([]);
    expect(problemsOf({ MDE_HTTP_ALLOWED_ORIGINS: "https://console.contoso.test/app,*" })).toEqual([
      expect.stringContaining('"https://console.contoso.test/app" is not an origin'),
      expect.stringContaining('"*" is not an origin'),
    ]);
  });
});

describe("examples/http-client.json", () => {
  it("configures HTTP clients of /mcp, the shared one with an Authorization header", async () => {
    const example = JSON.parse(
      await readFile(new URL("../../examples/http-client.json", import.meta.url), "utf8"),
    ) as { mcpServers: Record<string, { type: string; url: string; headers?: Record<string, string> }> };
    const servers = Object.values(example.mcpServers);
    expect(servers.length).toBe(2);
    for (const server of servers) {
      expect(server.type).toBe("http");
      expect(new URL(server.url).pathname).toBe("/mcp");
    }
    expect(servers.some((s) => /^Bearer \S+$/.test(s.headers?.Authorization ?? ""))).toBe(true);
  });
});
