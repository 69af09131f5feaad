// Package sandbox is a strict, faithful local LeadSquared: the two
// notification APIs and the key check, with LeadSquared's rate limit, its
// answers and injectable faults. The demo, the end-to-end tests and the
// benchmarks run it in process; cmd/lsq-sandbox serves it on a port, and
// leadsquared/leadsquaredtest wraps it for importers' tests.
//
// # Paths
//
//   - POST leadsquared.PushPath: a push browser notification.
//   - POST Config.SystemPath (default leadsquared.DefaultSystemNotificationPath):
//     a Converse system notification.
//   - GET leadsquared.KeyCheckPath: the key check; answers the keys' user
//     (Role "Administrator", LSQCommonServiceURLs {"api": the request's host}).
//   - GET /_sandbox/stats, GET /_sandbox/calls (?since=RFC3339Nano, ?after=Seq,
//     ?limit=N), GET and POST /_sandbox/faults, POST /_sandbox/reset: the
//     sandbox's own control paths, without keys.
//
// Other paths answer 404, other methods 405, both with LeadSquared's error
// body. Paths match exactly, case included.
//
// # Answers
//
// Success, as LeadSquared documents it:
//
//	system:   {"MessageID":"<uuid>_<unix ms>","Success":true}
//	push:     {"Status":"Success","Message":{"Message":"Message broadcasted successfully"}}
//
// Errors carry LeadSquared's body, {"Status":"Error","ExceptionType":…,
// "ExceptionMessage":…}, except the outage's 503, which is a load balancer's
// HTML page:
//
//	401 MXUnAuthorizedAccessException   keys missing, wrong, or in the query string
//	400 MXInvalidInputException          "<Field>: <reason>; …" naming every field
//	413 MXInvalidInputException          a body over MaxBodyBytes
//	429 MXAPIRateLimitExceededException  "API calls exceeded the limit of 25 in 5 second(s)"
//	429 MXAPIRateLimitExceededException  "API calls exceeded the daily limit of N calls; …"
//	500 System.Exception                 an injected error
//
// With Config.LimitAs200 the rate-limit bodies come with HTTP 200 instead.
//
// # Order of checks
//
// A call to an API path goes through these steps, and the first that
// refuses it answers:
//
//  1. route and method (404, 405);
//  2. Faults.Outage (503): the whole API is down, keys are not even read;
//  3. authentication (401), from the x-LSQ-AccessKey and x-LSQ-SecretKey
//     headers only: LeadSquared must know the account before it can apply the
//     account's limit;
//  4. Faults.Burst429, then the daily cap, then the window (429);
//  5. the body (400, 413): Content-Type application/json, strict JSON
//     (exact, case-sensitive names; unknown or repeated fields refused; value
//     types checked), then leadsquared's Validate;
//  6. for a valid notification: Faults.Scripts for its ref, then one random
//     draw against TimeoutRate, ErrorRate, SlowRate and NonJSONRate (a
//     delivered call answered 200 with an HTML body, as a proxy that
//     rewrites bodies would);
//  7. success.
//
// Every call that passes step 4 counts against its key's window and daily
// cap: LeadSquared counts the calls that reach its API, so a 400, a 500 and a
// call that is never answered spend the budget like a success. Calls refused
// at steps 1 to 4 do not count, so that a client which keeps calling while
// limited is not locked out for ever. Key checks are counted too, but faults
// of step 6 do not apply to them.
//
// Real LeadSquared (WCF) probably ignores unknown JSON fields and may accept
// wrongly cased names; the sandbox refuses them on purpose, so that a body the
// real API would misread fails in tests instead.
//
// # The window
//
// At most Config.Limit calls per access key reach the API in any sliding
// Config.Window: a call arriving at t is refused when Limit calls counted in
// (t-Window, t] already. The 25th call in 5 s is accepted, the 26th refused,
// and a call exactly Window after the first is accepted again. Each key keeps
// only the arrival times still inside its window.
//
// # Time
//
// Config.Now and Config.Sleep are injectable, so that tests check the
// window's edges, the daily cap's rollover at 00:00 UTC and slow answers
// without sleeping. Latency and slow faults delay the answer after the call
// was processed: a client that gives up meanwhile has had its notification
// delivered all the same (Call.Abandoned), as with the real API.
//
// # Shutting down
//
// A call held by Faults.TimeoutRate never ends by itself, and http.Server's
// Shutdown and httptest.Server's Close wait for it. Call Server.Close first:
// it aborts held calls without an answer and cuts delays short.
package sandbox
