// Package worker delivers notification tasks to LeadSquared under one global
// rate limit per account, shared by every worker of every notifyd process
// that uses the same Redis.
//
// # The limit
//
// [Limiter] books each call's slot in Redis with one Lua script, on Redis's
// clock: slots at least (window + margin)/calls apart ([Policy.Pace]), so
// that no span of window plus margin ever holds more than Rate.Calls calls
// and calls never burst. A booking takes the earliest gap, so a slot given
// back (a stop, a late claim, a task's deadline) goes to the next booking. A
// transactional task takes the earliest slot booked by bulk work. A worker
// sleeps until its slot, but never longer than one span: a slot further
// away (a cool-down, a long line of bookings) is not booked, and the task is
// handed back ([BusyError]) without spending a retry. Only calls made count
// toward the daily cap.
//
// # Scheduling
//
// The worker does not take a task and then wait for its account: the
// dispatch scheduler decides what a worker may take, from who has budget.
// A bulk task waits in its group, one per account and campaign
// (tasks.Group), in asynq's own aggregating state, so asynqmon shows it.
// Every process runs the scheduler; each tick one Lua script releases, for
// every account whose turn has come, one task of the account's next group
// to the bulk queue, and moves the account's turn on by its pace. So the
// bulk queue holds at most about one pace of each account's work: an
// account's 100k backlog holds no other account back, the workers needed
// depend on the calls per second, not on how many accounts have a backlog,
// and processes share the turns in Redis, so more processes release no
// more. Within an account the groups take turns by stride scheduling: each
// group's virtual time moves on by 1/weight at each release and the lowest
// goes next, so running campaigns share the account's rate by weight
// (default equal), a new campaign starts at once, and bulk sends of no
// campaign are one more group. A worker whose booking must wait (a
// transactional send took the slot, a cool-down, a halt, the daily cap)
// holds the account's next turn as long, and one that gives a booking back
// on a stop brings the turn forward, so the gap is filled.
//
// A released task leaves its group for good: a retry or a hand-back goes to
// the bulk queue when due, as does a bulk task scheduled for later (asynq
// puts no scheduled task in a group). Transactional work has its own queue,
// taken first. [SchedulerFIFO] keeps the old single line (every bulk task
// released at once, workers waiting however long) as the benchmarks'
// baseline.
//
// # Campaigns
//
// A paused or cancelled campaign's group is in the scheduler's stopped set
// (internal/campaign changes it, with the campaign's state, in one script),
// so no tick releases its tasks. A worker also reads the campaign's state,
// at most 250 ms old, before it books a slot and again before the call: a
// paused campaign's task goes back for a second without spending a retry
// (and gives the account's turn to its other groups), a cancelled one's
// completes without a call, recorded cancelled, its ref freed. Every final
// outcome is counted in its campaign and appended to the event stream
// (internal/events) in one script.
//
// # Failures
//
//   - 429, or a rate-limit exception in any answer: an account-wide cool-down
//     every process honours; the task is deferred without counting a failure,
//     and a lower limit LeadSquared states is adopted.
//   - 5xx, timeouts and connection errors: retried with exponential backoff
//     and jitter (Backoff), honouring Retry-After; archived when retries run out.
//   - 400 or a body that fails validation: archived after exactly one call,
//     with LeadSquared's answer as the reason.
//   - 401, 403: the account halts; its tasks wait without failing; a probe
//     resumes dispatch once LeadSquared accepts the keys again.
//   - 404 for a notification: only that kind halts (a wrong system
//     notification path stops system notifications, push keeps the whole
//     limit); held tasks wait without a slot or a failure; a probe that
//     delivers nothing (an invalid body: 400 on a right path, 404 on a wrong
//     one) resumes it, or `notifyctl resume ACCOUNT --kind KIND`.
//   - a halt's end: the tasks it deferred (for one probe interval each) are
//     parked in Redis and go back to their queues at once.
//   - a process killed (kill -9): its tasks' asynq lease (30 s) runs out and
//     asynq's recoverer, which runs every minute and takes tasks whose lease
//     ended 30 s ago, hands them back 60 s to 2 min after the kill, with
//     their retries whole; its bookings free their slots within one span.
//   - an undecodable payload: archived, never a crash loop.
//   - a Redis failover (Sentinel): Redis replicates asynchronously, so the
//     bookings written to the old master last may be lost, and the new
//     master would grant slots already used in the window. A process whose
//     client reaches another Redis server (a new connection's remote
//     address; a dial, so nothing per call) grants nothing for one span
//     from then, and logs it. Every booking lost was made before the
//     change, so no window exceeds the limit; the cost is one span without
//     calls. A Cluster's nodes are not watched, nor a change hidden behind
//     one address (a proxy).
//
// # Testing
//
// Package workertest runs a Server on an embedded Redis against a local
// LeadSquared (leadsquaredtest), so that a test can enqueue a notification
// and wait for its delivery or dead letter end to end.
package worker
