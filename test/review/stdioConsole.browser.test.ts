import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../../scripts/chromium.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { consolePolicy, openPage, startStdioConsole, type ConsoleHarness } from "./consoleHarness.js";

let h: ConsoleHarness;
let browser: Browser;

beforeAll(async () => {
  // One policy minute is one real second here: a request expires while the test watches.
  h = await startStdioConsole({ policy: consolePolicy(2) });
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe("review console on its own port (stdio mode), in a browser", () => {
  it("signs in once with a one-time link, shows a request expire live, and refuses to approve it", async () => {
    const context = await browser.newContext();
    const { page } = await openPage(context);
    const link = h.review.signInLink(h.origin);
    await page.goto(link);
    await page.waitForSelector("body[data-ready=true]");
    expect(await page.locator("#reviewer-name").innerText()).toBe("local reviewer");

    // The same link a second time opens nothing.
    const other = await openPage(await browser.newContext());
    await other.page.goto(link);
    await other.page.getByText("That sign-in link was already used or has expired.").waitFor();
    expect(await other.page.locator("#app").isHidden()).toBe(true);

    const found = (await h.agent.callTool({ name: "find_machines", arguments: { name: "fin-ws-0142" } }))
      .structuredContent as { machines: Array<{ machine_id: string }> };
    const asked = (await h.agent.callTool({
      name: "run_live_response",
      arguments: {
        machine_ids: [found.machines[0]?.machine_id],
        commands: [{ type: "RunScript", script_name: "Get-ProcessList.ps1" }],
        comment: "IR-80 late review",
        wait_seconds: 0,
      },
    })) as CallToolResult;
    const [entry] = (asked.structuredContent as { actions: ActionEntry[] }).actions;
    expect(entry?.status).toBe("AwaitingApproval");
    const id = entry?.request_id ?? "";

    // It shows up pending (on a loaded machine it may be expired already by then), and nobody reloads
    // the page: the expiry arrives over server-sent events.
    await page.locator(`article[data-request-id="${id}"]`).waitFor();
    const expired = page.locator(`article[data-request-id="${id}"][data-status="expired"]`);
    await expired.waitFor({ timeout: 15_000 });
    expect(await expired.getByRole("button", { name: "Approve" }).count()).toBe(0);
    const pending = await h.review.store.get(id);
    const answer = await page.evaluate(
      async ({ path, sha }) => {
        const session = (await (await fetch("/review/api/session")).json()) as { csrf_token: string };
        const res = await fetch(path, {
          method: "POST",
          headers: { "content-type": "application/json", "x-csrf-token": session.csrf_token },
          body: JSON.stringify({ approve: true, reason: "too late", payload_sha256: sha }),
        });
        return { status: res.status, body: (await res.json()) as { message: string } };
      },
      { path: `/review/api/requests/${id}/decision`, sha: pending?.payload_sha256 ?? "" },
    );
    expect(answer.status).toBe(409);
    expect(answer.body.message).toContain("expired");
    const followed = (await h.agent.callTool({
      name: "get_action",
      arguments: { action_id: id, wait_seconds: 0 },
    })) as CallToolResult;
    expect(followed.isError).toBe(true);
    expect(JSON.stringify(followed.content)).toContain("expired");
  });
});
