package sandbox

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// Call kinds, as Call.Kind names them.
const (
	KindSystem   = "system"
	KindPush     = "push"
	KindKeyCheck = "keycheck"
)

// Fault names, as Call.Fault names them.
const (
	FaultOutage   = "outage"
	FaultBurst429 = "burst429"
	FaultScript   = "script"
	FaultError    = "error"
	FaultSlow     = "slow"
	FaultTimeout  = "timeout"
	FaultNonJSON  = "non_json"
)

// Call is one call to an API path, as the sandbox recorded it. It never
// holds a key.
type Call struct {
	// Seq numbers the calls from 1 in the order they were recorded; Reset
	// does not restart it.
	Seq uint64
	// Time is the call's arrival, by Config.Now.
	Time time.Time
	// Path is the request's path, without its query.
	Path string
	// Kind is KindSystem, KindPush, KindKeyCheck, or "" for other paths.
	Kind string
	// Status is the HTTP status answered, or 0 for a call held until its
	// client left (Faults.TimeoutRate).
	Status int
	// Accepted is true when LeadSquared would have delivered the
	// notification: a system or push call answered with success, or held
	// by TimeoutRate (delivered, never answered). Key checks never are.
	Accepted bool
	// Counted is true when the call counted against the rate limit: it
	// passed authentication and the limiter.
	Counted bool
	// Abandoned is true when the client left before the answer was written.
	Abandoned bool
	// Ref is the notification's ref (see Script), or ""; a call refused
	// before its body is read (404, 401, 429) has its X-Request-ID.
	Ref string
	// User is the recipient: ToUser, or UserId, or, for a push without
	// one, the keys' owner.
	User string
	// KeyID is the first 8 hex digits of the access key's SHA-256, or "".
	KeyID string
	// MessageID is the id a system call was answered with.
	MessageID string `json:",omitempty"`
	// Latency is the delay added before the answer (Config.Latency plus a
	// slow fault's delay), or how long a held call was held.
	Latency time.Duration
	// Exception is the ExceptionType of an error answer.
	Exception string `json:",omitempty"`
	// Fault names the fault that decided the answer (FaultOutage, ...).
	Fault string `json:",omitempty"`
}

// Stats sums up the calls since the start or the last Reset.
type Stats struct {
	// Total counts the calls to the API paths.
	Total int
	// Accepted counts the notifications delivered (see Call.Accepted).
	Accepted int
	// Counted counts the calls that counted against the rate limit.
	Counted int
	// RateLimited counts the answers carrying
	// MXAPIRateLimitExceededException, whatever their HTTP status.
	RateLimited int
	// Faulted counts the calls a fault decided.
	Faulted int
	// Abandoned counts the calls whose client left before the answer.
	Abandoned int
	// Held is how many calls are held unanswered right now
	// (Faults.TimeoutRate).
	Held int
	// ByStatus counts the answers by HTTP status (0: held, never answered).
	ByStatus map[int]int
	// MaxInWindow is the most counted calls any one access key had in a
	// sliding Window, measured at each arrival. With a limit it never
	// exceeds Limit; without one it is the client's own peak.
	MaxInWindow int
	// Window, Limit (-1: none) and DailyCap (0: none) are the server's.
	Window   time.Duration
	Limit    int
	DailyCap int
	// PerRef counts the notifications delivered per ref.
	PerRef map[string]int
	// DuplicateRefs lists, sorted, the refs delivered more than once.
	DuplicateRefs []string
	// FirstAccepted and LastAccepted are the arrivals of the first and last
	// delivered notifications (zero when none).
	FirstAccepted, LastAccepted time.Time
}

// recorder keeps the latest calls in a ring and the running sums, under one
// short lock.
type recorder struct {
	max int // ring capacity; <=0: keep no calls

	mu    sync.Mutex
	seq   uint64
	calls []Call // grows to max, then wraps at next
	next  int
	stats Stats
	dups  []string
}

func newRecorder(max int) *recorder {
	r := &recorder{max: max}
	r.resetLocked()
	return r
}

func (r *recorder) resetLocked() {
	r.calls, r.next, r.dups = nil, 0, nil
	r.stats = Stats{ByStatus: make(map[int]int), PerRef: make(map[string]int)}
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resetLocked()
}

// record numbers c, adds it to the sums and keeps it.
func (r *recorder) record(c *Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	c.Seq = r.seq
	st := &r.stats
	st.Total++
	st.ByStatus[c.Status]++
	if c.Counted {
		st.Counted++
	}
	if c.Exception == leadsquared.RateLimitExceptionType {
		st.RateLimited++
	}
	if c.Fault != "" {
		st.Faulted++
	}
	if c.Abandoned {
		st.Abandoned++
	}
	if c.Accepted {
		st.Accepted++
		if st.FirstAccepted.IsZero() || c.Time.Before(st.FirstAccepted) {
			st.FirstAccepted = c.Time
		}
		if c.Time.After(st.LastAccepted) {
			st.LastAccepted = c.Time
		}
		if c.Ref != "" {
			st.PerRef[c.Ref]++
			if st.PerRef[c.Ref] == 2 {
				r.dups = append(r.dups, c.Ref)
			}
		}
	}
	switch {
	case r.max <= 0:
	case len(r.calls) < r.max:
		r.calls = append(r.calls, *c)
	default:
		r.calls[r.next] = *c
		r.next = (r.next + 1) % r.max
	}
}

// snapshot returns a copy of the sums.
func (r *recorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.ByStatus = maps.Clone(r.stats.ByStatus)
	st.PerRef = maps.Clone(r.stats.PerRef)
	st.DuplicateRefs = append([]string{}, r.dups...) // [] rather than null in JSON
	slices.Sort(st.DuplicateRefs)
	return st
}

// list returns the kept calls, oldest first.
func (r *recorder) list() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Call, 0, len(r.calls))
	out = append(out, r.calls[r.next:]...)
	return append(out, r.calls[:r.next]...)
}
