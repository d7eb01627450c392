/**
 * The package's programmatic surface: the Defender API simulator (start one in-process), the typed
 * Defender API client, and the token providers it authenticates with.
 */
export * from "./simulator/index.js";
export * from "./defender/index.js";
export type { TokenProvider, TokenRequestOptions } from "./auth/tokenProvider.js";
export { createTokenProvider, type TokenProviderSettings } from "./auth/createTokenProvider.js";
export { MsalTokenProvider, type MsalCredential } from "./auth/msalTokenProvider.js";
export { ManagedIdentityTokenProvider } from "./auth/managedIdentityTokenProvider.js";
export { AuthenticationError } from "./auth/errors.js";
export { CLOUDS, resolveCloudEndpoints, type CloudName, type CloudEndpoints } from "./auth/clouds.js";
export { readSettings, ConfigError, type Settings } from "./config/settings.js";
export { loadConfig } from "./config/loadConfig.js";
export { createMcpServer } from "./server/createMcpServer.js";
export { createRuntime, type Runtime } from "./server/runtime.js";
export { runStdioServer } from "./server/stdio.js";
