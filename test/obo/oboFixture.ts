import { randomUUID } from "node:crypto";
import { PublicClientApplication } from "@azure/msal-node";
import { MsalNetworkClient } from "../../src/auth/msalNetworkClient.js";
import { MsalTokenProvider } from "../../src/auth/msalTokenProvider.js";
import { defaultScenario, parseScenario, type Scenario } from "../../src/simulator/index.js";
import { SCOPE } from "../defender/clientFixture.js";
import type { TestSimulator } from "../helpers/simulatorHarness.js";

/**
 * A tenant where people use the MCP server: the server's app registration exposes a scope under its
 * Application ID URI, an analyst's tool signs users in as a public client, and three users have
 * different Defender RBAC: Alice the finance workstations, Bob the HR ones, Carol every device but
 * only read permissions.
 */
export const MCP_APP_ID_URI = "api://mde-mcp.contoso.test";
export const MCP_SCOPE_NAME = "mcp.access";
export const MCP_SCOPE = `${MCP_APP_ID_URI}/${MCP_SCOPE_NAME}`;
export const DEFENDER_SCOPES = ["Machine.Read", "Machine.LiveResponse", "Library.Manage"];

export const ANALYST_TOOL = { clientId: randomUUID(), displayName: "analyst IDE", publicClient: true };

export const USERS = {
  alice: {
    upn: "alice@contoso.test",
    password: `pw-${randomUUID()}`,
    scopes: DEFENDER_SCOPES,
    deviceGroups: ["Finance Workstations"],
  },
  bob: {
    upn: "bob@contoso.test",
    password: `pw-${randomUUID()}`,
    scopes: DEFENDER_SCOPES,
    deviceGroups: ["HR Workstations"],
  },
  carol: {
    upn: "carol@contoso.test",
    password: `pw-${randomUUID()}`,
    scopes: ["Machine.Read"],
    deviceGroups: "all" as const,
  },
};
export type UserName = keyof typeof USERS;

export function oboScenario(): Scenario {
  const base = defaultScenario();
  const [server, ...others] = base.apps;
  if (!server) throw new Error("the default scenario has no app");
  return parseScenario({
    ...base,
    apps: [
      { ...server, identifierUris: [MCP_APP_ID_URI], exposedScopes: [MCP_SCOPE_NAME] },
      ...others,
      ANALYST_TOOL,
    ],
    users: Object.values(USERS),
  });
}

/** A user's token from the simulator, as an analyst's tool gets it: msal-node, resource owner password grant. */
export async function userToken(t: TestSimulator, name: UserName, scopes = [MCP_SCOPE]): Promise<string> {
  const pca = new PublicClientApplication({
    auth: {
      clientId: ANALYST_TOOL.clientId,
      authority: `${t.sim.authorityHost}/${t.sim.tenantId}`,
      knownAuthorities: [new URL(t.sim.authorityHost).host],
    },
    system: { networkClient: new MsalNetworkClient({ ca: t.sim.caCertPem }) },
  });
  const user = USERS[name];
  const result = await pca.acquireTokenByUsernamePassword({
    username: user.upn,
    password: user.password,
    scopes,
  });
  if (!result?.accessToken) throw new Error("no user token");
  return result.accessToken;
}

/** The MCP server's own confidential client (the scenario's first app), for the Defender API. */
export function serverApp(t: TestSimulator): MsalTokenProvider {
  return new MsalTokenProvider({
    tenantId: t.sim.tenantId,
    clientId: t.sim.clientId,
    credential: { kind: "secret", clientSecret: t.sim.clientSecret ?? "" },
    authorityHost: t.sim.authorityHost,
    scope: SCOPE,
    ca: t.sim.caCertPem,
  });
}

export function claimsOf(token: string): Record<string, unknown> {
  const [, payload] = token.split(".");
  return JSON.parse(Buffer.from(payload ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}
