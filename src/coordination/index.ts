export {
  CoordinationRedis,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_RECONNECT_DELAY_MS,
} from "./coordinationRedis.js";
export type { CoordinationHealth, CoordinationRedisOptions } from "./coordinationRedis.js";
export { CoordinationUnavailableError, LeaseLostError } from "./errors.js";
export type { LeaseLossReason, UnavailableReason } from "./errors.js";
export { Lease } from "./lease.js";
export { DEFAULT_LEASE_MS, DEFAULT_PREFIX } from "./leaseSettings.js";
export type { LeaseSettingsOptions } from "./leaseSettings.js";
export type { AcquireOutcome, LeaseWait } from "./leaseWait.js";
export { LuaScript, SERVER_NOW } from "./luaScript.js";
export { RedisLeader } from "./redisLeader.js";
export type { RedisLeaderOptions } from "./redisLeader.js";
export { RedisLocks } from "./redisLocks.js";
export { RedisPolling } from "./redisPolling.js";
export type { RedisPollingOptions } from "./redisPolling.js";
export { REQUEST_RECORD_TTL_MS, RedisRequestRegistry } from "./redisRequestRegistry.js";
export type { RedisRequestRegistryOptions } from "./redisRequestRegistry.js";
export { RedisSemaphore } from "./redisSemaphore.js";
export type { RedisSemaphoreOptions, SemaphoreCounts, SemaphoreWait } from "./redisSemaphore.js";
export {
  DEFAULT_MARGIN_MS,
  DEFAULT_MAX_CALL_MS,
  DEFAULT_PROBE_POLL_MS,
  RedisWindows,
} from "./redisWindows.js";
export type {
  BudgetWindow,
  RedisWindowsOptions,
  WindowDecision,
  WindowRefusalReason,
  WindowUsage,
} from "./redisWindows.js";
