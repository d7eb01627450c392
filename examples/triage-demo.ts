/**
 * A scripted triage agent: the story of a small investigation, told through the MCP server exactly as
 * an AI agent would drive it. It starts the server over stdio against the built-in simulator (no tenant
 * needed), then:
 *   1. finds the device named in the alert,
 *   2. checks which triage scripts the library holds,
 *   3. runs a process listing and collects the suspicious file in one live response action,
 *      showing progress while it waits,
 *   4. prints the parsed results, and where the collected file was saved with its SHA-256.
 *
 * Run it with `npm run demo`. With `npm run demo -- --approval` the server follows a policy
 * (examples/approval.demo.yaml) under which collecting a file needs a person's approval: the server
 * asks through MCP elicitation, this client prints the question (what will run, and its hash) and
 * accepts it, and at the end the server's audit log is checked with `verifyAuditLog`.
 *
 * With `npm run demo -- --review` the agent is headless (no person at the client): collecting a file waits
 * in the review console (approval mode `console`, served on a loopback port with `--review-port`). The
 * agent's call waits while a scripted reviewer signs in with the one-time link the server printed, reads
 * the pending request and approves it through the console's HTTP API (cookie, CSRF token, same origin),
 * as the console's page would; then the action runs and finishes.
 */
import { fileURLToPath } from "node:url";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ElicitRequestSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { verifyAuditLog } from "../src/audit/verifyAuditLog.js";

const ALERT = {
  id: "IR-2291",
  device: "fin-ws-0142",
  title: "Suspicious executable disguised as a PDF invoice",
  file: "C:\\Windows\\Temp\\invoice_2291.pdf.exe",
};

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const approvalPolicy = fileURLToPath(new URL("./approval.demo.yaml", import.meta.url));
const withApproval = process.argv.slice(2).includes("--approval");
const withReview = process.argv.slice(2).includes("--review");
/** The policy of `--review`: collecting or placing a file waits for a reviewer in the console. */
const REVIEW_POLICY = [
  "approval:",
  "  command_types: [GetFile, PutFile]",
  "  mode: console",
  "  two_person: true",
  "  expires_minutes: 30",
  "",
].join("\n");
const say = (text = ""): void => void process.stdout.write(`${text}\n`);
const step = (n: number, text: string): void => say(`\n\x1b[1m${n}. ${text}\x1b[0m`);
const indent = (text: string, prefix = "   │ "): string =>
  text
    .split("\n")
    .map((line) => `${prefix}${line}`)
    .join("\n");

type Structured = Record<string, unknown>;

async function call(client: Client, name: string, args: Structured, onProgress?: (m: string) => void) {
  const result = (await client.callTool(
    { name, arguments: args },
    undefined,
    onProgress
      ? {
          onprogress: (p) => onProgress(p.message ?? `${p.progress}/${p.total ?? "?"}`),
          resetTimeoutOnProgress: true,
          timeout: 120_000,
        }
      : undefined,
  )) as CallToolResult;
  if (result.isError) {
    const text = result.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
    throw new Error(`${name} failed: ${text}`);
  }
  return result.structuredContent as Structured;
}

/** The console's address and sign-in link, from the lines the server prints to its stderr at start. */
function consoleLink(transport: StdioClientTransport): Promise<{ origin: string; link: string }> {
  return new Promise((resolve, reject) => {
    let text = "";
    const stream = transport.stderr;
    if (stream === null) return reject(new Error("the server's stderr is not piped"));
    const timer = setTimeout(() => reject(new Error("the server printed no sign-in link")), 30_000);
    stream.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const link = /(http:\/\/[^\s/]+)\/review\/signin\?token=\S+/.exec(text);
      if (link?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ origin: link[1], link: link[0] });
      }
    });
  });
}

/**
 * A reviewer, scripted: signs in with the one-time link (a session cookie), reads the CSRF token and
 * the pending request, and approves exactly the payload it was shown, with a reason.
 */
