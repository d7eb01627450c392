import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/freePort.js";
import { ROOT, sourceCliArgs } from "../helpers/sourceCli.js";
import { until } from "../helpers/until.js";
import { REVIEWER_ROLE } from "./entraConsole.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "stdio-entra-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("serve --simulator --review-port with Entra ID sign-in, over stdio", () => {
  it("sends reviewers to the demo tenant's sign-in, and stops cleanly when the client closes stdin", async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      sourceCliArgs("serve", "--simulator", "--review-port", String(port)),
      {
        cwd: ROOT,
        env: {
          ...process.env,
          MDE_TIME_SCALE: "60",
          MDE_DOWNLOAD_DIR: dir,
          MDE_REVIEW_ENTRA: "1",
          MDE_REVIEW_PUBLIC_URL: `http://127.0.0.1:${port}`,
          MDE_REVIEW_ENTRA_ROLE: REVIEWER_ROLE,
        },
        stdio: ["pipe", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, "exit");
    try {
      await until(() => stderr.includes('"msg":"MCP server ready"') || child.exitCode !== null);
      const begun = await request(`http://127.0.0.1:${port}/review/signin/entra`);
      await begun.body.dump();
      expect(begun.statusCode).toBe(302);
      const authorize = new URL(String(begun.headers.location));
      expect(authorize.pathname).toMatch(/\/oauth2\/v2\.0\/authorize$/);
      expect(authorize.searchParams.get("redirect_uri")).toBe(
        `http://127.0.0.1:${port}/review/signin/entra/callback`,
      );
    } finally {
      // The spec's way to end a stdio session; both the console's server and the runtime close the console.
      child.stdin.end();
    }
    const [code] = await exited;
    expect(stderr).toContain('"msg":"stopped"');
    expect(code).toBe(0);
  });
});
