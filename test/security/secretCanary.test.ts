import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, CLI_PATH } from "../../scripts/ensureBuilt.js";
import {
  defaultScenario,
  parseScenario,
  startSimulator,
  type RunningSimulator,
} from "../../src/simulator/index.js";
import { DEVICES, SCRIPT } from "../defender/clientFixture.js";
import { generatedDeviceId } from "../helpers/simulatorHarness.js";
import { createTestCertificate, type TestCertificate } from "../helpers/tokenServer.js";

/**
 * The credentials as canaries: a client secret, a certificate's private key, and every access token
 * the tenant issued for them. The server runs as the product runs (`node dist/cli.js` over stdio,
 * debug logging, an audit log) against a simulated tenant, through the flows an agent uses and the
 * ways they fail; then every byte it wrote — logs, tool results, errors, the audit log, the names
 * of the files it saved — is searched for each canary.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const LOOPBACK_GUARD = join(ROOT, "test", "setup", "loopbackOnly.ts");
const TIME_SCALE = "600";
const ALL_ROLES = ["Machine.LiveResponse", "Machine.Read.All", "Library.Manage"];

/** Letters and digits only, so that no encoding (URL, JSON, form) could hide one from the search. */
const canarySecret = (label: string) => `${label}Canary${randomBytes(24).toString("hex")}`;
const SECRET = canarySecret("client");
const WRONG_SECRET = canarySecret("wrong");
const NO_ROLES_SECRET = canarySecret("noRoles");
const READ_ONLY_SECRET = canarySecret("readOnly");

const secretApp = {
  clientId: randomUUID(),
  displayName: "canary secret app",
  clientSecret: SECRET,
  roles: ALL_ROLES,
};
const noRolesApp = {
  clientId: randomUUID(),
  displayName: "canary app without roles",
  clientSecret: NO_ROLES_SECRET,
};
/** Reads, but neither runs live response nor reads the library: the tools meet 403s. */
const readOnlyApp = {
  clientId: randomUUID(),
  displayName: "canary read-only app",
  clientSecret: READ_ONLY_SECRET,
  roles: ["Machine.Read.All"],
};
const certificateAppId = randomUUID();

/** What one server process left behind. */
interface ServerRun {
  name: string;
  stderr: string;
  /** Every tool result, whole (content and structuredContent). */
  results: CallToolResult[];
  /** Messages of calls that failed outside a result (protocol errors, a start that failed). */
  errors: string[];
  auditPath: string;
  downloadDir: string;
}

let dir: string;
let cert: TestCertificate;
let sim: RunningSimulator;
const runs: ServerRun[] = [];

async function startServer(name: string, credential: Record<string, string>, clientId: string) {
  const run: ServerRun = {
    name,
    stderr: "",
    results: [],
    errors: [],
    auditPath: join(dir, `${name}-audit.jsonl`),
    downloadDir: join(dir, `${name}-downloads`),
  };
  runs.push(run);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ["--import", "tsx", "--import", LOOPBACK_GUARD, CLI_PATH, "serve"],
    cwd: ROOT,
    env: {
      AZURE_TENANT_ID: sim.tenantId,
      AZURE_CLIENT_ID: clientId,
      AZURE_AUTHORITY_HOST: sim.authorityHost,
      MDE_API_BASE_URL: sim.apiBase,
      NODE_EXTRA_CA_CERTS: sim.caFile,
      MDE_TIME_SCALE: TIME_SCALE,
      MDE_DOWNLOAD_DIR: run.downloadDir,
      MDE_AUDIT_LOG: run.auditPath,
      LOG_LEVEL: "debug",
      ...credential,
    },
    stderr: "pipe",
  });
  transport.stderr?.on("data", (d: Buffer) => (run.stderr += d.toString("utf8")));
  const client = new Client({ name: "canary-test", version: "1.0.0" });
  try {
    await client.connect(transport);
  } catch (error) {
    run.errors.push(error instanceof Error ? error.message : String(error));
    return { run, call: async () => undefined, close: () => client.close() };
  }
  const call = async (tool: string, args: Record<string, unknown>): Promise<CallToolResult | undefined> => {
    try {
      const result = (await client.callTool({ name: tool, arguments: args })) as CallToolResult;
      run.results.push(result);
      return result;
    } catch (error) {
      run.errors.push(error instanceof Error ? error.message : String(error));
      return undefined;
    }
  };
  return { run, call, close: () => client.close() };
}

type Actions = { actions: Array<{ action_id: string | null; status: string }> };

