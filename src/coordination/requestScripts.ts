import { LuaScript } from "./luaScript.js";

/**
 * The state changes of shared requests, each one atomic on the Redis server. A request is a hash at
 * `<prefix>:request:<id>` (state, owner, machineId, actionId, failure, place, machine, send); the
 * requests each owner must still submit are the set `<prefix>:requests:open:<owner>`, those whose
 * action it follows until final (in flight at Defender, holding a session) the set
 * `<prefix>:requests:inflight:<owner>`, and the owners that have any of either the set `<prefix>:replicas`. A replica is alive while it holds the lock lease
 * `<prefix>:lock:replica:<owner>`. Scripts that walk owners build those key names themselves (the
 * owners are only known inside the script), which a single Redis server allows.
 */

const OPEN = `local function openKey(owner) return ARGV[1] .. ':requests:open:' .. owner end
local function inflightKey(owner) return ARGV[1] .. ':requests:inflight:' .. owner end`;

// KEYS: request. ARGV: prefix, id, owner, machineId, place, machine, send, ttlMs.
export const QUEUE = new LuaScript(
  "request-queue",
  `${OPEN}
redis.call('HSET', KEYS[1], 'state', 'queued', 'owner', ARGV[3], 'machineId', ARGV[4], 'place', ARGV[5],
  'machine', ARGV[6], 'send', ARGV[7], 'actionId', '', 'failure', '')
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('SADD', openKey(ARGV[3]), ARGV[2])
redis.call('SADD', ARGV[1] .. ':replicas', ARGV[3])
return 1`,
);

// KEYS: request. ARGV: prefix, id. queued -> withdrawn, whoever asks; returns the record after.
export const WITHDRAW = new LuaScript(
  "request-withdraw",
  `${OPEN}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {} end
if state == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'withdrawn', 'place', '', 'send', '')
  redis.call('SREM', openKey(redis.call('HGET', KEYS[1], 'owner')), ARGV[2])
end
return redis.call('HGETALL', KEYS[1])`,
);

// KEYS: request. ARGV: owner. queued -> submitting, by its owner only.
export const BEGIN_SUBMIT = new LuaScript(
  "request-begin-submit",
  `local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 'handed-over' end
if state == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'submitting', 'place', '')
  return 'granted'
end
if state == 'submitting' then return 'granted' end
return state`,
);

// KEYS: request. ARGV: prefix, id, owner, state, actionId, failure, machineId, machine, ttlMs.
// The owner's last word; a record another replica owns now (it adopted it) is left alone. A
// submitted one is in flight, its owner's to follow, until the owner says it is final (FINISHED).
export const SETTLE = new LuaScript(
  "request-settle",
  `${OPEN}
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[4], 'owner', ARGV[3], 'actionId', ARGV[5], 'failure', ARGV[6],
  'machineId', ARGV[7], 'machine', ARGV[8], 'place', '', 'send', '')
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('SREM', openKey(ARGV[3]), ARGV[2])
if ARGV[4] == 'submitted' then
  redis.call('SADD', inflightKey(ARGV[3]), ARGV[2])
  redis.call('SADD', ARGV[1] .. ':replicas', ARGV[3])
end
return 1`,
);

// ARGV: prefix, owner, then ids. Their actions are final: nobody need follow them any more.
export const FINISHED = new LuaScript(
  "request-finished",
  `${OPEN}
for i = 3, #ARGV do redis.call('SREM', inflightKey(ARGV[2]), ARGV[i]) end
return 1`,
);

