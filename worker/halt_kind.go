package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// kindHalts tracks the kinds of notification halted for an account because
// LeadSquared answers 404 for their API path: a wrong
// LSQ_SYSTEM_NOTIFICATION_PATH (its default is a placeholder) halts system
// notifications only, and push keeps flowing at the full rate. Unlike an
// account's halt (halts), the limiter knows nothing of it: the handler
// checks it, in process, before booking a slot, so a held task takes none.
//
// One process at a time probes a halted kind's path with a call that
// LeadSquared refuses without delivering anything (leadsquared's
// ProbePath: an invalid body, answered 400 on a right path and 404 on a
// wrong one), and dispatch resumes when the path answers. A Sender that
// cannot probe (no ProbePath method) halts the kind for kindHaltBackoff
// instead: then one real call tests the path again. An operator resumes
// either at once with `notifyctl resume ACCOUNT --kind KIND`.
type kindHalts struct {
	rdb      redis.Cmdable
	log      zerolog.Logger
	metrics  *Metrics
	accounts map[string]*Account
	limiter  *Limiter
	interval time.Duration
	// resumed, when set, is told of a kind whose halt this process saw end.
	resumed func(ctx context.Context, account string, kind tasks.Kind)

	mu     sync.Mutex
	halted map[kindKey]string // as last seen in Redis
}

type kindKey struct {
	account string
	kind    tasks.Kind
}

// haltableKinds are the kinds a wrong path halts one by one.
var haltableKinds = []tasks.Kind{tasks.KindSystem, tasks.KindPush}

// kindHaltBackoff is how long a kind stays halted when its Sender cannot
// probe the path: long enough that a wrong path costs a call per process
// every quarter of an hour, not one per task.
const kindHaltBackoff = 15 * time.Minute

// pathProber is a Sender that can test an API path without delivering
// anything; *leadsquared.Client is one.
type pathProber interface {
	ProbePath(ctx context.Context, op string) error
}

var _ pathProber = (*leadsquared.Client)(nil)

// KindHaltedError means one kind of notification of the account is halted:
// LeadSquared answered 404 for its API path.
type KindHaltedError struct {
	Account string
	Kind    tasks.Kind
	Reason  string
}

func (e *KindHaltedError) Error() string {
	return fmt.Sprintf("%s notifications of account %q are halted: %s", e.Kind, e.Account, e.Reason)
}

func newKindHalts(rdb redis.Cmdable, log zerolog.Logger, m *Metrics, accounts map[string]*Account, l *Limiter, interval time.Duration) *kindHalts {
	for name := range accounts {
		for _, k := range haltableKinds {
			m.OperationHalted.WithLabelValues(name, string(k)).Set(0)
		}
	}
	return &kindHalts{rdb: rdb, log: log, metrics: m, accounts: accounts, limiter: l, interval: interval,
		halted: map[kindKey]string{}}
}

// halt halts the kind for the account; the first process to do so logs
// why, once for the halt.
func (h *kindHalts) halt(ctx context.Context, account string, kind tasks.Kind, cause error) {
	reason := cause.Error()
	var ttl time.Duration
	acct := h.accounts[account]
	_, canProbe := acct.Sender.(pathProber)
	if !canProbe {
		ttl = kindHaltBackoff
	}
	set, err := h.rdb.SetNX(ctx, keys.HaltKind(account, string(kind)), reason, ttl).Result()
	if err != nil {
		h.log.Error().Err(err).Str("account", account).Str("kind", string(kind)).Msg("could not record the halt in Redis")
	}
	if set {
		fix := "check LSQ_SYSTEM_NOTIFICATION_PATH against the account's API docs"
		if kind == tasks.KindPush {
			fix = "check the account's region or LSQ_API_BASE_URL"
		}
		resume := "a probe that delivers nothing checks the path every probe_interval_ms and resumes by itself"
		if !canProbe {
			resume = "one call tests the path again after backoff_ms"
		}
		h.log.Error().Str("account", account).Str("kind", string(kind)).Str("reason", reason).
			Float64("probe_interval_ms", millis(h.interval)).Float64("backoff_ms", millis(ttl)).
			Msgf("dispatch of %s notifications halted for the account: LeadSquared answers 404 for their API path (%s); "+
				"the other kind keeps flowing; held tasks wait, nothing is archived; %s, or run notifyctl resume %s --kind %s",
				kind, fix, resume, account, kind)
	}
	h.mark(ctx, account, kind, reason)
}

