// Package enqueue is the producer side of lsqdispatch: any Go service imports
// it to enqueue LeadSquared notifications into Redis, where notifyd workers
// deliver them under the account's rate limit. It imports no worker, UI or
// metrics code: only tasks, leadsquared, asynq and go-redis.
//
// # Connecting
//
//	c, err := enqueue.New(ctx, os.Getenv("REDIS_URL")) // redis://[user:password@]host:port/db or rediss://…
//	defer c.Close()
//
// NewFromOptions takes go-redis options instead, for Sentinel and Cluster.
// Both ping Redis and fail with an error that says what to fix. Errors never
// show a Redis password.
//
// # Sending
//
//	res, err := c.SendSystem(ctx, leadsquared.SystemNotification{…}, enqueue.WithRef("lead-42"))
//	res, err := c.SendPush(ctx, leadsquared.PushNotification{…}, enqueue.Bulk(), enqueue.In(time.Hour))
//
// There is one method per kind, rather than one Send taking a union of both
// bodies, so that the compiler checks that a body goes with its kind.
//
// Options: WithRef (default: a random UUID), WithAccount (default
// tasks.DefaultAccount), Bulk (default: the transactional lane), At or In
// (default: now), WithCampaign.
//
// Before Redis is touched, the body is checked against LeadSquared's rules,
// the ref (1 to 200 characters, no control characters) and the account
// (1 to 64 of A-Z a-z 0-9 _ . -); invalid input returns a
// *leadsquared.ValidationError naming every problem. A system
// notification's ref goes into ExternalSource.ExternalReferenceId (with
// InvocationSource "lsqdispatch") unless the body has one.
//
// Every Redis error is returned, wrapped with what was being done.
//
// # Refs and idempotency
//
// A ref is unique per account, across both kinds and both lanes, while Redis
// knows it. Each ref has a registry entry, lsqd:{account}:ref:<ref>, whose
// value is the queue of its task; the task's asynq ID is
// tasks.TaskID(account, ref). A send:
//
//  1. claims the entry with SET NX and a short lease (a TTL of one minute);
//  2. if the entry exists, the send is a duplicate: nothing is enqueued and
//     Result says Duplicate, with the state of the existing task. An entry
//     is stale, and is taken over, when its task is gone from its queue
//     (deleted from a UI, say) and the entry has no TTL;
//  3. enqueues the task; asynq's task ID conflict also counts as a duplicate;
//  4. confirms the entry: drops the lease, so the entry lasts while the task
//     lives. If the enqueue fails, the claim is deleted (or, if Redis is
//     down, ends with its lease), so no ghost blocks the ref.
//
// The lease is what keeps step 2 safe: an entry being claimed has a TTL, so
// no other producer can mistake it for stale in the moment between claim and
// enqueue, and a producer that dies in that moment frees the ref within a
// minute. Result.State is StateEnqueuing for such an entry.
//
// When a worker delivers a notification, it sets a TTL of
// tasks.DefaultRetention (24 hours) on the entry, and asynq keeps the
// completed task (and its result, LeadSquared's MessageID) for the same
// retention; when it dead-letters one, it sets tasks.ArchivedRetention (90
// days, as long as asynq keeps archived tasks). Until the TTL ends a send of
// the same ref is a duplicate (state completed or archived, even if the task
// was deleted from asynq meanwhile); after it, the ref may be used again.
// Cancel, PurgeDeadLetters and PurgeAllDeadLetters delete the entry at once;
// ReplayDeadLetters makes it permanent again.
//
// # Campaigns
//
// Campaign enqueues JSON Lines, one notification a line, to the bulk lane:
//
//	{"type":"system","ref":"lead-42","body":{"Type":"Lead","ToUser":"…","CardContents":{"Message":"…"}}}
//	{"type":"push","ref":"sig-7","account":"eu","at":"2026-01-02T15:04:05Z","body":{"Title":"…","Content":"…"}}
//
// Field names are exact and case-sensitive, in the body too ("message" for
// "Message" is an error naming the field), unknown fields are errors, and
// each problem is reported as "line N: field: reason". The input is read
// once, in bounded memory: pass 1 checks every line and spools the valid
// ones to a temp file; if any is invalid (and SkipInvalid is false), nothing
// is enqueued and the error wraps ErrInvalidCampaign. Pass 2 claims each
// batch's refs in one pipeline and enqueues the batch with concurrent
// goroutines, whose asynq calls are gathered into pipelines too. A ref seen
// twice, in the file or in Redis, is counted as a duplicate.
//
// # Events
//
// notifyd appends an event (tasks.Event) to one Redis Stream as each
// notification reaches its outcome (delivered, dead_lettered, expired,
// cancelled) and as each campaign starts, pauses, resumes, is cancelled or
// completes. A service reads them as a reader of a Redis consumer group of
// its own, at least once, acknowledging each once handled:
//
//	r, err := c.EventReader(enqueue.EventReaderConfig{Group: "crm-sync"})
//	for ctx.Err() == nil {
//		evs, err := r.Read(ctx) // waits up to Block (1s) for new events
//		…                       // handle evs
//		err = r.Ack(ctx, ids...)
//	}
//
// The group gets every event once, from the oldest in the stream (FromNow:
// from its creation on), shared between its readers: run one reader per
// process, each with its own Consumer name. An event a reader does not
// acknowledge within ClaimIdle (1m), because its process died, say, goes
// to another reader of the group; a reader that restarts under the same
// name first gets back what it had not acknowledged. Handle events
// idempotently (the event's ID is unique): at least once means an event
// may come twice. The stream keeps about the last million events
// (NOTIFYD_EVENTS_MAXLEN); a group that falls further behind misses the
// oldest.
//
// Inspector.Events reads the stream without a group, changing nothing,
// and follows it on request: notifyctl events uses it.
//
// # Client and Inspector
//
// A Client enqueues and tells what became of a notification it sent:
// Status reports its state, attempts, last error and MessageID, and
// EventReader streams the outcomes. That is all a service that sends
// notifications needs, and all it sees.
//
// Control lives apart, in an Inspector, as asynq keeps its Client and
// Inspector apart: operators' tools (notifyctl) and the control verbs to
// come use it.
//
//	insp, err := enqueue.NewInspector(ctx, os.Getenv("REDIS_URL")) // or NewInspectorFromOptions
//	defer insp.Close()
//
// Cancel drops a notification not yet sent; Stats reports the lanes' queues
// and halted accounts; DeadLetters, ReplayDeadLetters and PurgeDeadLetters
// (and their All variants) manage archived tasks. Status stays with the
// Client: it reads, changes nothing, and answers the producer's own question
// (was my notification delivered?).
//
// asynq's Inspector takes no context: Status and the Inspector's methods
// return when ctx ends, but a call to Redis left running ends by itself
// within go-redis's timeouts, and a change it makes may still happen.
//
// # Tests
//
// Package enqueuetest gives importers' tests a Client backed by miniredis
// (and an Inspector on it) and helpers such as RequireEnqueued.
package enqueue
