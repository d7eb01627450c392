import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../../scripts/chromium.js";
import { consolePolicy, openPage, type ConsoleHarness } from "./consoleHarness.js";
import { DANA, startEntraConsole } from "./entraConsole.js";

let h: ConsoleHarness;
let browser: Browser;

beforeAll(async () => {
  h = await startEntraConsole(consolePolicy(60));
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe("reviewer sign-in with Entra ID, in a browser", () => {
  it("offers the Entra ID link, goes to Entra's sign-in form, and comes back to the console signed in", async () => {
    // The embedded simulator's CA is its own: the runtime trusts it, this browser is told to.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const { page, dialogs } = await openPage(context);
    const documents: Array<{ url: string; cookie: Promise<string | undefined> }> = [];
    page.on("request", (req) => {
      if (req.isNavigationRequest())
        documents.push({ url: req.url(), cookie: req.allHeaders().then((headers) => headers.cookie) });
    });

    await page.goto(`${h.origin}/review`);
    const link = page.getByRole("link", { name: "Sign in with Entra ID" });
    expect(await link.getAttribute("href")).toBe("/review/signin/entra");
    await link.click();

    await page.getByLabel("Email or user name").waitFor();
    expect(new URL(page.url()).pathname).toMatch(/\/oauth2\/v2\.0\/authorize$/);
    await page.getByLabel("Email or user name").fill(DANA.upn);
    await page.getByLabel("Password").fill(DANA.password);
    await page.getByRole("button", { name: "Sign in" }).click();

    await page.waitForSelector("body[data-ready=true]");
    expect(page.url()).toBe(`${h.origin}/review`);
    expect(await page.locator("#reviewer-name").innerText()).toBe(DANA.upn);
    expect(await page.locator("#signin").isHidden()).toBe(true);
    // The pending sign-in's cookie (SameSite=Lax) comes back with Entra's cross-site redirect.
    const callback = documents.find((d) => new URL(d.url).pathname === "/review/signin/entra/callback");
    expect(await callback?.cookie).toMatch(/^mde_review_entra=[A-Za-z0-9_-]+$/);
    // Chromium withholds the SameSite=Strict session cookie from the /review document that ends that
    // redirect chain; the page does not need it: it is the same for everyone, and its own API calls
    // (same-site, so they carry the cookie) find the session. Nothing of the sign-in is left behind.
    expect((await context.cookies()).map((c) => [c.name, c.sameSite, c.httpOnly])).toEqual([
      ["mde_review_session", "Strict", true],
    ]);
    expect(dialogs).toEqual([]);
    await context.close();
  });
});
