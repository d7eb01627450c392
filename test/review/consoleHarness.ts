import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { BrowserContext, Page } from "playwright-core";
import type { AuditEntry } from "../../src/audit/auditRecord.js";
import { startHttpService } from "../../src/http/runHttpServer.js";
import { startReviewServer } from "../../src/review/console/reviewServer.js";
import type { ReviewConsole } from "../../src/review/console/reviewConsole.js";
import { createMcpServer } from "../../src/server/createMcpServer.js";
import { createRuntime } from "../../src/server/runtime.js";
import { quietLogger } from "../defender/clientFixture.js";
import { testSettings } from "../http/httpHarness.js";

/**
 * The review console as the product serves it, with a real MCP client as the agent: over HTTP (the
 * console at /review, API-key principals) or as over stdio (the console on its own loopback port,
 * the agent linked in memory). Scale 60: a policy minute is a real second.
 */
export const CONSOLE_TIME_SCALE = 60;

export interface ConsoleHarness {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  review: ReviewConsole;
  agent: Client;
  auditLog: string;
  close(): Promise<void>;
}

export const consolePolicy = (expiresMinutes: number): string =>
  [
    "approval:",
    "  command_types: [RunScript, GetFile, PutFile]",
    "  mode: console",
    "  two_person: true",
    `  expires_minutes: ${expiresMinutes}`,
    "",
  ].join("\n");

async function keysFile(path: string, keys: Record<string, string>): Promise<string> {
  const lines = Object.entries(keys).map(
    ([principal, key]) =>
      `  - principal: ${principal}\n    sha256: ${createHash("sha256").update(key).digest("hex")}`,
  );
  await writeFile(path, `keys:\n${lines.join("\n")}\n`);
  return path;
}

/** HTTP mode: the agent calls /mcp with its API key; reviewers sign in with their own keys. */
export async function startHttpConsole(options: {
  policy: string;
  agentKeys: Record<string, string>;
  /** Unset: no MDE_REVIEW_KEYS_FILE, so the server prints a one-time sign-in link instead. */
  reviewerKeys?: Record<string, string>;
}): Promise<ConsoleHarness> {
  const dir = await mkdtemp(join(tmpdir(), "review-console-"));
  const policyFile = join(dir, "policy.yaml");
  await writeFile(policyFile, options.policy);
  const auditLog = join(dir, "audit.jsonl");
  const service = await startHttpService(
    testSettings({
      MDE_TIME_SCALE: String(CONSOLE_TIME_SCALE),
      MDE_DOWNLOAD_DIR: join(dir, "downloads"),
      MDE_POLICY_FILE: policyFile,
      MDE_AUDIT_LOG: auditLog,
      MDE_HTTP_API_KEYS_FILE: await keysFile(join(dir, "agents.yaml"), options.agentKeys),
      ...(options.reviewerKeys && {
        MDE_REVIEW_KEYS_FILE: await keysFile(join(dir, "reviewers.yaml"), options.reviewerKeys),
      }),
      MDE_HTTP_SESSION_IDLE_SECONDS: "86400",
    }),
    { logger: quietLogger },
  );
  const review = service.runtime.review;
  if (review === undefined) throw new Error("the HTTP service has no review console");
  const [agentKey] = Object.values(options.agentKeys);
  const agent = new Client({ name: "headless-agent", version: "1.0.0" });
  await agent.connect(
    new StreamableHTTPClientTransport(new URL(`${service.server.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${agentKey}` } },
    }),
  );
  return {
    origin: service.server.url,
    review,
    agent,
    auditLog,
    async close() {
      await agent.close();
      await service.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Stdio mode: the runtime with a review port, the console on its own loopback server. `port` fixes
 * that port (0: any free one); `settings` adds to or overrides the runtime's settings.
 */
export async function startStdioConsole(options: {
  policy: string;
  port?: number;
  settings?: Record<string, string>;
}): Promise<ConsoleHarness> {
  const port = options.port ?? 0;
  const dir = await mkdtemp(join(tmpdir(), "review-console-"));
  const policyFile = join(dir, "policy.yaml");
  await writeFile(policyFile, options.policy);
  const auditLog = join(dir, "audit.jsonl");
  const settings = testSettings({
    MDE_TRANSPORT: "stdio",
    MDE_REVIEW_PORT: String(port),
    MDE_TIME_SCALE: String(CONSOLE_TIME_SCALE),
    MDE_DOWNLOAD_DIR: join(dir, "downloads"),
    MDE_POLICY_FILE: policyFile,
    MDE_AUDIT_LOG: auditLog,
    ...options.settings,
  });
  const runtime = await createRuntime(settings, { logger: quietLogger });
  const review = runtime.review;
  if (review === undefined) throw new Error("a review port was set, yet the runtime has no console");
  const server = await startReviewServer(review, { port, logger: quietLogger });
  const mcp = createMcpServer(runtime.deps, { timeScale: CONSOLE_TIME_SCALE, pollIntervalSeconds: 5 });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await mcp.connect(serverSide);
  const agent = new Client({ name: "headless-agent", version: "1.0.0" });
  await agent.connect(clientSide);
  return {
    origin: server.origin,
    review,
    agent,
    auditLog,
    async close() {
      await agent.close();
      await mcp.close();
      await server.close();
      await runtime.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A page that records every dialog (alert, confirm) a script might open. */
export async function openPage(context: BrowserContext): Promise<{ page: Page; dialogs: string[] }> {
  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return { page, dialogs };
}

/** Signs in with a reviewer key through the page's form; resolves once the console shows. */
export async function signInWithKey(page: Page, origin: string, key: string): Promise<void> {
  await page.goto(`${origin}/review`);
  await page.getByLabel("Reviewer key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("body[data-ready=true]");
}

export async function auditRecords(path: string): Promise<AuditEntry[]> {
  const text = await readFile(path, "utf8");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as AuditEntry);
}
