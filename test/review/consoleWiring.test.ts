import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { Agent, request } from "undici";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Settings } from "../../src/config/settings.js";
import { createMcpServer } from "../../src/server/createMcpServer.js";
import { createRuntime, type Runtime } from "../../src/server/runtime.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { quietLogger } from "../defender/clientFixture.js";
import { testSettings } from "../http/httpHarness.js";
import { auditRecords, CONSOLE_TIME_SCALE, consolePolicy, startHttpConsole } from "./consoleHarness.js";
import { DANA, JOHN, REVIEWER_ROLE, startEntraConsole } from "./entraConsole.js";
import { signInAs } from "../helpers/entraSignInPages.js";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  vi.restoreAllMocks();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "review-wiring-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function stdioSettings(dir: string, values: Record<string, string> = {}): Promise<Settings> {
  const policyFile = join(dir, "policy.yaml");
  await writeFile(policyFile, consolePolicy(60));
  return testSettings({
    MDE_TRANSPORT: "stdio",
    MDE_TIME_SCALE: String(CONSOLE_TIME_SCALE),
    MDE_DOWNLOAD_DIR: join(dir, "downloads"),
    MDE_POLICY_FILE: policyFile,
    ...values,
  });
}

/** The runtime as stdio serves it, with an MCP client linked in memory. */
async function stdioAgent(
  settings: Settings,
): Promise<{ runtime: Runtime; agent: Client; close(): Promise<void> }> {
  const runtime = await createRuntime(settings, { logger: quietLogger });
  const server = createMcpServer(runtime.deps, { timeScale: CONSOLE_TIME_SCALE, pollIntervalSeconds: 5 });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const agent = new Client({ name: "headless-agent", version: "1.0.0" });
  await agent.connect(clientSide);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await agent.close();
    await server.close();
    await runtime.close();
  };
  cleanup.push(close);
  return { runtime, agent, close };
}

async function askConsole(agent: Client): Promise<CallToolResult> {
  const found = (await agent.callTool({ name: "find_machines", arguments: { name: "fin-ws-0142" } }))
    .structuredContent as { machines: Array<{ machine_id: string }> };
  return (await agent.callTool({
    name: "run_live_response",
    arguments: {
      machine_ids: [found.machines[0]?.machine_id],
      commands: [{ type: "RunScript", script_name: "Get-ProcessList.ps1" }],
      comment: "IR-81 overnight triage",
      wait_seconds: 0,
    },
  })) as CallToolResult;
}

