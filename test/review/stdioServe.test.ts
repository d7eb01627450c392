import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, sourceCliArgs } from "../helpers/sourceCli.js";
import { until } from "../helpers/until.js";

/** `serve --review-port 0` as an MCP client starts it: the console beside the stdio protocol. */
const serverArgs = sourceCliArgs("serve", "--simulator", "--review-port", "0");

let dir: string;
let client: Client;
let stderr = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "stdio-review-"));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: serverArgs,
    cwd: ROOT,
    env: { MDE_TIME_SCALE: "60", MDE_DOWNLOAD_DIR: dir, MDE_AUDIT_LOG: join(dir, "audit.jsonl") },
    stderr: "pipe",
  });
  transport.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  client = new Client({ name: "stdio-review-test", version: "1.0.0" });
  await client.connect(transport);
});
afterAll(async () => {
  await client?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("serve --review-port over stdio", () => {
  it("prints a one-time sign-in link on stderr, outside the JSON log, that opens the console once", async () => {
    await until(() => /\/review\/signin\?token=/.test(stderr));
    const link = /(http:\/\/127\.0\.0\.1:\d+)\/review\/signin\?token=([A-Za-z0-9_-]+)/.exec(stderr);
    const [url, origin, token] = [link?.[0] ?? "", link?.[1] ?? "", link?.[2] ?? ""];
    const logLines = stderr.split("\n").filter((line) => line.startsWith("{"));
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.some((line) => line.includes(token))).toBe(false);
    const signIn = await request(url);
    await signIn.body.dump();
    expect(signIn.statusCode).toBe(303);
    const cookie = String(signIn.headers["set-cookie"]).split(";")[0] ?? "";
    const session = await request(`${origin}/review/api/session`, { headers: { cookie } });
    expect(await session.body.json()).toMatchObject({ reviewer: "local reviewer", history: true });
    const again = await request(url);
    await again.body.dump();
    expect(again.headers["set-cookie"]).toBeUndefined();
    // The MCP side is unaffected: the tools answer over stdio.
    expect((await client.listTools()).tools.map((t) => t.name)).toContain("run_live_response");
  });
});
