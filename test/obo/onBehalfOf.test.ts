import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthenticationError } from "../../src/auth/errors.js";
import { OnBehalfOfTokenProvider } from "../../src/auth/oboTokenProvider.js";
import { runAsUser } from "../../src/auth/requestIdentity.js";
import { DEVICES, rejectionOf, SCOPE, SCRIPT } from "../defender/clientFixture.js";
import { startTestSimulator, type TestSimulator } from "../helpers/simulatorHarness.js";
import {
  claimsOf,
  DEFENDER_SCOPES,
  MCP_APP_ID_URI,
  MCP_SCOPE,
  oboScenario,
  serverApp,
  USERS,
  userToken,
  type UserName,
} from "./oboFixture.js";

/**
 * User tokens and the On-Behalf-Of grant for real: msal-node signs users in at the simulator and the
 * server's OnBehalfOfTokenProvider trades their tokens for Defender tokens; the simulated API then
 * applies each user's delegated permissions and device groups.
 */
describe("user tokens and On-Behalf-Of at the simulator", () => {
  let t: TestSimulator;
  let obo: OnBehalfOfTokenProvider;

  /** A Defender token for the user, On-Behalf-Of, as a tool call of theirs would get it. */
  const defenderTokenFor = async (name: UserName): Promise<string> => {
    const assertion = await userToken(t, name);
    return runAsUser({ assertion, principal: USERS[name].upn }, () => obo.getToken());
  };

  beforeAll(async () => {
    t = await startTestSimulator({ scenario: oboScenario() });
    obo = new OnBehalfOfTokenProvider(serverApp(t));
  });
  afterAll(async () => {
    await t.close();
  });

  it("issues a signed user token for the MCP server's Application ID URI with scp, oid, upn and tid", async () => {
    const token = await userToken(t, "alice");
    const claims = claimsOf(token);
    expect(claims).toMatchObject({
      aud: MCP_APP_ID_URI,
      scp: "mcp.access",
      upn: USERS.alice.upn,
      tid: t.sim.tenantId,
      idtyp: "user",
    });
    expect(claims.oid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("refuses a wrong password and a scope the resource does not expose", async () => {
    const wrong = await t.call("POST", `${t.sim.authorityHost}/${t.sim.tenantId}/oauth2/v2.0/token`, {
      token: null,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "password",
        client_id: oboScenario().apps.at(-1)?.clientId ?? "",
        username: USERS.alice.upn,
        password: "not-her-password",
        scope: MCP_SCOPE,
      }).toString(),
    });
    expect(wrong.status).toBe(400);
    expect(wrong.json).toMatchObject({ error: "invalid_grant", error_codes: [50126] });
    await expect(userToken(t, "alice", [`${MCP_APP_ID_URI}/admin.everything`])).rejects.toThrow(
      /70011|65001/,
    );
  });

  it("trades the user's token for a Defender token for the same user, and caches it per assertion", async () => {
    const assertion = await userToken(t, "alice");
    const identity = { assertion, principal: USERS.alice.upn };
    const issuedBefore = t.sim.stats().tokens.issued;
    const token = await runAsUser(identity, () => obo.getToken());
    const again = await runAsUser(identity, () => obo.getToken());
    expect(again).toBe(token);
    expect(t.sim.stats().tokens.issued).toBe(issuedBefore + 1);
    const claims = claimsOf(token);
    const userClaims = claimsOf(assertion);
    expect(claims).toMatchObject({
      aud: SCOPE.replace("/.default", ""),
      appid: t.sim.clientId,
      upn: USERS.alice.upn,
      oid: userClaims.oid,
      tid: t.sim.tenantId,
      idtyp: "user",
    });
    expect(String(claims.scp).split(" ").sort()).toEqual([...DEFENDER_SCOPES].sort());
  });

  it("uses the app's own token when no user is in the context", async () => {
    const claims = claimsOf(await obo.getToken());
    expect(claims.idtyp).toBe("app");
    expect(claims.scp).toBeUndefined();
  });

  it("refuses assertions that were not issued to the MCP server for a user", async () => {
    // A user's token for Defender itself: its audience is not the app presenting it.
    const forDefender = await userToken(t, "alice", [SCOPE]);
    const appToken = await t.token();
    const tampered = `${(await userToken(t, "bob")).slice(0, -4)}AAAA`;
    for (const assertion of [forDefender, appToken, tampered]) {
      const error = await rejectionOf(runAsUser({ assertion, principal: "x" }, () => obo.getToken()));
      expect(error).toBeInstanceOf(AuthenticationError);
      expect((error as AuthenticationError).aadsts).toBe(50013);
      expect(error.message).toContain("On-Behalf-Of");
      expect(error.message).not.toContain(assertion);
    }
  });

  it("applies the user's device groups: other groups' devices do not exist for them", async () => {
    const token = await defenderTokenFor("alice");
    const machines = await t.call("GET", "/api/machines", { token });
    const names = (machines.json as { value: Array<{ rbacGroupName: string }> }).value.map(
      (m) => m.rbacGroupName,
    );
    expect(names.length).toBeGreaterThan(0);
    expect(new Set(names)).toEqual(new Set(["Finance Workstations"]));
    expect((await t.call("GET", `/api/machines/${DEVICES.hr}`, { token })).status).toBe(404);

    const body = {
      Commands: [{ type: "RunScript", params: [{ key: "ScriptName", value: SCRIPT }] }],
      Comment: "rbac",
    };
    const refused = await t.call("POST", `/api/machines/${DEVICES.hr}/runliveresponse`, { token, body });
    expect(refused.status).toBe(404);
    expect(refused.json).toMatchObject({ error: { code: "ResourceNotFound" } });

    const accepted = await t.call("POST", `/api/machines/${DEVICES.finance}/runliveresponse`, {
      token,
      body,
    });
    expect(accepted.status).toBe(201);
    const action = accepted.json as { id: string; requestor: string };
    expect(action.requestor).toBe(USERS.alice.upn);

    // Bob cannot see Alice's action either: it is on a device outside his groups.
    const bobs = await defenderTokenFor("bob");
    expect((await t.call("GET", `/api/machineactions/${action.id}`, { token: bobs })).status).toBe(404);
    expect((await t.call("GET", `/api/machineactions/${action.id}`, { token })).status).toBe(200);
    expect(t.sim.stats().callers[USERS.alice.upn]).toBeGreaterThanOrEqual(5);
  });

  it("checks the delegated permission of each endpoint: read-only Carol cannot run live response", async () => {
    const token = await defenderTokenFor("carol");
    expect((await t.call("GET", `/api/machines/${DEVICES.dc}`, { token })).status).toBe(200);
    const body = {
      Commands: [{ type: "RunScript", params: [{ key: "ScriptName", value: SCRIPT }] }],
      Comment: "x",
    };
    const refused = await t.call("POST", `/api/machines/${DEVICES.dc}/runliveresponse`, { token, body });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain("Machine.LiveResponse");
    expect((await t.call("GET", "/api/libraryfiles", { token })).status).toBe(403);
  });
});
