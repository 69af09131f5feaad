// Package demo is `notifyd demo`: a self-contained run of the whole system
// on one machine, with nothing to configure and no keys.
//
// # What runs
//
//   - an embedded Redis (miniredis), whose TTLs follow the wall clock, so that
//     asynq's retention and the refs' expiry behave as on a real server;
//   - the sandbox, a strict local LeadSquared on a loopback port, with its
//     real limit of 25 calls per sliding 5 s, a 3% rate of 500s, a few
//     notifications scripted to fail twice with a 500, and two scripted to be
//     refused with a 400 (they end as dead letters);
//   - Options.Pools notifyd worker pools (default 3, of 8 workers each), as
//     separate notifyd processes would run, sharing the Redis and so the
//     global limit; the first serves the UI, /metrics and health on
//     Options.Addr.
//
// It enqueues a campaign of Options.Size notifications (system and push, one
// of them invalid, refused before anything is enqueued) through the enqueue
// package, and a few transactional notifications while the campaign drains,
// whose enqueue-to-LeadSquared latency it measures. It shows progress (a
// bar on a terminal, plain lines otherwise), then a summary, and keeps the
// UI up until interrupted unless told to exit.
//
// # Embedded Redis
//
// miniredis runs asynq's and the limiter's Lua scripts (TIME, ZRANGE …
// WITHSCORES, ZRANGEBYSCORE … LIMIT, PEXPIRE, HINCRBY, MEMORY USAGE) as they
// are. Its TTLs only run down with miniredis.ClockTTL(true), which the demo
// sets.
package demo
