import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { ManualClock } from "../../src/simulator/index.js";
import { startTestSimulator, type TestSimulator } from "../helpers/simulatorHarness.js";

const FINANCE = "9d663375e3e46799a6657b0c0c74b873c9fcd069";
const MINUTE = 60_000;

let t: TestSimulator;
let clock: ManualClock;
let actionId: string;

beforeAll(async () => {
  clock = new ManualClock();
  t = await startTestSimulator({ clock, timeScale: 1 });
});
afterAll(() => t.close());

beforeEach(async () => {
  t.sim.reset();
  const created = await t.call("POST", `/api/machines/${FINANCE}/runliveresponse`, {
    body: {
      Commands: [{ type: "RunScript", params: [{ key: "ScriptName", value: "Get-NetConnections.ps1" }] }],
      Comment: "blob tests",
    },
  });
  actionId = (created.json as { id: string }).id;
  clock.advance(10 * MINUTE);
});

async function mintLink(): Promise<string> {
  const res = await t.call(
    "GET",
    `/api/machineactions/${actionId}/GetLiveResponseResultDownloadLink(index=0)`,
  );
  expect(res.status).toBe(200);
  return (res.json as { value: string }).value;
}

function expectStorageError(
  res: { status: number; text: string; headers: Record<string, unknown> },
  code: string,
) {
  expect(res.headers["content-type"]).toBe("application/xml");
  expect(res.headers["x-ms-error-code"]).toBe(code);
  expect(res.text).toMatch(
    new RegExp(`^<\\?xml version="1.0" encoding="utf-8"\\?><Error><Code>${code}</Code>`),
  );
}

describe("result blob links", () => {
  test("each call mints a new link, and each one downloads without a bearer token", async () => {
    const first = await mintLink();
    const second = await mintLink();
    expect(second).not.toBe(first);
    for (const link of [first, second]) {
      const res = await t.call("GET", link, { token: null });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ script_name: "Get-NetConnections.ps1", exit_code: 0 });
    }
  });

  test("a link works for 30 minutes; after that it is 403 AuthenticationFailed, and a fresh link works", async () => {
    const link = await mintLink();
    clock.advance(29 * MINUTE);
    expect((await t.call("GET", link, { token: null })).status).toBe(200);
    clock.advance(2 * MINUTE);
    const expired = await t.call("GET", link, { token: null });
    expect(expired.status).toBe(403);
    expectStorageError(expired, "AuthenticationFailed");
    expect(expired.text).toContain("Signature not valid in the specified time frame");
    expect((await t.call("GET", await mintLink(), { token: null })).status).toBe(200);
  });

  test("a tampered signature, expiry or path is 403 AuthenticationFailed", async () => {
    const link = new URL(await mintLink());
    const tampered = [
      (u: URL) => u.searchParams.set("sig", Buffer.alloc(32, 1).toString("base64")),
      (u: URL) => u.searchParams.set("se", "2099-01-01T00:00:00Z"),
      (u: URL) => (u.pathname = u.pathname.replace("/0-", "/1-")),
      (u: URL) => u.searchParams.delete("sig"),
    ];
    for (const tamper of tampered) {
      const url = new URL(link);
      tamper(url);
      const res = await t.call("GET", url.toString(), { token: null });
      expect(res.status).toBe(403);
      expectStorageError(res, "AuthenticationFailed");
    }
  });

  test("a request carrying an Authorization header is refused and counted; it is no API call", async () => {
    const link = await mintLink();
    const before = t.sim.stats();
    const res = await t.call("GET", link);
    expect(res.status).toBe(400);
    expectStorageError(res, "InvalidAuthenticationInfo");
    const after = t.sim.stats();
    expect(after.blobRequestsWithAuthorization).toBe(1);
    expect(after.calls).toEqual(before.calls);
  });

  test("a link is refused before the command has completed", async () => {
    const created = await t.call(
      "POST",
      `/api/machines/2be8a43e061cff68020fca2c9ac134d5d0d20a1b/runliveresponse`,
      {
        body: {
          Commands: [{ type: "RunScript", params: [{ key: "ScriptName", value: "Get-Autoruns.ps1" }] }],
          Comment: "not yet",
        },
      },
    );
    const id = (created.json as { id: string }).id;
    const res = await t.call("GET", `/api/machineactions/${id}/GetLiveResponseResultDownloadLink(index=0)`);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: "BadRequest" } });
  });
});
