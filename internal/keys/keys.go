// Package keys builds every Redis key this project writes, besides asynq's
// own. Each key of an account carries the account in a {hash tag}, so that
// all of an account's keys live in one Redis Cluster slot and one Lua script
// may touch them together.
package keys

// Prefix starts every key of this project.
const Prefix = "lsqd:"

func account(a string) string { return Prefix + "{" + a + "}:" }

// Ref is the ref registry entry of a notification: its queue while Redis knows it.
func Ref(acct, ref string) string { return account(acct) + "ref:" + ref }

// Slots is the sorted set of granted and booked call times (the sliding window).
func Slots(acct string) string { return account(acct) + "slots" }

// Pending is the sorted set of bulk bookings not yet claimed (stealable by transactional work).
func Pending(acct string) string { return account(acct) + "pending" }

// Cooldown is set, with a TTL, while LeadSquared's rate limit cools down.
func Cooldown(acct string) string { return account(acct) + "cooldown" }

// Adopted holds the lower limit LeadSquared stated for the account (a hash: calls, window_us in microseconds).
func Adopted(acct string) string { return account(acct) + "adopted" }

// Halt is set, with the reason, while the account is halted by a credentials or configuration fault.
func Halt(acct string) string { return account(acct) + "halt" }

// HaltKind is set, with the reason, while one kind of notification ("system"
// or "push") of the account is halted because LeadSquared answers 404 for
// its API path; the other kind keeps flowing. Unlike Halt, the limiter does
// not read it: the handler checks it before booking a slot.
func HaltKind(acct, kind string) string { return account(acct) + "halt:" + kind }

// ProbeKindLock is held by the one process that probes a halted kind's path.
func ProbeKindLock(acct, kind string) string { return account(acct) + "probe:" + kind }

// Parked is a set of the tasks ("queue/task ID") that a halt deferred: of
// one kind ("system", "push") while that kind is halted, or of any kind
// ("account") while the account is; the halt's end brings them back at once.
func Parked(acct, what string) string { return account(acct) + "parked:" + what }

// Daily is a hash of the account's calls per UTC day (field: days since the Unix epoch).
func Daily(acct string) string { return account(acct) + "daily" }

// The dead-letter records (tasks.DeadLetter) share one {hash tag}, so that
// one transaction writes a record and its index entries.
const deadLetters = Prefix + "{dlq}:"

// DeadLetters is a hash: task ID -> the JSON of its tasks.DeadLetter.
const DeadLetters = deadLetters + "records"

// DeadLetterIndex is a sorted set: task ID -> when it was dead-lettered (Unix ms).
const DeadLetterIndex = deadLetters + "index"

// DeadLettersDropped is a sorted set: task ID -> when notifyd found that asynq
// had dropped the task past its archive cap (Unix ms); the record stays.
const DeadLettersDropped = deadLetters + "dropped"

// DeadLetterSweepLock is held by the one process that checks the records
// against asynq's archive.
const DeadLetterSweepLock = deadLetters + "sweep"

// ProbeLock is held by the one process that probes a halted account's keys.
func ProbeLock(acct string) string { return account(acct) + "probe" }

// The dispatch scheduler's keys share the bulk queue's {hash tag} with
// asynq's own keys of that queue ("asynq:{bulk}:…"), so that one Lua script
// may move a task from its group to the pending list in Redis Cluster too.
const dispatch = Prefix + "{bulk}:"

// DispatchDue is the sorted set of accounts with bulk work, scored by when
// (Redis clock, µs) the scheduler may release the account's next task.
const DispatchDue = dispatch + "due"

// DispatchPace is a hash of account -> µs between the account's calls, as
// the notifyd processes configured for it last wrote it.
const DispatchPace = dispatch + "pace"

// DispatchKnown is the set of groups the scheduler tracks.
const DispatchKnown = dispatch + "known"

// DispatchGroupsPrefix starts each account's sorted set of groups scored by
// virtual time (stride scheduling): DispatchGroupsPrefix + account.
const DispatchGroupsPrefix = dispatch + "vt:"

// DispatchWeightPrefix starts each group's weight (a string with a TTL):
// DispatchWeightPrefix + group.
const DispatchWeightPrefix = dispatch + "weight:"

// DispatchWeight holds a group's weight.
func DispatchWeight(group string) string { return DispatchWeightPrefix + group }

// DispatchStopped is the set of groups the scheduler must not release:
// those of a paused or cancelled campaign.
const DispatchStopped = dispatch + "stopped"

// The campaign registry and the event stream share the bulk queue's {hash
// tag} too, so that the scripts that count an outcome, append its event and
// stop a campaign's group run on one Redis Cluster node.

// Campaign is a campaign's hash (state, weight, counts) in an account; the
// campaign's group (tasks.Group) names it.
func Campaign(group string) string { return dispatch + "campaign:" + group }

// CampaignPrefix starts every campaign's hash: CampaignPrefix + group.
const CampaignPrefix = dispatch + "campaign:"

// Campaigns is the sorted set of campaign groups ("account/name") scored by
// when each started (Unix ms).
const Campaigns = dispatch + "campaigns"

// Events is the Redis Stream of events (tasks.Event): every final outcome of
// a notification and every campaign transition.
const Events = dispatch + "events"
