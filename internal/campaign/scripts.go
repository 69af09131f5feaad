package campaign

import "github.com/redis/go-redis/v9"

// The registry's scripts. Every key they touch carries the bulk queue's
// {hash tag} (internal/keys): the campaign's hash, the index, the event
// stream and the dispatch scheduler's sets, so each script runs on one Redis
// Cluster node and counts, transitions and their events change together.
//
// A campaign's hash holds: account, name, state, weight, started_ms,
// ended_ms, sealed ("1" once its producer enqueued its last line), and the
// counts total, delivered, unconfirmed (of delivered), dead_lettered,
// expired, cancelled and retrying.

// finals is the Lua snippet that ends a campaign whose every notification
// reached a final outcome once its producer sealed it: running or paused →
// done (with campaign_completed), cancelled stays cancelled. It needs the
// locals h (hash key), events (the stream), now, ev (the completed
// event), maxlen and ttl (the record's retention, ms). One HMGET reads all
// it needs.
const finals = `
local function finish()
  local f = redis.call('HMGET', h, 'sealed', 'ended_ms', 'delivered', 'dead_lettered', 'expired', 'cancelled', 'total', 'state')
  if f[1] ~= '1' or f[2] then return 0 end
  local function n(i) return tonumber(f[i] or '0') or 0 end
  if n(3) + n(4) + n(5) + n(6) < n(7) then return 0 end
  redis.call('HSET', h, 'ended_ms', now)
  redis.call('PEXPIRE', h, ttl)
  if f[8] == 'running' or f[8] == 'paused' then
    redis.call('HSET', h, 'state', 'done')
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'e', ev)
    return 2
  end
  return 1
end
`

// startScript registers a campaign run, unless one of the same name runs in
// the account.
//
// KEYS[1] the campaign's hash  KEYS[2] the index  KEYS[3] the scheduler's
// stopped set  KEYS[4] the scheduler's known set  KEYS[5] the event stream
// ARGV[1] account  ARGV[2] name  ARGV[3] group  ARGV[4] weight
// ARGV[5] now (Unix ms)  ARGV[6] campaign_started event  ARGV[7] stream cap
//
// Returns 1 when registered, or the running campaign's state.
var startScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if st == 'running' or st == 'paused' then return st end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'account', ARGV[1], 'name', ARGV[2], 'state', 'running', 'weight', ARGV[4],
  'started_ms', ARGV[5], 'sealed', '0', 'total', 0, 'delivered', 0, 'unconfirmed', 0,
  'dead_lettered', 0, 'expired', 0, 'cancelled', 0, 'retrying', 0)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
