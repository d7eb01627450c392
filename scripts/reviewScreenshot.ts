// Takes docs/review-console.png for the README: the console over HTTP against the embedded simulator,
// one request approved and finished (the history), one like it waiting (its diff), seen by a reviewer in
// headless chromium (MDE_CHROMIUM overrides /usr/bin/chromium). Run: npx tsx scripts/reviewScreenshot.ts
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { parseSettings } from "../src/config/settings.js";
import { startHttpService } from "../src/http/runHttpServer.js";
import { createLogger } from "../src/logger.js";
import { launchChromium } from "./chromium.js";

const AGENT_KEY = "screenshot-agent-key-0123456789abcdef";
const REVIEWER_KEY = "screenshot-reviewer-key-0123456789abc";
const out = fileURLToPath(new URL("../docs/review-console.png", import.meta.url));
const keyLine = (principal: string, key: string): string =>
  `keys:\n  - principal: ${principal}\n    sha256: ${createHash("sha256").update(key).digest("hex")}\n`;

const dir = await mkdtemp(join(tmpdir(), "review-screenshot-"));
await writeFile(
  join(dir, "policy.yaml"),
  "approval:\n  command_types: [RunScript, GetFile, PutFile]\n  mode: console\n  two_person: true\n  expires_minutes: 60\n",
);
await writeFile(join(dir, "agents.yaml"), keyLine("triage-agent", AGENT_KEY));
await writeFile(join(dir, "reviewers.yaml"), keyLine("alice", REVIEWER_KEY));
const { settings, problems } = parseSettings({
  MDE_SIMULATOR: "1",
  MDE_TRANSPORT: "http",
  MDE_HTTP_PORT: "0",
  MDE_TIME_SCALE: "60",
  LOG_LEVEL: "silent",
  MDE_DOWNLOAD_DIR: join(dir, "downloads"),
  MDE_POLICY_FILE: join(dir, "policy.yaml"),
  MDE_AUDIT_LOG: join(dir, "audit.jsonl"),
  MDE_HTTP_API_KEYS_FILE: join(dir, "agents.yaml"),
  MDE_REVIEW_KEYS_FILE: join(dir, "reviewers.yaml"),
});
if (settings === undefined) throw new Error(problems.join("; "));
const service = await startHttpService(settings, { logger: createLogger({ level: "silent" }) });
const agent = new Client({ name: "soc-triage-agent", version: "2.3.0" });
await agent.connect(
  new StreamableHTTPClientTransport(new URL(`${service.server.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${AGENT_KEY}` } },
  }),
);
const browser = await launchChromium();
try {
  const found = (await agent.callTool({ name: "find_machines", arguments: { name: "fin-ws-0142" } }))
    .structuredContent as { machines: Array<{ machine_id: string }> };
  const device = found.machines[0]?.machine_id;
  const ask = (args: string, comment: string, wait: number) =>
    agent.callTool(
      {
        name: "run_live_response",
        arguments: {
          machine_ids: [device],
          commands: [
            { type: "RunScript", script_name: "Get-RecentFiles.ps1", args },
            { type: "GetFile", path: "C:\\Windows\\Temp\\invoice_2291.pdf.exe" },
          ],
          comment,
          wait_seconds: wait,
        },
      },
      undefined,
      { timeout: 60_000 },
    );
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(`${service.server.url}/review`);
  await page.getByLabel("Reviewer key").fill(REVIEWER_KEY);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("body[data-ready=true]");

  const first = ask("-Days 1", "IR-2291: files written since the alert on fin-ws-0142", 30);
  const card = page.locator('article[data-status="pending"]');
  await card.getByLabel("Reason for your decision (required)").fill("Matches IR-2291; collection expected");
  await card.getByRole("button", { name: "Approve" }).click();
  await first;
  await page.locator("tr[data-action-id] .status-Succeeded").first().waitFor();
  await ask("-Days 7", "IR-2291: widen the window to a week, collect the dropper again", 0);
  await page.locator('article[data-status="pending"] pre.diff').waitFor();
  await page.locator('article[data-status="pending"] textarea').fill("Second collection of the same file?");
  await mkdir(join(out, ".."), { recursive: true });
  await page.screenshot({ path: out, fullPage: true });
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await browser.close();
  await agent.close();
  await service.close();
  await rm(dir, { recursive: true, force: true });
}
