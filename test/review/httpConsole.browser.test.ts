import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../../scripts/chromium.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import {
  auditRecords,
  consolePolicy,
  openPage,
  signInWithKey,
  startHttpConsole,
  type ConsoleHarness,
} from "./consoleHarness.js";

const AGENT_KEY = "agent-key-0123456789abcdef0123456789";
const ALICE_KEY = "alice-key-0123456789abcdef0123456789";
const BOB_KEY = "bob-key-0123456789abcdef0123456789";
/** The agent's own principal also holds a reviewer key: the two-person rule must still stop it. */
const AGENT_REVIEWER_KEY = "agent-reviewer-key-0123456789abcdef";
const INJECTION = `<img src=x onerror=window.__pwned=1><script>window.__pwned=2</script>`;

let h: ConsoleHarness;
let browser: Browser;
let alice: { context: BrowserContext; page: Page; dialogs: string[] };
let deviceId: string;

beforeAll(async () => {
  h = await startHttpConsole({
    policy: consolePolicy(60),
    agentKeys: { "agent-1": AGENT_KEY },
    reviewerKeys: { alice: ALICE_KEY, bob: BOB_KEY, "agent-1": AGENT_REVIEWER_KEY },
  });
  browser = await launchChromium();
  const context = await browser.newContext();
  alice = { context, ...(await openPage(context)) };
  await signInWithKey(alice.page, h.origin, ALICE_KEY);
  const found = (await h.agent.callTool({ name: "find_machines", arguments: { name: "fin-ws-0142" } }))
    .structuredContent as { machines: Array<{ machine_id: string }> };
  deviceId = found.machines[0]?.machine_id ?? "";
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

function ask(comment: string, args = "-Days 3", waitSeconds = 30): Promise<CallToolResult> {
  return h.agent.callTool(
    {
      name: "run_live_response",
      arguments: {
        machine_ids: [deviceId],
        commands: [{ type: "RunScript", script_name: "Get-RecentFiles.ps1", args }],
        comment,
        wait_seconds: waitSeconds,
      },
    },
    undefined,
    { timeout: 60_000 },
  ) as Promise<CallToolResult>;
}

const focusedId = (page: Page): Promise<string | undefined> =>
  page.evaluate<string | undefined>("document.activeElement?.id");

/** The pending card whose comment is `comment`, once the page shows it (live, without reloading). */
async function pendingCard(page: Page, comment: string) {
  const card = page.locator('article[data-status="pending"]', { hasText: comment });
  await card.waitFor();
  return card;
}

async function pendingId(comment: string): Promise<string> {
  for (;;) {
    const found = (await h.review.store.list()).find(
      (a) => a.status === "pending" && a.payload.comment === comment,
    );
    if (found) return found.id;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("review console over HTTP, in a browser", () => {
  it("refuses a wrong key and the agent's MCP key at sign-in", async () => {
    const context = await browser.newContext();
    const { page } = await openPage(context);
    for (const key of ["not-a-key", AGENT_KEY]) {
      await page.goto(`${h.origin}/review`);
      await page.getByLabel("Reviewer key").fill(key);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByText("That reviewer key was not accepted.").waitFor();
      expect(await page.locator("#app").isHidden()).toBe(true);
    }
    // The MCP endpoint's bearer key does not open the console's API either.
    const api = await request(`${h.origin}/review/api/requests`, {
      headers: { authorization: `Bearer ${AGENT_KEY}` },
    });
    expect(api.statusCode).toBe(401);
    await api.body.dump();
    await context.close();
  });

  it("shows a waiting request, refuses the requester's own approval, and lets another reviewer approve it by keyboard; the agent's call completes and its outcome appears live", async () => {
    const comment = `IR-77 triage ${INJECTION}`;
    const call = ask(comment, `-Days 3 ${INJECTION}`);
    const card = await pendingCard(alice.page, "IR-77 triage");
    const text = await card.innerText();
    expect(text).toContain("fin-ws-0142.contoso.com");
    expect(text).toContain("Windows");
    expect(text).toContain("Get-RecentFiles.ps1");
    expect(text).toContain(`-Days 3 ${INJECTION}`);
    expect(text).toContain(comment);
    expect(text).toContain("agent-1");
    expect(text).toMatch(/Needs approval because\s+\S+/);
    const id = await pendingId(comment);
    const pending = await h.review.store.get(id);
    expect(text).toContain(pending?.payload_sha256 ?? "missing");

    // The requester, signed in as a reviewer, is refused by the two-person rule.
    const own = await browser.newContext();
    const mine = await openPage(own);
    await signInWithKey(mine.page, h.origin, AGENT_REVIEWER_KEY);
    const ownCard = await pendingCard(mine.page, "IR-77 triage");
    await ownCard.getByLabel("Reason for your decision (required)").fill("my own request");
    await ownCard.getByRole("button", { name: "Approve" }).click();
    await ownCard
      .getByRole("alert")
      .getByText("Two-person rule: you asked for this request yourself")
      .waitFor();
    expect((await h.review.store.get(id))?.status).toBe("pending");
    await own.close();

    // Alice approves with the keyboard only: Tab to the reason, type it, Tab to Approve, Enter.
    const reasonId = `reason-${id}`;
    await alice.page.locator("body").focus();
    for (let i = 0; i < 60; i++) {
      if ((await focusedId(alice.page)) === reasonId) break;
      await alice.page.keyboard.press("Tab");
    }
    expect(await focusedId(alice.page)).toBe(reasonId);
    await alice.page.keyboard.type("expected triage for IR-77");
    await alice.page.keyboard.press("Tab");
    expect(await alice.page.evaluate<string | null>("document.activeElement?.textContent")).toBe("Approve");
    await alice.page.keyboard.press("Enter");

    const result = await call;
    expect(result.isError).toBeFalsy();
    const [entry] = (result.structuredContent as { actions: ActionEntry[] }).actions;
    expect(entry?.status).toBe("Succeeded");
    expect(entry?.commands[0]?.status).toBe("Completed");
    const actionId = entry?.action_id ?? "";

    // The outcome reaches the history without a reload: status, exit code, result hashes.
    const row = alice.page.locator(`tr[data-action-id="${actionId}"]`);
    await row.getByText("Succeeded").waitFor();
    const fetched = (await auditRecords(h.auditLog)).find(
      (r) => r.kind === "result_fetched" && r.action_id === actionId,
    );
    expect(fetched).toMatchObject({ exit_code: 0 });
    const outputHash = fetched?.kind === "result_fetched" ? fetched.artifacts[0]?.sha256 : undefined;
    // The result's record comes after the final status: the row shows it on a later update.
    await row.getByText("exit code 0").waitFor();
    expect(await row.innerText()).toContain(outputHash ?? "missing");
    const history = alice.page.locator(`article[data-history-id]`, { hasText: "expected triage for IR-77" });
    expect(await history.innerText()).toContain("approved by alice");

    // Script output that carries markup is shown as text: no element, no script, no dialog.
    await row.getByRole("button", { name: "Show output of command 1" }).click();
    const output = row.locator("pre.output");
    await output.waitFor();
    expect(await output.innerText()).toContain(INJECTION);
    expect(await alice.page.locator("img").count()).toBe(0);
    expect(await alice.page.locator("script").count()).toBe(1);
    expect(await alice.page.evaluate<number | undefined>("window.__pwned")).toBeUndefined();
    expect(alice.dialogs).toEqual([]);
  });

  it("denies a request with a reason: the agent gets the refusal", async () => {
    const context = await browser.newContext();
    const bob = await openPage(context);
    await signInWithKey(bob.page, h.origin, BOB_KEY);
    const call = ask("IR-78 wrong host");
    const card = await pendingCard(bob.page, "IR-78 wrong host");
    // Screen readers hear of it: the live region announces the new request.
    await bob.page
      .locator("#announcer[aria-live=polite]", { hasText: "from agent-1 awaits review" })
      .waitFor({ state: "attached" });
    // The same agent asked before: the page shows what changed since that request.
    const diff = card.locator("pre.diff");
    expect(await diff.locator("span.added").allInnerTexts()).toContain("+ comment: IR-78 wrong host");
    await card.getByLabel("Reason for your decision (required)").fill("wrong device for IR-78");
    await card.getByRole("button", { name: "Deny" }).click();
    const result = await call;
    expect(result.isError).toBe(true);
    const message = JSON.stringify(result.content);
    expect(message).toContain("APPROVAL_DECLINED");
    expect(message).toContain("wrong device for IR-78");
    await bob.page.locator('article[data-status="denied"]', { hasText: "IR-78 wrong host" }).waitFor();
    await context.close();
  });

  it("refuses a decision without the CSRF token or from another origin, and decides nothing", async () => {
    const call = ask("IR-79 csrf probe", "-Days 3", 0);
    const id = await pendingId("IR-79 csrf probe");
    await call;
    const approval = await h.review.store.get(id);
    const [cookie] = await alice.context.cookies(`${h.origin}/review`);
    const csrf = await alice.page.evaluate(() =>
      fetch("/review/api/session").then((r) => r.json() as Promise<{ csrf_token: string }>),
    );
    const body = JSON.stringify({
      approve: true,
      reason: "forged",
      payload_sha256: approval?.payload_sha256,
    });
    const post = async (headers: Record<string, string>) => {
      const res = await request(`${h.origin}/review/api/requests/${id}/decision`, {
        method: "POST",
        headers: {
          cookie: `${cookie?.name}=${cookie?.value}`,
          "content-type": "application/json",
          ...headers,
        },
        body,
      });
      await res.body.dump();
      return res.statusCode;
    };
    expect(await post({ origin: h.origin })).toBe(403);
    expect(await post({ origin: "http://evil.example", "x-csrf-token": csrf.csrf_token })).toBe(403);
    expect(await post({ "x-csrf-token": csrf.csrf_token })).toBe(403);
    // The page's own origin without the token is refused too.
    const forged = await alice.page.evaluate(
      async ({ path, payload }) => (await fetch(path, { method: "POST", body: payload })).status,
      { path: `/review/api/requests/${id}/decision`, payload: body },
    );
    expect(forged).toBe(403);
    expect((await h.review.store.get(id))?.status).toBe("pending");
    // With both, it goes through.
    expect(await post({ origin: h.origin, "x-csrf-token": csrf.csrf_token })).toBe(200);
  });

  it("labels every field and sends the strict security headers", async () => {
    // Page code as text: the test's TypeScript has no DOM types.
    const unlabelled = await alice.page.evaluate<number>(
      `[...document.querySelectorAll("input, textarea, select")].filter((e) => e.labels.length === 0).length`,
    );
    expect(unlabelled).toBe(0);
    expect(await alice.page.locator("h1").count()).toBe(1);
    const page = await request(`${h.origin}/review`);
    await page.body.dump();
    expect(page.headers["content-security-policy"]).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    expect(page.headers["x-content-type-options"]).toBe("nosniff");
    expect(page.headers["referrer-policy"]).toBe("no-referrer");
  });
});
