import https from "node:https";
import net from "node:net";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "undici";
import { isLoopbackHost } from "./loopbackOnly.js";

// The guard is what lets the suite promise "no request ever leaves the machine": these tests prove it
// holds for every HTTP stack the product uses (undici for the API, node:https for msal-node).
function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  while (e && typeof e === "object") {
    const code = (e as { code?: unknown }).code;
    if (code === "ERR_TEST_NON_LOOPBACK") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

describe("loopback-only test network", () => {
  let server: net.Server;
  let port: number;
  beforeAll(async () => {
    server = net.createServer((s) => s.end());
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("classifies loopback addresses", () => {
    for (const h of ["localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]"])
      expect(isLoopbackHost(h)).toBe(true);
    for (const h of ["login.microsoftonline.com", "10.0.0.1", "192.168.1.1", "8.8.8.8", "::2"]) {
      expect(isLoopbackHost(h)).toBe(false);
    }
  });

  it("refuses undici requests to a non-loopback host before any DNS or TCP", async () => {
    const err = await request("https://login.microsoftonline.com/common/discovery/instance").catch((e) => e);
    expect(causeCode(err)).toBe("ERR_TEST_NON_LOOPBACK");
  });

  it("refuses node:https requests (msal-node's client) to a non-loopback host", async () => {
    const req = https.get("https://api.securitycenter.microsoft.com/api/machines");
    const [err] = await once(req, "error");
    expect(causeCode(err)).toBe("ERR_TEST_NON_LOOPBACK");
  });

  it("lets loopback connections through", async () => {
    const socket = net.connect(port, "127.0.0.1");
    await once(socket, "connect");
    socket.destroy();
  });
});