redis.call('SREM', KEYS[3], ARGV[3])
redis.call('SREM', KEYS[4], ARGV[3])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', 'e', ARGV[6])
return 1
`)

// addScript counts tasks a producer enqueued, or seals the campaign.
//
// KEYS[1] the campaign's hash  KEYS[2] the event stream
// ARGV[1] how many were enqueued  ARGV[2] "1" to seal  ARGV[3] now (Unix ms)
// ARGV[4] campaign_completed event  ARGV[5] stream cap  ARGV[6] retention (ms)
//
// Returns the campaign's state ("" when it is gone).
var addScript = redis.NewScript(`
local h, events, now, ev, maxlen, ttl = KEYS[1], KEYS[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
` + finals + `
local st = redis.call('HGET', h, 'state')
if not st then return '' end
redis.call('HINCRBY', h, 'total', ARGV[1])
if ARGV[2] == '1' then
  redis.call('HSET', h, 'sealed', '1')
  finish()
end
return redis.call('HGET', h, 'state')
`)

// outcomeScript counts a notification's final outcome and appends its event;
// a retry (ARGV[1] = "retrying") only counts.
//
// KEYS[1] the campaign's hash  KEYS[2] the event stream
// ARGV[1] the count to raise: delivered, dead_lettered, expired, cancelled or retrying
// ARGV[2] "1" when the notification had failed before (it leaves retrying)
// ARGV[3] "1" when the delivery is unconfirmed  ARGV[4] the event
// ARGV[5] now (Unix ms)  ARGV[6] campaign_completed event  ARGV[7] stream cap
// ARGV[8] retention (ms)
//
// Returns 2 when this outcome completed the campaign, 1 when it ended a
// cancelled one, else 0.
var outcomeScript = redis.NewScript(`
local h, events, now, ev, maxlen, ttl = KEYS[1], KEYS[2], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
` + finals + `
if ARGV[1] ~= 'retrying' then
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'e', ARGV[4])
end
if redis.call('EXISTS', h) == 0 then return 0 end
redis.call('HINCRBY', h, ARGV[1], 1)
if ARGV[2] == '1' then redis.call('HINCRBY', h, 'retrying', -1) end
if ARGV[3] == '1' then redis.call('HINCRBY', h, 'unconfirmed', 1) end
if ARGV[1] == 'retrying' then return 0 end
return finish()
`)

// stateScript pauses, resumes or cancels a campaign, and stops or restarts
// its group in the dispatch scheduler.
//
// KEYS[1] the campaign's hash  KEYS[2] the stopped set  KEYS[3] the
// account's groups by virtual time  KEYS[4] the known set  KEYS[5] the
// event stream
// ARGV[1] group  ARGV[2] account  ARGV[3] pause, resume or cancel
// ARGV[4] the transition's event  ARGV[5] stream cap
//
// Returns {changed (1 or 0), state after}; state "" when the campaign is unknown.
var stateScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {0, ''} end
local op, g = ARGV[3], ARGV[1]
local to
if op == 'pause' and st == 'running' then to = 'paused'
elseif op == 'resume' and st == 'paused' then to = 'running'
elseif op == 'cancel' and (st == 'running' or st == 'paused') then to = 'cancelled'
else return {0, st} end
redis.call('HSET', KEYS[1], 'state', to)
if to == 'running' then
  -- the scheduler's next tick takes the group up again, at the account's
  -- lowest virtual time, as it does a new group
  redis.call('SREM', KEYS[2], g)
  redis.call('SREM', KEYS[4], g)
else
  redis.call('SADD', KEYS[2], g)
  redis.call('ZREM', KEYS[3], g)
end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[4])
return {1, to}
`)

// cancelScript records notifications of a cancelled campaign as cancelled:
// with ARGV[4] = "group", only those it takes out of their asynq group
// (deleting the task); otherwise those the caller deleted already.
//
// KEYS[1] the campaign's hash  KEYS[2] the event stream  KEYS[3] asynq's key
// of the group  KEYS[4] asynq's set of groups
// ARGV[1] now (Unix ms)  ARGV[2] campaign_completed event (unused: a
// cancelled campaign does not complete)  ARGV[3] stream cap  ARGV[4] mode
// ARGV[5] asynq's task key prefix  ARGV[6] group  ARGV[7] retention (ms)
// ARGV[8+3i..] task ID, "1" when it had failed before, its cancelled event
//
// Returns the IDs it recorded.
var cancelScript = redis.NewScript(`
local h, events, now, ev, maxlen, ttl = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[7]
` + finals + `
local out = {}
for i = 8, #ARGV, 3 do
  local id = ARGV[i]
  local ok = true
  if ARGV[4] == 'group' then
    ok = redis.call('ZREM', KEYS[3], id) == 1
    if ok then redis.call('DEL', ARGV[5] .. id) end
  end
  if ok then
    redis.call('HINCRBY', h, 'cancelled', 1)
    if ARGV[i+1] == '1' then redis.call('HINCRBY', h, 'retrying', -1) end
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'e', ARGV[i+2])
    table.insert(out, id)
  end
end
if ARGV[4] == 'group' and redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[6])
end
finish()
return out
`)