/** Every flow of the tools, and the mistakes an agent makes, with the app that has every permission. */
async function fullFlows(): Promise<void> {
  const { call, close } = await startServer("secret", { AZURE_CLIENT_SECRET: SECRET }, secretApp.clientId);
  await call("find_machines", { name: "fin-ws" });
  await call("list_library_files", {});
  const ran = await call("run_live_response", {
    machine_ids: [DEVICES.finance],
    commands: [
      { type: "RunScript", script_name: SCRIPT },
      { type: "GetFile", path: "C:\\Windows\\Temp\\invoice_2291.pdf.exe" },
    ],
    comment: "canary: run and collect",
    wait_seconds: 30,
  });
  const actionId = (ran?.structuredContent as Actions | undefined)?.actions[0]?.action_id;
  let offset: number | null = 0;
  for (let page = 0; offset !== null && page < 3; page++) {
    const result = await call("get_action", {
      action_id: actionId,
      command_index: 0,
      output_offset: offset,
      max_output_chars: 300,
    });
    const action = (result?.structuredContent as { action?: { commands: Array<{ result: unknown }> } })
      ?.action;
    offset =
      (action?.commands[0]?.result as { next_output_offset?: number | null } | null)?.next_output_offset ??
      null;
  }
  const pending = await call("run_live_response", {
    machine_ids: [DEVICES.offlineKiosk],
    commands: [{ type: "RunScript", script_name: SCRIPT }],
    comment: "canary: to be cancelled",
    wait_seconds: 0,
  });
  const pendingId = (pending?.structuredContent as Actions | undefined)?.actions[0]?.action_id;
  await call("cancel_action", { action_id: pendingId, comment: "canary: cancelled" });
  await call("run_live_response", {
    machine_ids: [DEVICES.hr],
    commands: [{ type: "RunScript", script_name: "Failing-Script.ps1" }],
    comment: "canary: a script that fails",
    wait_seconds: 30,
  });
  // Mistakes: an unknown action, an unknown device, forbidden arguments, no search criterion, no such tool.
  await call("get_action", { action_id: randomUUID(), wait_seconds: 0 });
  await call("run_live_response", {
    machine_ids: [generatedDeviceId(4095)],
    commands: [{ type: "RunScript", script_name: SCRIPT }],
    comment: "canary: unknown device",
    wait_seconds: 5,
  });
  await call("run_live_response", {
    machine_ids: [DEVICES.finance],
    commands: [{ type: "RunScript", script_name: SCRIPT, args: "-Path x;whoami" }],
    comment: "canary: forbidden args",
  });
  await call("find_machines", {});
  await call("no_such_tool", {});
  await close();
}

/** The same tenant through a certificate credential: the key is in a file only the server reads. */
async function certificateFlows(): Promise<void> {
  const pem = join(dir, "client.pem");
  await writeFile(pem, `${cert.certPem}\n${cert.keyPem}`, { mode: 0o600 });
  const { call, close } = await startServer(
    "certificate",
    { AZURE_CLIENT_CERTIFICATE_PATH: pem },
    certificateAppId,
  );
  await call("find_machines", { name: "hr-ws" });
  await call("run_live_response", {
    machine_ids: [DEVICES.dc],
    commands: [{ type: "RunScript", script_name: SCRIPT }],
    comment: "canary: certificate credential",
    wait_seconds: 30,
  });
  await close();
}

/**
 * A wrong secret (401 from the token endpoint) and an app without roles (403 from the API) stop the
 * server at start; an app that may only read meets 403s in the tools.
 */
async function refusedFlows(): Promise<void> {
  const wrong = await startServer("wrong-secret", { AZURE_CLIENT_SECRET: WRONG_SECRET }, secretApp.clientId);
  await wrong.call("find_machines", { name: "fin-ws" });
  await wrong.close();
  const unprivileged = await startServer(
    "no-roles",
    { AZURE_CLIENT_SECRET: NO_ROLES_SECRET },
    noRolesApp.clientId,
  );
  await unprivileged.call("find_machines", { name: "fin-ws" });
  await unprivileged.close();
  const reader = await startServer(
    "read-only",
    { AZURE_CLIENT_SECRET: READ_ONLY_SECRET },
    readOnlyApp.clientId,
  );
  await reader.call("find_machines", { name: "fin-ws" });
  await reader.call("list_library_files", {});
  await reader.call("run_live_response", {
    machine_ids: [DEVICES.finance],
    commands: [{ type: "RunScript", script_name: SCRIPT }],
    comment: "canary: no permission",
    wait_seconds: 5,
  });
  await reader.close();
}

beforeAll(async () => {
  await ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), "secret-canary-"));
  cert = await createTestCertificate();
  const base = defaultScenario();
  sim = await startSimulator({
    timeScale: Number(TIME_SCALE),
    scenario: parseScenario({
      ...base,
      apps: [
        secretApp,
        {
          clientId: certificateAppId,
          displayName: "canary certificate app",
          certificatesPem: [cert.certPem],
          roles: ALL_ROLES,
        },
        noRolesApp,
        readOnlyApp,
      ],
    }),
  });
  await Promise.all([fullFlows(), certificateFlows(), refusedFlows()]);
}, 90_000);

