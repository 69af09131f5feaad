package worker

import "github.com/redis/go-redis/v9"

// The limiter's scripts. Times are microseconds since the Unix epoch. Each
// script takes the clock from Redis (TIME) unless ARGV carries one, which only
// tests do: so every worker on every host reads one clock, and a test can
// stand at a window's exact edge.
//
// All KEYS of one call share the account's {hash tag} (see internal/keys).

// bookScript books the next call slot of an account.
//
// KEYS[1] slots    ZSET  booking id -> slot time (granted and future slots)
// KEYS[2] pending  ZSET  bulk bookings not yet claimed (transactional work may take them)
// KEYS[3] cooldown STRING, PX: set while LeadSquared's limit cools down
// KEYS[4] adopted  HASH  {calls, window_us}: a lower limit LeadSquared stated
// KEYS[5] halt     STRING: the reason the account is halted
// KEYS[6] daily    HASH  day number -> calls made that UTC day
// ARGV[1] calls per window        ARGV[2] window (us)     ARGV[3] safety margin (us)
// ARGV[4] lane: "t", "b", or "k"  ARGV[5] booking id      ARGV[6] daily cap (0: none)
// ARGV[7] daily transactional reserve                     ARGV[8] now (us) or "" for Redis TIME
// ARGV[9] longest wait worth booking (us; 0: any)          ARGV[10] "1": fill gaps, "0": append only
//
// span is the window plus the margin, and pace is span/calls rounded up:
// slots at least pace apart can never put more than calls of them in one
// span. The slot is the earliest time t >= now, after any cool-down, that is
// at least pace away from every other slot: a gap left by a booking given
// up (a stop, a late claim, a cancelled task) is filled by the next booking,
// not skipped. While a lower stated limit is adopted, slots booked under the
// old one may sit closer than the new pace, so the slot goes after the
// latest one and the calls-th latest must be a span earlier (the exact
// sliding window), as with ARGV[10] "0".
//
// A transactional booking that would wait takes the earliest future bulk
// booking instead, and that booking moves to t. Lane "k" is a key check
// (LeadSquared counts those calls too): transactional priority, and allowed
// while the account is halted, since it is the probe.
//
// Only calls made count toward the daily cap: claimScript counts them, and a
// booking is refused once the calls made reach the cap.
//
// Returns {status, wait_us, detail}; the statuses are slotStatus's.
//
//	0 granted: call now              1 booked: sleep wait_us, then claim
//	2 halted: detail is the reason   3 daily cap: wait_us until the UTC day turns
//	5 busy: the slot is wait_us away, more than ARGV[9]; nothing was booked
var bookScript = redis.NewScript(`
local now = tonumber(ARGV[8])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local lane, id = ARGV[4], ARGV[5]
local halt = redis.call('GET', KEYS[5])
if halt and lane ~= 'k' then return {2, 0, halt} end

local calls, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local exact = ARGV[10] ~= '1'
local adopted = redis.call('HMGET', KEYS[4], 'calls', 'window_us')
if adopted[1] and adopted[2] then
  calls, window = tonumber(adopted[1]), tonumber(adopted[2])
  exact = true
end
local span = window + tonumber(ARGV[3])
local pace = math.ceil(span / calls)

local cap = tonumber(ARGV[6])
local day = math.floor(now / 86400000000)
if cap > 0 then
  local used = tonumber(redis.call('HGET', KEYS[6], day) or '0')
  local allowed = cap
  if lane == 'b' then allowed = cap - tonumber(ARGV[7]) end
  if used >= allowed then return {3, (day + 1) * 86400000000 - now, ''} end
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - span))

local at = now
local cd = redis.call('PTTL', KEYS[3])
if cd > 0 then at = now + cd * 1000 end
local longest = tonumber(ARGV[9])
if longest > 0 and at - now > longest then return {5, at - now, 'cool-down'} end

if exact then
  -- After the latest slot (pacing), and a span after the calls-th latest
  -- (the window), by negative index: with fewer slots the range is empty.
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if #last > 0 then at = math.max(at, tonumber(last[2]) + pace) end
  local kth = redis.call('ZRANGE', KEYS[1], -calls, -calls, 'WITHSCORES')
  if #kth > 0 then at = math.max(at, tonumber(kth[2]) + span) end
else
  -- The first gap of at least pace on both sides, from at on.
  local near = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (at - pace), '+inf', 'WITHSCORES', 'LIMIT', 0, 256)
  local fits = false
  for i = 2, #near, 2 do
    local s = tonumber(near[i])
    if s >= at + pace then fits = true break end
    if s + pace > at then at = s + pace end
  end
  if not fits and #near == 512 then
    local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
    at = math.max(at, tonumber(last[2]) + pace)
  end
end

-- Only a transactional booking reads the pending set (for bookings it may
-- take), so only it trims the bookings abandoned there (a worker killed
-- between book and claim); an unused pending set expires with the slots.
local mine, touched = at, false
local victim = {}
if lane ~= 'b' and at > now then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
  victim = redis.call('ZRANGEBYSCORE', KEYS[2], now, '(' .. at, 'WITHSCORES', 'LIMIT', 0, 1)
  if #victim > 0 then mine = tonumber(victim[2]) end
end
if longest > 0 and mine - now > longest then return {5, mine - now, ''} end
if #victim > 0 then
  redis.call('ZADD', KEYS[1], at, victim[1])
  redis.call('ZADD', KEYS[2], at, victim[1])
  touched = true
end
redis.call('ZADD', KEYS[1], mine, id)
if lane == 'b' and mine > now then
  redis.call('ZADD', KEYS[2], mine, id)
  touched = true
end

local ttl = math.floor((at - now + 2 * span) / 1000) + 1
redis.call('PEXPIRE', KEYS[1], ttl)
if touched then redis.call('PEXPIRE', KEYS[2], ttl) end
if mine == now then
  if cap > 0 then
    redis.call('HINCRBY', KEYS[6], day, 1)
    redis.call('HDEL', KEYS[6], day - 1, day - 2)
    redis.call('EXPIRE', KEYS[6], 172800)
  end
  return {0, 0, ''}
end
return {1, mine - now, ''}
`)

