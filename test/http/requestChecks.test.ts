import { describe, expect, it } from "vitest";
import { authInfoFor, principalOf, type Principal } from "../../src/http/principal.js";
import { RequestGuard } from "../../src/http/requestGuard.js";

describe("RequestGuard", () => {
  const guard = new RequestGuard({
    bindHost: "0.0.0.0",
    allowedHosts: ["mcp.internal.contoso.test"],
    allowedOrigins: [],
    publicUrl: new URL("https://mcp.contoso.test/mde"),
  });

  it.each([
    ["127.0.0.1:8787", true],
    ["localhost:8787", true],
    ["[::1]:8787", true],
    ["MCP.contoso.test", true],
    ["mcp.internal.contoso.test:8443", true],
    ["0.0.0.0:8787", false],
    ["attacker.example", false],
    ["127.0.0.1:8787@attacker.example", false],
    ["attacker.example/127.0.0.1", false],
  ])("Host %s allowed: %s", (host, allowed) => {
    expect(guard.checkHost({ host }).ok).toBe(allowed);
  });

  it("refuses a request without Host", () => {
    expect(guard.checkHost({}).ok).toBe(false);
  });

  it("accepts no Origin, the public URL's origin and the request's own; refuses others and null", () => {
    expect(guard.checkOrigin({ host: "localhost:8787" }).ok).toBe(true);
    expect(guard.checkOrigin({ host: "x", origin: "https://mcp.contoso.test" }).ok).toBe(true);
    expect(guard.checkOrigin({ host: "localhost:8787", origin: "http://localhost:8787" }).ok).toBe(true);
    expect(guard.checkOrigin({ host: "localhost:8787", origin: "http://localhost:3000" }).ok).toBe(false);
    expect(guard.checkOrigin({ host: "localhost:8787", origin: "null" }).ok).toBe(false);
    expect(guard.corsHeaders("https://mcp.contoso.test")).toEqual({});
  });
});

describe("principalOf", () => {
  it("reads the principal a tool handler's extra.authInfo carries over HTTP, and nothing over stdio", () => {
    const principal: Principal = { kind: "user", id: "entra:1", name: "ana@contoso.test", tenantId: "t" };
    const authInfo = authInfoFor(principal, {
      token: "t.o.k",
      clientId: "c",
      scopes: ["mcp.access"],
      expiresAt: 9,
    });
    expect(principalOf({ authInfo })).toEqual(principal);
    expect(principalOf({})).toBeUndefined();
    expect(principalOf({ authInfo: { ...authInfo, extra: { principal: { id: "x" } } } })).toBeUndefined();
  });
});