// ARGV: prefix, claimer, ttlMs, then triples (id, machineId, actionId): actions in flight at
// Defender that carry these request ids. Each becomes the claimer's to follow when its record is
// the claimer's already (the claimer sent it), has an owner whose liveness lease lapsed, or is
// missing (a server from before Redis, or a Redis that came back empty); one a live replica owns
// stays its own. A request a dead replica was still sending is left to ADOPT, which finds its
// action by its tag. Returns two lists: the claimer's ids, and the others'. A claimer not alive
// claims nothing ('not-alive').
export const CLAIM_IN_FLIGHT = new LuaScript(
  "request-claim-in-flight",
  `${OPEN}
local prefix, me, ttl = ARGV[1], ARGV[2], ARGV[3]
local alive = function(owner) return redis.call('EXISTS', prefix .. ':lock:replica:' .. owner) == 1 end
if not alive(me) then return 'not-alive' end
local mine, others = {}, {}
for i = 4, #ARGV, 3 do
  local id = ARGV[i]
  local key = prefix .. ':request:' .. id
  local owner = redis.call('HGET', key, 'owner')
  local state = redis.call('HGET', key, 'state')
  local sending = state == 'queued' or state == 'submitting'
  if not owner or owner == me or (not sending and not alive(owner)) then
    if owner and owner ~= me then redis.call('SREM', inflightKey(owner), id) end
    redis.call('SREM', openKey(me), id)
    redis.call('HSET', key, 'state', 'submitted', 'owner', me, 'machineId', ARGV[i + 1], 'actionId', ARGV[i + 2],
      'failure', '', 'place', '', 'send', '')
    if not redis.call('HGET', key, 'machine') then redis.call('HSET', key, 'machine', '') end
    redis.call('PEXPIRE', key, ttl)
    redis.call('SADD', inflightKey(me), id)
    table.insert(mine, id)
  else
    table.insert(others, id)
  end
end
if #mine > 0 then redis.call('SADD', prefix .. ':replicas', me) end
return {mine, others}`,
);

// ARGV: prefix, owner, then pairs of id and place. Writes the places of the owner's queued
// requests; returns three lists: withdrawn, handed over (owned by another now), missing.
export const PUBLISH_PLACES = new LuaScript(
  "request-publish-places",
  `local withdrawn, handedOver, missing = {}, {}, {}
for i = 3, #ARGV, 2 do
  local key = ARGV[1] .. ':request:' .. ARGV[i]
  local state = redis.call('HGET', key, 'state')
  if not state then
    table.insert(missing, ARGV[i])
  elseif redis.call('HGET', key, 'owner') ~= ARGV[2] then
    table.insert(handedOver, ARGV[i])
  elseif state == 'withdrawn' then
    table.insert(withdrawn, ARGV[i])
  elseif state == 'queued' then
    redis.call('HSET', key, 'place', ARGV[i + 1])
  end
end
return {withdrawn, handedOver, missing}`,
);

// ARGV: prefix, adopter. Every request still to submit, and every action still in flight, of every
// owner whose liveness lease lapsed becomes the adopter's, in one step, so two live replicas never
// adopt the same one. Returns two lists: the requests to submit, and those in flight. An adopter
// that is not alive itself adopts nothing.
export const ADOPT = new LuaScript(
  "request-adopt",
  `${OPEN}
local prefix, me = ARGV[1], ARGV[2]
if redis.call('EXISTS', prefix .. ':lock:replica:' .. me) == 0 then return {{}, {}} end
local adopted, inflight = {}, {}
for _, owner in ipairs(redis.call('SMEMBERS', prefix .. ':replicas')) do
  if owner ~= me and redis.call('EXISTS', prefix .. ':lock:replica:' .. owner) == 0 then
    for _, id in ipairs(redis.call('SMEMBERS', openKey(owner))) do
      local key = prefix .. ':request:' .. id
      local state = redis.call('HGET', key, 'state')
      if state == 'queued' or state == 'submitting' then
        redis.call('HSET', key, 'owner', me)
        redis.call('SADD', openKey(me), id)
        table.insert(adopted, id)
      end
    end
    for _, id in ipairs(redis.call('SMEMBERS', inflightKey(owner))) do
      local key = prefix .. ':request:' .. id
      if redis.call('HGET', key, 'state') == 'submitted' and redis.call('HGET', key, 'owner') == owner then
        redis.call('HSET', key, 'owner', me)
        redis.call('SADD', inflightKey(me), id)
        table.insert(inflight, id)
      end
    end
    redis.call('DEL', openKey(owner), inflightKey(owner))
    redis.call('SREM', prefix .. ':replicas', owner)
  end
end
if #adopted + #inflight > 0 then redis.call('SADD', prefix .. ':replicas', me) end
return {adopted, inflight}`,
);

// KEYS: request.
export const GET = new LuaScript("request-get", `return redis.call('HGETALL', KEYS[1])`);
