import { chromium, type Browser } from "playwright-core";

/**
 * Debian's chromium, headless, for the review console's browser tests and its README screenshot
 * (MDE_CHROMIUM overrides the path). No sandbox: it needs privileges containers and CI runners lack.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.MDE_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox"],
    headless: true,
  });
}
