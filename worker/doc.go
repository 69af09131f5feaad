// Package worker delivers notification tasks to LeadSquared under one global
// rate limit per account, shared by every worker of every notifyd process
// that uses the same Redis.
//
// # The limit
//
// [Limiter] books each call's slot in Redis with one Lua script: an exact
// sliding window of Rate.Calls per Rate.Window plus a safety margin, on Redis's
// clock. Slots are paced window/calls apart, so calls never burst; a
// transactional task takes the earliest slot booked by bulk work. A worker
// sleeps until its slot: waiting spends no retry budget and causes no
// re-enqueue churn.
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
//   - an undecodable payload: archived, never a crash loop.
package worker