describe("review console wiring", () => {
  it("over stdio without a review port, refuses console approval and names --review-port", async () => {
    const { runtime, agent } = await stdioAgent(await stdioSettings(await tempDir()));
    expect(runtime.review).toBeUndefined();
    const result = await askConsole(agent);
    expect(result.isError).toBe(true);
    const text = JSON.stringify(result.content);
    expect(text).toContain("APPROVAL_UNAVAILABLE");
    expect(text).toContain("--review-port");
  });

  it("keeps pending approvals beside the audit log by default, across a restart", async () => {
    const dir = await tempDir();
    const settings = await stdioSettings(dir, {
      MDE_REVIEW_PORT: "0",
      MDE_AUDIT_LOG: join(dir, "audit.jsonl"),
    });
    const first = await stdioAgent(settings);
    const [entry] = (structured(await askConsole(first.agent)) as { actions: ActionEntry[] }).actions;
    expect(entry?.status).toBe("AwaitingApproval");
    await first.close();
    expect((await stat(join(dir, "review-approvals.json"))).isFile()).toBe(true);
    const again = await createRuntime(settings, { logger: quietLogger });
    cleanup.push(() => again.close());
    expect((await again.review?.store.get(entry?.request_id ?? ""))?.status).toBe("pending");
  });

  it("names MDE_REVIEW_KEYS_FILE when the reviewers' keys file is wrong", async () => {
    const dir = await tempDir();
    const keys = join(dir, "reviewers.yaml");
    await writeFile(keys, "keys: []\n");
    const settings = await stdioSettings(dir, { MDE_REVIEW_PORT: "0", MDE_REVIEW_KEYS_FILE: keys });
    await expect(createRuntime(settings, { logger: quietLogger })).rejects.toThrow(/MDE_REVIEW_KEYS_FILE/);
  });

  it("over HTTP without reviewer keys on loopback, prints a one-time link to stderr that opens one session cookie", async () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const h = await startHttpConsole({
      policy: consolePolicy(60),
      agentKeys: { "agent-1": "agent-key-0123456789abcdef" },
    });
    cleanup.push(() => h.close());
    vi.restoreAllMocks();
    const link = /(http:\/\/\S+\/review\/signin\?token=[A-Za-z0-9_-]{43})/.exec(written.join(""))?.[1];
    expect(link).toBeDefined();
    const first = await request(link ?? "", { headers: { "x-forwarded-proto": "https" } });
    await first.body.dump();
    expect(first.statusCode).toBe(303);
    const cookie = String(first.headers["set-cookie"]);
    expect(cookie).toMatch(
      /^mde_review_session=[A-Za-z0-9_-]+; HttpOnly; SameSite=Strict; Path=\/review; Max-Age=\d+; Secure$/,
    );
    const session = await request(`${h.origin}/review/api/session`, {
      headers: { cookie: cookie.split(";")[0] ?? "" },
    });
    expect(await session.body.json()).toMatchObject({ reviewer: "local reviewer" });
    const second = await request(link ?? "");
    await second.body.dump();
    expect(second.headers.location).toBe("/review?signin=link");
    expect(second.headers["set-cookie"]).toBeUndefined();
  });

  it("answers each refused decision with what the reviewer can do, and reads outputs of this server's actions only", async () => {
    const h = await startHttpConsole({
      policy: consolePolicy(60),
      agentKeys: { "agent-1": "agent-key-0123456789abcdef" },
    });
    cleanup.push(() => h.close());
    const signIn = await request(h.review.signInLink(h.origin));
    await signIn.body.dump();
    const cookie = String(signIn.headers["set-cookie"]).split(";")[0] ?? "";
    const session = (await (
      await request(`${h.origin}/review/api/session`, { headers: { cookie } })
    ).body.json()) as { csrf_token: string };
    const [entry] = (structured(await askConsole(h.agent)) as { actions: ActionEntry[] }).actions;
    const id = entry?.request_id ?? "";
    const sha = (await h.review.store.get(id))?.payload_sha256 ?? "";
    const decide = (body: DecisionBody) =>
      postDecision(h.origin, id, { cookie, csrf: session.csrf_token }, body);
    expect(await decide({ approve: true, reason: " ", payload_sha256: sha })).toMatchObject({ status: 400 });
    expect(await decide({ approve: true, reason: "ok", payload_sha256: "f".repeat(64) })).toMatchObject({
      status: 409,
      body: { error: "payload_mismatch", message: expect.stringContaining("changed") },
    });
    expect((await decide({ approve: false, reason: "not tonight", payload_sha256: sha })).status).toBe(200);
    expect(await decide({ approve: true, reason: "ok", payload_sha256: sha })).toMatchObject({
      status: 409,
      body: { error: "not_pending", message: expect.stringContaining("already decided") },
    });
    const output = await request(
      `${h.origin}/review/api/output?action_id=someone-elses-action&command_index=0`,
      {
        headers: { cookie },
      },
    );
    await output.body.dump();
    expect(output.statusCode).toBe(404);
  });

  it("signs a reviewer in with Entra ID at the demo tenant, refuses one without the role, and audits the decision under the UPN", async () => {
    const h = await startEntraConsole(consolePolicy(60));
    cleanup.push(() => h.close());
    // The embedded simulator's CA stays inside the runtime, which checks it; this browser only follows.
    const browser = new Agent({ connect: { rejectUnauthorized: false } });
    cleanup.push(() => browser.close());
    const get = async (path: string, cookie?: string) => {
      const res = await request(new URL(path, h.origin), {
        dispatcher: browser,
        headers: cookie === undefined ? {} : { cookie },
      });
      const cookies = ([] as string[]).concat(res.headers["set-cookie"] ?? []);
      const location = res.headers.location;
      return {
        status: res.statusCode,
        location: typeof location === "string" ? location : undefined,
        cookies,
        text: await res.body.text(),
      };
    };
    /** /review/signin/entra → Entra's sign-in page → the console's callback, as a browser carries cookies. */
    const signInThroughEntra = async (user: { upn: string; password: string }) => {
      const begun = await get("/review/signin/entra");
      expect(begun.status).toBe(302);
      const pending = begun.cookies[0]?.split(";")[0] ?? "";
      const answer = await signInAs(browser, begun.location ?? "", user);
      expect(answer.status).toBe(302);
      const callback = new URL(answer.location ?? "");
      expect(callback.origin).toBe(h.origin);
      return get(`${callback.pathname}${callback.search}`, pending);
    };

    const signedOut = await get("/review/api/session");
    expect(signedOut.status).toBe(401);
    expect(JSON.parse(signedOut.text)).toMatchObject({
      sign_in_links: [{ label: "Sign in with Entra ID", path: "/review/signin/entra" }],
    });

    const refused = await signInThroughEntra(JOHN);
    expect(refused.status).toBe(403);
    expect(refused.text).toContain("ENTRA_SIGNIN_ROLE");
    expect(refused.text).toContain(`${JOHN.upn} signed in but is not assigned the app role ${REVIEWER_ROLE}`);
    expect(refused.cookies.some((c) => c.startsWith("mde_review_session="))).toBe(false);

    const done = await signInThroughEntra(DANA);
    expect(done.status).toBe(303);
    expect(done.location).toBe("/review");
    const sessionCookie = done.cookies.find((c) => c.startsWith("mde_review_session=")) ?? "";
    expect(sessionCookie).toMatch(/; HttpOnly; SameSite=Strict; Path=\/review; /);
    const cookie = sessionCookie.split(";")[0] ?? "";
    const session = JSON.parse((await get("/review/api/session", cookie)).text) as {
      reviewer: string;
      csrf_token: string;
    };
    expect(session.reviewer).toBe(DANA.upn);

    const [entry] = (structured(await askConsole(h.agent)) as { actions: ActionEntry[] }).actions;
    const id = entry?.request_id ?? "";
    const pending = await h.review.store.get(id);
    const decided = await postDecision(
      h.origin,
      id,
      { cookie, csrf: session.csrf_token },
      { approve: true, reason: "IR-81: expected triage", payload_sha256: pending?.payload_sha256 ?? "" },
    );
    expect(decided.status).toBe(200);
    const given = (await auditRecords(h.auditLog)).find(
      (r) => r.kind === "approval_given" && r.request_id === pending?.call_id,
    );
    expect(given).toMatchObject({ reviewer: DANA.upn, reason: "IR-81: expected triage" });
  });
});

const structured = (result: CallToolResult): unknown => result.structuredContent;

interface DecisionBody {
  approve: boolean;
  reason: string;
  payload_sha256: string;
}

/** A reviewer's decision, POSTed as the console's page sends it: session cookie, same origin, CSRF token. */
async function postDecision(
  origin: string,
  id: string,
  reviewer: { cookie: string; csrf: string },
  body: DecisionBody,
): Promise<{ status: number; body: { error: string; message: string } }> {
  const res = await request(`${origin}/review/api/requests/${id}/decision`, {
    method: "POST",
    headers: {
      cookie: reviewer.cookie,
      origin,
      "x-csrf-token": reviewer.csrf,
      "content-type": "application/json",
    },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, body: (await res.body.json()) as { error: string; message: string } };
}