async function approveInConsole(reviewConsole: Promise<{ origin: string; link: string }>): Promise<void> {
  const { origin, link } = await reviewConsole;
  const signIn = await fetch(link, { redirect: "manual" });
  const cookie = (signIn.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  const session = (await (await fetch(`${origin}/review/api/session`, { headers: { cookie } })).json()) as {
    reviewer: string;
    csrf_token: string;
  };
  say(indent(`A reviewer opens the console and signs in as "${session.reviewer}".`, "   👤 "));
  type Pending = { id: string; status: string; requester: string; comment: string; payload_sha256: string };
  let pending: Pending | undefined;
  while (pending === undefined) {
    const { requests } = (await (
      await fetch(`${origin}/review/api/requests`, { headers: { cookie } })
    ).json()) as {
      requests: Pending[];
    };
    pending = requests.find((r) => r.status === "pending");
    if (pending === undefined) await new Promise((r) => setTimeout(r, 200));
  }
  say(indent(`Pending: ${pending.id} from ${pending.requester}: "${pending.comment}"`, "   👤 "));
  say(indent(`payload SHA-256 ${pending.payload_sha256}`, "   👤 "));
  const decided = await fetch(`${origin}/review/api/requests/${pending.id}/decision`, {
    method: "POST",
    headers: { cookie, origin, "content-type": "application/json", "x-csrf-token": session.csrf_token },
    body: JSON.stringify({
      approve: true,
      reason: `${ALERT.id}: expected collection`,
      payload_sha256: pending.payload_sha256,
    }),
  });
  const answer = (await decided.json()) as { status?: string; message?: string };
  if (!decided.ok) throw new Error(`the console refused the decision: ${answer.message ?? decided.status}`);
  say(indent(`The reviewer approves it (status ${answer.status}); the agent's call goes on.`, "   👤 "));
}

async function main(): Promise<void> {
  const downloads = await mkdtemp(join(tmpdir(), "mde-demo-downloads-"));
  const auditLog = join(downloads, "audit.jsonl");
  const reviewPolicy = join(downloads, "review-policy.yaml");
  if (withReview) await writeFile(reviewPolicy, REVIEW_POLICY);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cli, "serve", "--simulator", ...(withReview ? ["--review-port", "0"] : [])],
    env: {
      ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
      MDE_DOWNLOAD_DIR: downloads,
      MDE_TIME_SCALE: process.env.MDE_TIME_SCALE ?? "3",
      LOG_LEVEL: "warn",
      ...(withApproval ? { MDE_POLICY_FILE: approvalPolicy, MDE_AUDIT_LOG: auditLog } : {}),
      ...(withReview ? { MDE_POLICY_FILE: reviewPolicy, MDE_AUDIT_LOG: auditLog } : {}),
    },
    // The review console's one-time sign-in link comes on the server's stderr.
    stderr: withReview ? "pipe" : "ignore",
  });
  const reviewConsole = withReview ? consoleLink(transport) : undefined;
  // A client that can ask its user declares elicitation; the server then asks it before risky requests.
  const client = new Client(
    { name: "triage-demo", version: "1.0.0" },
    { capabilities: withApproval ? { elicitation: {} } : {} },
  );
  if (withApproval) {
    client.setRequestHandler(ElicitRequestSchema, ({ params }) => {
      say(indent("The server asks a person to approve this request:", "   🔐 "));
      say(indent(params.message, "   🔐 │ "));
      say(indent("The demo stands in for the analyst and approves it.", "   🔐 "));
      return { action: "accept", content: { approve: true, note: `${ALERT.id}: expected collection` } };
    });
  }
  await client.connect(transport);

  say(`\x1b[1mAlert ${ALERT.id}: ${ALERT.title} on ${ALERT.device}\x1b[0m`);
  say("An agent investigates through mde-live-response-mcp (simulated Contoso tenant).");
  const { tools } = await client.listTools();
  say(`Server offers: ${tools.map((t) => t.name).join(", ")}`);
  if (withApproval) {
    say("Policy: examples/approval.demo.yaml — collecting or placing a file needs a person's approval.");
  }
  if (withReview && reviewConsole) {
    say("Policy: collecting or placing a file waits for a reviewer in the review console (headless agent).");
    say(`Review console: ${(await reviewConsole).origin}/review`);
  }

  step(1, `Find the device "${ALERT.device}"`);
  const found = await call(client, "find_machines", { name: ALERT.device });
  const machines = found.machines as Structured[];
  const device = machines[0];
  if (!device) throw new Error(`no device named ${ALERT.device}`);
  say(
    indent(
      `${device.computer_dns_name}  ${device.os_platform}  health ${device.health_status}  ` +
        `last IP ${device.last_ip_address}\nid ${device.machine_id}  tags ${(device.tags as string[]).join(", ")}`,
    ),
  );

  step(2, "Check the live response library for triage scripts");
  const library = await call(client, "list_library_files", {});
  const files = library.files as Structured[];
  for (const f of files.slice(0, 8)) {
    const where = f.runnable ? `RunScript on ${(f.runnable_on as string[]).join(", ")}` : "PutFile only";
    say(indent(`${String(f.file_name).padEnd(26)} ${where}`));
  }
  if (files.length > 8) say(indent(`… and ${files.length - 8} more`));

  step(3, "Run a process listing and collect the suspicious file, in one action");
  say(indent(`RunScript Get-ProcessList.ps1, then GetFile ${ALERT.file}`));
  let lastProgress = "";
  if (withReview) say(indent("The agent asks, and waits for a reviewer…", "   ⏳ "));
  const approving = reviewConsole && approveInConsole(reviewConsole);
  const run = await call(
    client,
    "run_live_response",
    {
      machine_ids: [device.machine_id],
      commands: [
        { type: "RunScript", script_name: "Get-ProcessList.ps1" },
        { type: "GetFile", path: ALERT.file },
      ],
      comment: `${ALERT.id}: triage of ${ALERT.title.toLowerCase()}`,
      wait_seconds: 45,
    },
    (message) => {
      if (message !== lastProgress) say(indent(`… ${message}`, "   ⏳ "));
      lastProgress = message;
    },
  );
  await approving;
  let action = (run.actions as Structured[])[0] as Structured;
  // Not final yet, or final with a result still downloading when the call's time was up: follow next_step.
  const unfinished = (a: Structured): boolean =>
    !["Succeeded", "Failed", "TimeOut", "Cancelled"].includes(String(a.status)) ||
    (a.commands as Structured[]).some((c) =>
      String(c.result_note).startsWith("The result is still being fetched"),
    );
  while (unfinished(action)) {
    say(indent(`still ${action.status}; ${action.next_step}`, "   ⏳ "));
    action = (
      await call(client, "get_action", { action_id: action.action_id ?? action.request_id, wait_seconds: 45 })
    ).action as Structured;
  }
  say(indent(`action ${action.action_id} (request ${action.request_id}): ${action.status}`));

  step(4, "Read the results");
  for (const command of action.commands as Structured[]) {
    const result = command.result as Structured | null;
    say(indent(`command ${command.index} ${command.type}: ${command.status}`));
    if (command.type === "RunScript" && result) {
      const lines = String(result.output).split("\n");
      say(indent(`exit code ${result.exit_code}, ${result.output_chars} characters of output:`, "   │ "));
      say(indent(lines.slice(0, 12).join("\n"), "   │   "));
      if (lines.length > 12) say(indent(`… ${lines.length - 12} more lines`, "   │   "));
    }
    if (command.type === "GetFile" && result) {
      say(indent(`saved ${result.saved_path}`));
      say(indent(`${result.bytes} bytes, SHA-256 ${result.sha256} (delivered as ${result.format})`));
    }
  }

  say(
    "\nNext an analyst would look the hash up in threat intelligence and, if it is bad, isolate the device.",
  );
  await client.close();
  if (withApproval || withReview) {
    step(5, "Check the audit log");
    const verdict = await verifyAuditLog(auditLog);
    say(indent(`${auditLog}`));
    say(
      indent(
        verdict.ok
          ? `verifyAuditLog: ok, ${verdict.records} records, each chained to the one before`
          : `verifyAuditLog: FAILED at line ${verdict.firstBad.line}: ${verdict.firstBad.reason}`,
      ),
    );
    if (!verdict.ok) process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
