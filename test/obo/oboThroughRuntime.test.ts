import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../../scripts/ensureBuilt.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { DEVICES, SCRIPT } from "../defender/clientFixture.js";
import { ServeProcess } from "../helpers/serveProcess.js";
import { startTestSimulator, TEST_TIME_SCALE, type TestSimulator } from "../helpers/simulatorHarness.js";
import { MCP_APP_ID_URI, MCP_SCOPE_NAME, oboScenario, USERS, userToken } from "./oboFixture.js";

/**
 * On-Behalf-Of as an operator turns it on: `serve --transport http` with MDE_HTTP_OBO=1 and Entra ID
 * tokens for this server, every part built from settings by the runtime. Users sign in at the
 * simulator and call tools with their own tokens; Defender sees each user's delegated token.
 */
describe("On-Behalf-Of through the runtime built from settings", () => {
  let t: TestSimulator;
  let server: ServeProcess;
  let dir: string;
  const agents: Client[] = [];
  const tokens: string[] = [];

  const connectAs = async (name: keyof typeof USERS): Promise<Client> => {
    const token = await userToken(t, name);
    tokens.push(token);
    const agent = await server.connect({ authorization: `Bearer ${token}` }, `${name}-ide`);
    agents.push(agent);
    return agent;
  };

  const run = async (agent: Client, machineId: string): Promise<CallToolResult> =>
    (await agent.callTool({
      name: "run_live_response",
      arguments: {
        machine_ids: [machineId],
        commands: [{ type: "RunScript", script_name: SCRIPT }],
        comment: "IR-9 triage",
        wait_seconds: 30,
      },
    })) as CallToolResult;

  beforeAll(async () => {
    await ensureBuilt();
    t = await startTestSimulator({ scenario: oboScenario() });
    dir = await mkdtemp(join(tmpdir(), "obo-runtime-"));
    server = await ServeProcess.start(t.sim, {
      MDE_TIME_SCALE: String(TEST_TIME_SCALE),
      MDE_DOWNLOAD_DIR: join(dir, "downloads"),
      MDE_AUDIT_LOG: join(dir, "audit.jsonl"),
      MDE_HTTP_OAUTH_AUDIENCE: MCP_APP_ID_URI,
      MDE_HTTP_OAUTH_SCOPE: MCP_SCOPE_NAME,
      MDE_HTTP_OBO: "1",
    });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await server?.stop();
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("acts as the signed-in user at Defender, with the user named in the comment and the audit log", async () => {
    const alice = await connectAs("alice");
    const result = await run(alice, DEVICES.finance);
    expect(result.isError).toBeFalsy();
    const [entry] = (result.structuredContent as { actions: ActionEntry[] }).actions;
    expect(entry?.status).toBe("Succeeded");
    const action = t.sim.engine.getAction(entry?.action_id ?? "");
    expect(action?.requestor).toBe(USERS.alice.upn);
    expect(action?.requestorComment).toMatch(
      new RegExp(`^IR-9 triage by ${USERS.alice.upn} \\[mcp:req_[0-9a-f]{12}\\]$`),
    );

    const records = (await readFile(join(dir, "audit.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { kind: string; who?: { principal?: string }; action_id?: string });
    const request = records.find((r) => r.kind === "request");
    expect(request?.who?.principal).toBe(USERS.alice.upn);
    expect(records.find((r) => r.kind === "submitted")).toMatchObject({
      action_id: entry?.action_id,
      who: { principal: USERS.alice.upn },
    });
  });

  it("does not find a device outside the user's device groups, and submits nothing there", async () => {
    const bob = await connectAs("bob");
    const refused = await run(bob, DEVICES.finance);
    expect(refused.isError).toBe(true);
    const [entry] = (refused.structuredContent as { actions: ActionEntry[] }).actions;
    expect(entry).toMatchObject({ status: "NotSubmitted", action_id: null });
    expect(entry?.error?.code).toMatch(/NOT_FOUND|NotFound/i);
    const found = (await bob.callTool({
      name: "find_machines",
      arguments: { machine_id: DEVICES.finance },
    })) as CallToolResult;
    expect((found.structuredContent as { machines?: unknown[] } | undefined)?.machines ?? []).toEqual([]);
    expect(t.sim.engine.listActions().filter((a) => a.requestor === USERS.bob.upn)).toEqual([]);
  });

  it("never lets a client's own token reach Defender: each call carries its user's OBO token, or the app's", async () => {
    const stats = t.sim.stats();
    const users = Object.keys(stats.callers).filter((c) => !c.startsWith("app:"));
    expect(users.sort()).toEqual([USERS.alice.upn, USERS.bob.upn].sort());
    // A token issued for this server (audience api://mde-mcp…) would have been refused by Defender.
    expect(stats.unauthorized).toBe(0);
    const totalCalls = Object.values(stats.calls).reduce((a, b) => a + b, 0);
    expect(Object.values(stats.callers).reduce((a, b) => a + b, 0)).toBe(totalCalls);
    // The server's log names neither token.
    for (const token of tokens) expect(server.stderr).not.toContain(token);
  });
});
