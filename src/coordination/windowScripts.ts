import { LuaScript, SERVER_NOW } from "./luaScript.js";

/*
 * The scripts of the shared sliding windows. Every budget has two keys in one hash slot:
 *   log   (zset) member = one call, score = the instant its place is dated from (server ms): the grant
 *                plus the longest a call can take while it is in flight, its settle instant after.
 *                A place counts in a window of length W while score > now - (W + margin).
 *   state (hash) epoch         marks a log that is known complete; a missing one means Redis lost
 *                              (or never had) this budget's state
 *                recoverUntil  no grant before this instant: a Redis that came back empty waits out
 *                              the shortest window while every replica puts its own places back
 *                closedUntil, probeNeeded, closures, probeId, probeUntil, probeClosures: the 429 gate
 */

/** ARGV: candidate epoch, recovery ms. Sets `epoch`, creating it (and the recovery) when missing. */
const EPOCH = `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[EPOCH_ARG]
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'recoverUntil', now + tonumber(ARGV[EPOCH_ARG + 1]))
end
`;

function withEpoch(firstArg: number): string {
  return EPOCH.replaceAll("EPOCH_ARG", String(firstArg));
}

/**
 * ARGV: member, known epoch, candidate epoch, recovery ms, in-flight ms, probe poll ms, then
 * (limit, hold ms) per window.
 * Replies {'granted', probe 0|1, now, score} | {'wait', reason, retry ms, now} | {'reseed', epoch, now}.
 */
export const ACQUIRE = new LuaScript(
  "windows-acquire",
  `${SERVER_NOW}${withEpoch(3)}
if epoch ~= ARGV[2] then return {'reseed', epoch, now} end
local s = redis.call('HMGET', KEYS[2], 'recoverUntil', 'closedUntil', 'probeNeeded', 'probeId', 'probeUntil', 'closures')
local recoverUntil = tonumber(s[1]) or 0
if now < recoverUntil then return {'wait', 'recovering', recoverUntil - now, now} end
local closedUntil = tonumber(s[2]) or 0
if now < closedUntil then return {'wait', 'gate', closedUntil - now, now} end
local probe = s[3] == '1'
local probeUntil = tonumber(s[5]) or 0
if probe and s[4] and probeUntil > now then
  return {'wait', 'probe', math.min(probeUntil - now, tonumber(ARGV[6])), now}
end
local longest = 0
for i = 7, #ARGV, 2 do longest = math.max(longest, tonumber(ARGV[i + 1])) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
local wait = 0
for i = 7, #ARGV, 2 do
  local limit, hold = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local from = '(' .. (now - hold)
  local count = redis.call('ZCOUNT', KEYS[1], from, '+inf')
  if count >= limit then
    -- the place whose leaving makes room; one still in flight leaves no sooner than a hold from now
    local leaving = redis.call('ZRANGEBYSCORE', KEYS[1], from, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
    wait = math.max(wait, math.min(tonumber(leaving[2]), now) + hold - now)
  end
end
if wait > 0 then return {'wait', 'window', wait, now} end
local score = now + tonumber(ARGV[5])
redis.call('ZADD', KEYS[1], score, ARGV[1])
if probe then
  redis.call('HSET', KEYS[2], 'probeId', ARGV[1], 'probeUntil', score, 'probeClosures', s[6] or '0')
end
return {'granted', probe and 1 or 0, now, score}`,
);

/**
 * ARGV: member. The call has its answer: its place is dated from now. A probe that settles with no
 * 429 recorded since it went out opens the gate. Replies now.
 */
export const SETTLE = new LuaScript(
  "windows-settle",
  `${SERVER_NOW}
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
if redis.call('HGET', KEYS[2], 'probeId') == ARGV[1] then
  local s = redis.call('HMGET', KEYS[2], 'closures', 'probeClosures')
  if (s[1] or '0') == (s[2] or '0') then redis.call('HSET', KEYS[2], 'probeNeeded', '0') end
  redis.call('HDEL', KEYS[2], 'probeId', 'probeUntil', 'probeClosures')
end
return now`,
);

/** ARGV: pause ms. Closes the gate for every replica (extending, never shortening, a pause); replies its end. */
export const RECORD_429 = new LuaScript(
  "windows-record-429",
  `${SERVER_NOW}
local closedUntil = math.max(tonumber(redis.call('HGET', KEYS[2], 'closedUntil')) or 0, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[2], 'closedUntil', closedUntil, 'probeNeeded', '1')
redis.call('HINCRBY', KEYS[2], 'closures', 1)
return closedUntil`,
);

/**
 * ARGV: epoch, gate closed until (0: unknown), longest hold ms, then (score, member) per place this
 * replica took. Puts them back into a log that lost them, unless the epoch moved on again (replies 0).
 */
export const RESEED = new LuaScript(
  "windows-reseed",
  `${SERVER_NOW}
if redis.call('HGET', KEYS[2], 'epoch') ~= ARGV[1] then return 0 end
local cutoff = now - tonumber(ARGV[3])
for i = 4, #ARGV, 2 do
  if tonumber(ARGV[i]) > cutoff then redis.call('ZADD', KEYS[1], 'NX', ARGV[i], ARGV[i + 1]) end
end
local closedUntil = tonumber(ARGV[2])
if closedUntil > now and closedUntil > (tonumber(redis.call('HGET', KEYS[2], 'closedUntil')) or 0) then
  redis.call('HSET', KEYS[2], 'closedUntil', closedUntil, 'probeNeeded', '1')
end
return 1`,
);

/**
 * ARGV: candidate epoch, recovery ms. A replica's heartbeat: replies {epoch, now}, creating the epoch
 * (and the recovery) when Redis lost it.
 */
export const SYNC = new LuaScript("windows-sync", `${SERVER_NOW}${withEpoch(1)}return {epoch, now}`);

/**
 * ARGV: (limit, hold ms) per window. Replies {now, recovering ms, gate closed ms, probe out 0|1,
 * places held per window...}; reads only.
 */
export const USAGE = new LuaScript(
  "windows-usage",
  `${SERVER_NOW}
local s = redis.call('HMGET', KEYS[2], 'recoverUntil', 'closedUntil', 'probeId', 'probeUntil')
local reply = {now, math.max(0, (tonumber(s[1]) or 0) - now), math.max(0, (tonumber(s[2]) or 0) - now)}
reply[4] = (s[3] and (tonumber(s[4]) or 0) > now) and 1 or 0
for i = 1, #ARGV, 2 do
  reply[#reply + 1] = redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[i + 1])), '+inf')
end
return reply`,
);
