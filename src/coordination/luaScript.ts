import { createHash } from "node:crypto";

/**
 * Sets `now` to the Redis server's clock in whole milliseconds. Every script dates what it writes
 * with this, never with a replica's clock, so replicas whose clocks disagree still agree on windows
 * and lease expiries.
 */
export const SERVER_NOW = `
local serverTime = redis.call('TIME')
local now = tonumber(serverTime[1]) * 1000 + math.floor(tonumber(serverTime[2]) / 1000)
`;

/**
 * A Lua script run atomically on the Redis server. It is called by its SHA1 and sent in full only
 * when the server does not know it (a restarted or flushed Redis forgets every script).
 */
export class LuaScript {
  readonly sha: string;

  constructor(
    /** Names the script in errors and logs. */
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }
}