// claimScript confirms a booking when its time has come.
//
// KEYS[1] slots  KEYS[2] pending  KEYS[3] cooldown  KEYS[4] halt  KEYS[5] daily
// ARGV[1] booking id   ARGV[2] lateness tolerance (us)   ARGV[3] now (us) or ""
// ARGV[4] lane ("k" ignores the halt, as in bookScript)
// ARGV[5] daily cap (0: none)   ARGV[6] daily transactional reserve
//
// Returns {status, wait_us, detail}:
//
//	0 go: call now; wait_us is how late the claim is   1 not yet (moved by transactional work): sleep wait_us, claim again
//	2 halted: detail is the reason                      3 daily cap: wait_us until the UTC day turns
//	4 rebook: the booking was dropped (cool-down began, the worker woke too late,
//	  or the booking expired); wait_us, then book again
//
// A dropped booking was never used, so removing it can only lower the
// window's count. A claimed call counts toward the day's calls.
var claimScript = redis.NewScript(`
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local id = ARGV[1]
local function drop()
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
local halt = redis.call('GET', KEYS[4])
if halt and ARGV[4] ~= 'k' then
  drop()
  return {2, 0, halt}
end
local s = redis.call('ZSCORE', KEYS[1], id)
if not s then return {4, 0, ''} end
s = tonumber(s)
if s > now then return {1, s - now, ''} end
local cd = redis.call('PTTL', KEYS[3])
if cd > 0 or now - s > tonumber(ARGV[2]) then
  drop()
  if cd < 0 then cd = 0 end
  return {4, cd * 1000, ''}
end
local cap = tonumber(ARGV[5])
if cap > 0 then
  local day = math.floor(now / 86400000000)
  local allowed = cap
  if ARGV[4] == 'b' then allowed = cap - tonumber(ARGV[6]) end
  if tonumber(redis.call('HGET', KEYS[5], day) or '0') >= allowed then
    drop()
    return {3, (day + 1) * 86400000000 - now, ''}
  end
  redis.call('HINCRBY', KEYS[5], day, 1)
  redis.call('HDEL', KEYS[5], day - 1, day - 2)
  redis.call('EXPIRE', KEYS[5], 172800)
end
redis.call('ZREM', KEYS[2], id)
return {0, now - s, ''}
`)

// releaseScript gives back a booking that will not be used (shutdown, context
// done). KEYS[1] slots  KEYS[2] pending  ARGV[1] booking id. Returns 1 if released.
var releaseScript = redis.NewScript(`
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
`)

// coolDownScript starts or extends an account's cool-down; it never shortens one.
// KEYS[1] cooldown  ARGV[1] duration (ms)  ARGV[2] reason. Returns the cool-down's TTL (ms).
var coolDownScript = redis.NewScript(`
local cur = redis.call('PTTL', KEYS[1])
local want = tonumber(ARGV[1])
if cur < want then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', want)
  return want
end
return cur
`)
