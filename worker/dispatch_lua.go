package worker

import "github.com/redis/go-redis/v9"

// The dispatch scheduler's scripts. Every key they touch carries the bulk
// queue's {hash tag}: asynq's keys of the queue ("asynq:{bulk}:…") and the
// scheduler's own (internal/keys, "lsqd:{bulk}:…"), so each script runs on
// one Redis Cluster node. Times are microseconds on Redis's clock (TIME)
// unless ARGV carries one, which only tests do.
//
// A bulk task waits in its asynq group (asynq's "aggregating" state:
// asynq:{bulk}:g:<group>, a ZSET of task ids scored by enqueue time, and
// the group's name in asynq:{bulk}:groups). No asynq aggregator runs
// (notifyd sets no GroupAggregator); dispatchScript moves a task from its
// group to the pending list exactly as asynq's own RunTask does
// (internal/rdb runTaskCmd in asynq v0.26.0), and also drops the task's
// group field, so that a retry or a hand-back goes back to the pending list
// when due, not to a group nobody watches.

// dispatchScript releases the bulk tasks whose accounts have budget.
//
// KEYS[1] due      ZSET  account -> when its next task may be released
// KEYS[2] pace     HASH  account -> µs between its calls
// KEYS[3] known    SET   groups the scheduler tracks
// KEYS[4] groups   SET   asynq:{bulk}:groups, every group asynq knows
// KEYS[5] pending  LIST  asynq:{bulk}:pending
// KEYS[6] stopped  SET   groups of paused or cancelled campaigns
// ARGV[1] lead (µs): release this long before the account's due time
// ARGV[2] most tasks to release in this call
// ARGV[3] pace (µs) of an account no process configured
// ARGV[4] asynq task key prefix  ARGV[5] asynq group key prefix
// ARGV[6] vt key prefix (keys.DispatchGroupsPrefix)  ARGV[7] weight key prefix
// ARGV[8] pending_since (ns, for asynq)  ARGV[9] now (µs) or ""
//
// Each account holds its groups in a ZSET scored by virtual time (stride
// scheduling): the group with the lowest runs next and then moves on by
// 1e6/weight, so active groups share the account's rate by weight, and a new
// group joins at the lowest virtual time of the account. A stopped group
// (internal/campaign pauses and cancels) is tracked but never joins: its
// campaign's resume adds it. An account's due
// time moves on by its pace at each release (from no earlier than one pace
// ago, so a late tick catches up by one task, not a burst); workers move it
// later when their booking must wait (holdScript).
//
// Returns {released, next_us, account...}: how many tasks it released, how
// long until the next account is due (-1: none), and the account of each.
var dispatchScript = redis.NewScript(`
local now = tonumber(ARGV[9])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local lead, budget = tonumber(ARGV[1]), tonumber(ARGV[2])
local taskp, groupp, vtp, weightp = ARGV[4], ARGV[5], ARGV[6], ARGV[7]

for _, g in ipairs(redis.call('SDIFF', KEYS[4], KEYS[3])) do
  local acct = string.match(g, '^[^/]+')
  if acct and redis.call('SISMEMBER', KEYS[6], g) == 1 then
    redis.call('SADD', KEYS[3], g)
  elseif acct then
    local top = redis.call('ZRANGE', vtp .. acct, 0, 0, 'WITHSCORES')
    local v = 0
    if #top > 0 then v = tonumber(top[2]) end
    redis.call('ZADD', vtp .. acct, 'NX', v, g)
    redis.call('SADD', KEYS[3], g)
    redis.call('ZADD', KEYS[1], 'NX', now, acct)
  end
end

local function forget(acct, g)
  redis.call('ZREM', vtp .. acct, g)
  redis.call('SREM', KEYS[3], g)
  redis.call('SREM', KEYS[4], g)
end

-- pop moves the next task of the account's next group to the pending list.
local function pop(acct)
  for _ = 1, 64 do
    local top = redis.call('ZRANGE', vtp .. acct, 0, 0, 'WITHSCORES')
    if #top == 0 then return nil end
    local g, v = top[1], tonumber(top[2])
    local gk = groupp .. g
    local ids = redis.call('ZRANGE', gk, 0, 0)
    if #ids > 0 then
      local id = ids[1]
      redis.call('ZREM', gk, id)
      if redis.call('EXISTS', gk) == 0 then
        forget(acct, g)
      else
        local w = tonumber(redis.call('GET', weightp .. g) or '1') or 1
        redis.call('ZADD', vtp .. acct, v + math.floor(1000000 / math.max(w, 1)), g)
      end
      local tk = taskp .. id
      if redis.call('EXISTS', tk) == 1 then
        redis.call('HSET', tk, 'state', 'pending', 'pending_since', ARGV[8])
        redis.call('HDEL', tk, 'group')
        redis.call('LPUSH', KEYS[5], id)
        return id
      end
    else
      forget(acct, g)
    end
  end
  return nil
end

local out = {0, -1}
while out[1] < budget do
  local d = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now + lead, 'WITHSCORES', 'LIMIT', 0, 1)
  if #d == 0 then break end
  local acct, due = d[1], tonumber(d[2])
  if pop(acct) then
    local pace = tonumber(redis.call('HGET', KEYS[2], acct) or ARGV[3])
    redis.call('ZADD', KEYS[1], math.max(due, now - pace) + pace, acct)
    out[1] = out[1] + 1
    table.insert(out, acct)
  elseif redis.call('EXISTS', vtp .. acct) == 0 then
    redis.call('ZREM', KEYS[1], acct)
  else
    redis.call('ZADD', KEYS[1], now + lead + 1000, acct)
  end
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #nxt > 0 then out[2] = math.max(tonumber(nxt[2]) - lead - now, 0) end
return out
`)

// holdScript keeps the scheduler from releasing an account's next task for
// ARGV[1] µs from now (a booking that must wait that long, a cool-down, a
// halt, the daily cap). It never brings a due time earlier, and it ignores
// an account with no bulk work (XX).
// KEYS[1] due  ARGV[1] µs  ARGV[2] account
var holdScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
return redis.call('ZADD', KEYS[1], 'XX', 'GT', now + tonumber(ARGV[1]), ARGV[2])
`)

// wakeScript lets the scheduler release an account's tasks now (a halt
// ended). KEYS[1] due  ARGV[1] account
var wakeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
return redis.call('ZADD', KEYS[1], 'XX', 'LT', now, ARGV[1])
`)

// flushScript is the FIFO scheduler, kept as the benchmarks' baseline: it
// releases every task of every group at once, oldest group first, so the bulk
// queue is one FIFO line whatever the account or campaign.
// KEYS[1] groups  KEYS[2] pending  ARGV[1] asynq task key prefix
// ARGV[2] asynq group key prefix  ARGV[3] pending_since (ns). Returns the count.
var flushScript = redis.NewScript(`
local n = 0
for _, g in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local gk = ARGV[2] .. g
  for _, id in ipairs(redis.call('ZRANGE', gk, 0, -1)) do
    local tk = ARGV[1] .. id
    if redis.call('EXISTS', tk) == 1 then
      redis.call('HSET', tk, 'state', 'pending', 'pending_since', ARGV[3])
      redis.call('HDEL', tk, 'group')
      redis.call('LPUSH', KEYS[2], id)
      n = n + 1
    end
  end
  redis.call('DEL', gk)
  redis.call('SREM', KEYS[1], g)
end
return n
`)
