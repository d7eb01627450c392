import type { CoordinationRedis } from "../coordination/coordinationRedis.js";
import type { Logger } from "../logger.js";
import type { ApprovalStore } from "./approvalStore.js";
import { PendingApprovals } from "./pendingApprovals.js";
import { RedisApprovalStore } from "./redisApprovalStore.js";

export interface ApprovalStoreOptions {
  /** The JSON file that keeps pending approvals across restarts; undefined keeps them in memory only. */
  file: string | undefined;
  timeScale: number;
  /**
   * With REDIS_URL: the approvals live in the Redis every replica shares (then `file` is not used),
   * so any replica shows them and any can decide, claim or withdraw one.
   */
  redis?: { coordination: CoordinationRedis; url: string; logger?: Logger } | undefined;
}

/** The store the review console and the tools share: Redis for replicas, else a JSON file (or memory) for one server. */
export function openApprovalStore(options: ApprovalStoreOptions): Promise<ApprovalStore> {
  if (options.redis) {
    return RedisApprovalStore.open({
      redis: options.redis.coordination,
      url: options.redis.url,
      timeScale: options.timeScale,
      ...(options.redis.logger ? { logger: options.redis.logger } : {}),
    });
  }
  return PendingApprovals.open({ file: options.file, timeScale: options.timeScale });
}