// held returns the reason the kind is halted for the account. A kind this
// process saw halted is checked in Redis again (a task of it arrives about
// once per probe interval), so that a halt another process or an operator
// ended does not hold the task for another interval.
func (h *kindHalts) held(ctx context.Context, account string, kind tasks.Kind) (string, bool) {
	h.mu.Lock()
	reason, ok := h.halted[kindKey{account, kind}]
	h.mu.Unlock()
	if !ok {
		return "", false
	}
	if err := h.rdb.Get(ctx, keys.HaltKind(account, string(kind))).Err(); errors.Is(err, redis.Nil) {
		h.mark(ctx, account, kind, "")
		return "", false
	}
	return reason, true
}

// mark records the kind's halt as seen (reason "": none); the end of a halt
// this process knew of is logged and told to resumed.
func (h *kindHalts) mark(ctx context.Context, account string, kind tasks.Kind, reason string) {
	if h.set(account, kind, reason) && h.resumed != nil {
		h.resumed(ctx, account, kind)
	}
}

// set updates the halted map and the gauge; it tells whether a halt ended.
func (h *kindHalts) set(account string, kind tasks.Kind, reason string) (ended bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := kindKey{account, kind}
	g := h.metrics.OperationHalted.WithLabelValues(account, string(kind))
	if reason == "" {
		_, was := h.halted[k]
		if was {
			h.log.Info().Str("account", account).Str("kind", string(kind)).
				Msgf("dispatch of %s notifications resumed for the account", kind)
		}
		delete(h.halted, k)
		g.Set(0)
		return was
	}
	h.halted[k] = reason
	g.Set(1)
	return false
}

// snapshot returns the halted kinds: account -> kind -> reason.
func (h *kindHalts) snapshot() map[string]map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]map[string]string{}
	for k, reason := range h.halted {
		if out[k.account] == nil {
			out[k.account] = map[string]string{}
		}
		out[k.account][string(k.kind)] = reason
	}
	return out
}

// run refreshes the halted kinds from Redis and probes them every interval
// until ctx is done.
func (h *kindHalts) run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		h.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *kindHalts) check(ctx context.Context) {
	for name, acct := range h.accounts {
		for _, kind := range haltableKinds {
			reason, err := h.rdb.Get(ctx, keys.HaltKind(name, string(kind))).Result()
			if errors.Is(err, redis.Nil) {
				h.mark(ctx, name, kind, "") // resumed: by a probe, the back-off or an operator
				continue
			}
			if err != nil {
				continue
			}
			h.mark(ctx, name, kind, reason)
			h.probe(ctx, acct, kind)
		}
	}
}

// probe tests a halted kind's path; one process per interval does it.
// Whether the path is still wrong is logged at debug level only: the reason
// was logged once, when the kind halted.
func (h *kindHalts) probe(ctx context.Context, acct *Account, kind tasks.Kind) {
	p, ok := acct.Sender.(pathProber)
	if !ok {
		return // the halt's TTL ends it
	}
	won, err := h.rdb.SetNX(ctx, keys.ProbeKindLock(acct.Name, string(kind)), "1", h.interval*9/10).Result()
	if err != nil || !won {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// LeadSquared counts the probe like any call: it takes a slot.
	if _, err := h.limiter.Wait(pctx, nil, acct.Name, laneKeyCheck, acct.Policy); err != nil {
		return
	}
	if err := p.ProbePath(pctx, string(kind)); err != nil {
		h.log.Debug().Str("account", acct.Name).Str("kind", string(kind)).Err(err).Msg("halted kind: its path still fails")
		return
	}
	if err := h.rdb.Del(ctx, keys.HaltKind(acct.Name, string(kind))).Err(); err != nil {
		return
	}
	h.log.Info().Str("account", acct.Name).Str("kind", string(kind)).
		Msgf("LeadSquared answers the %s notification path again", kind)
	h.mark(ctx, acct.Name, kind, "")
}