afterAll(async () => {
  await sim?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const runNamed = (name: string): ServerRun => {
  const run = runs.find((r) => r.name === name);
  if (!run) throw new Error(`no run ${name}`);
  return run;
};
const textOfResults = (run: ServerRun) => run.results.map((r) => JSON.stringify(r)).join("\n");

/** The canaries: each value, and the parts of it a partial leak would show. */
function canaries(): Array<{ what: string; value: string }> {
  const keyLines = cert.keyPem
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("-----"))
    .map((line, i) => ({ what: `private key line ${i + 1}`, value: line }));
  const tokens = sim.issuedTokens().flatMap((token, i) => {
    const [header, payload, signature] = token.split(".");
    return [
      { what: `access token ${i + 1}`, value: token },
      { what: `access token ${i + 1} claims`, value: `${header}.${payload}` },
      { what: `access token ${i + 1} signature`, value: signature ?? token },
    ];
  });
  return [
    { what: "client secret", value: SECRET },
    { what: "wrong client secret", value: WRONG_SECRET },
    { what: "client secret of the app without roles", value: NO_ROLES_SECRET },
    { what: "client secret of the read-only app", value: READ_ONLY_SECRET },
    ...keyLines,
    ...tokens,
  ];
}

/** Shapes of credentials whatever their value: a bearer header, a JWT, a SAS signature, a PEM private key. */
const SECRET_SHAPES: ReadonlyArray<{ what: string; pattern: RegExp }> = [
  { what: "a bearer header", pattern: /\bBearer\s+[A-Za-z0-9._~+/-]{16,}/i },
  { what: "a JWT", pattern: /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/ },
  { what: "a SAS signature", pattern: /[?&]sig=[A-Za-z0-9%+/=_-]{8,}/i },
  { what: "a PEM private key", pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/ },
];

async function downloadedNames(run: ServerRun): Promise<string> {
  if (!existsSync(run.downloadDir)) return "";
  return (await readdir(run.downloadDir, { recursive: true })).join("\n");
}

describe("secrets as canaries, through the product as it runs", () => {
  it("ran every flow: results, failures, both credentials, a 401 and 403s", () => {
    const full = runNamed("secret");
    const byText = (needle: string) => full.results.some((r) => JSON.stringify(r).includes(needle));
    expect(full.results.length).toBeGreaterThanOrEqual(10);
    expect(byText('"status":"Succeeded"')).toBe(true);
    expect(byText('"status":"Cancelled"')).toBe(true);
    expect(byText('"status":"Failed"')).toBe(true);
    expect(byText("no machine action has this id")).toBe(true);
    expect(byText('contains \\";\\"')).toBe(true);
    expect(full.results.some((r) => r.isError) || full.errors.length > 0).toBe(true);
    expect(full.stderr).toContain('"level":20');

    const certificate = textOfResults(runNamed("certificate"));
    expect(certificate).toContain('"status":"Succeeded"');
    const claims = sim
      .issuedTokens()
      .map(
        (t) =>
          JSON.parse(Buffer.from(t.split(".")[1] ?? "", "base64url").toString("utf8")) as { appid: string },
      );
    expect(claims.map((c) => c.appid)).toEqual(
      expect.arrayContaining([
        secretApp.clientId,
        certificateAppId,
        noRolesApp.clientId,
        readOnlyApp.clientId,
      ]),
    );

    const wrong = runNamed("wrong-secret");
    expect(`${textOfResults(wrong)}\n${wrong.errors.join("\n")}\n${wrong.stderr}`).toMatch(
      /Invalid client secret|invalid_client/,
    );
    const noRoles = runNamed("no-roles");
    expect(`${noRoles.errors.join("\n")}\n${noRoles.stderr}`).toMatch(/403|Forbidden|permission/);
    const reader = textOfResults(runNamed("read-only"));
    expect(reader).toContain("lacks the permission this call needs (Library.Manage)");
    expect(reader).toContain("lacks the permission this call needs (Machine.LiveResponse)");
  });

  it("finds no canary and no credential shape in logs, results, errors, audit records or saved file names", async () => {
    const places: Array<{ where: string; text: string }> = [];
    for (const run of runs) {
      places.push({ where: `${run.name}: stderr`, text: run.stderr });
      places.push({ where: `${run.name}: tool results`, text: textOfResults(run) });
      places.push({ where: `${run.name}: errors`, text: run.errors.join("\n") });
      places.push({ where: `${run.name}: saved file names`, text: await downloadedNames(run) });
      // Every server that started records its tool calls; the two refused at start have no log.
      const started = !["wrong-secret", "no-roles"].includes(run.name);
      expect(existsSync(run.auditPath), `${run.name}: audit log`).toBe(started);
      if (started) {
        places.push({ where: `${run.name}: audit log`, text: await readFile(run.auditPath, "utf8") });
      }
    }
    const found: string[] = [];
    const all = canaries();
    expect(all.length).toBeGreaterThan(10);
    for (const { where, text } of places) {
      for (const { what, value } of all) if (text.includes(value)) found.push(`${what} in ${where}`);
      for (const { what, pattern } of SECRET_SHAPES)
        if (pattern.test(text)) found.push(`${what} in ${where}`);
    }
    expect(found).toEqual([]);
  });
});
