import type { RunningSimulator } from "../src/simulator/index.js";

/**
 * The settings that make a simulator the server's tenant, its CA trusted the way an operator would
 * trust a private one (NODE_EXTRA_CA_CERTS).
 */
export function simulatorTenantEnv(sim: RunningSimulator): Record<string, string> {
  return {
    AZURE_TENANT_ID: sim.tenantId,
    AZURE_CLIENT_ID: sim.clientId,
    AZURE_CLIENT_SECRET: sim.clientSecret ?? "",
    AZURE_AUTHORITY_HOST: sim.authorityHost,
    MDE_API_BASE_URL: sim.apiBase,
    NODE_EXTRA_CA_CERTS: sim.caFile,
  };
}
