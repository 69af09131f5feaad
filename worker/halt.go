package worker

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// halts tracks accounts halted by a credentials or configuration fault
// (LeadSquared answered 401, 403 or 404). A halted account's tasks are
// deferred, neither burnt through their retries nor archived; one process at
// a time probes the keys, and dispatch resumes by itself once LeadSquared
// accepts them again.
type halts struct {
	rdb      redis.Cmdable
	log      zerolog.Logger
	metrics  *Metrics
	accounts map[string]*Account
	limiter  *Limiter
	interval time.Duration
	// resumed, when set, is told of an account whose halt ended: by this
	// process's probe, or as seen in Redis (another's probe, an operator).
	resumed func(ctx context.Context, account string)

	mu     sync.Mutex
	halted map[string]string // account -> reason, as last seen in Redis
}

// halt marks the account halted; the first process to do so logs the error.
func (h *halts) halt(ctx context.Context, account string, cause error) {
	reason := cause.Error()
	set, err := h.rdb.SetNX(ctx, keys.Halt(account), reason, 0).Result()
	if err != nil {
		h.log.Error().Err(err).Str("account", account).Msg("could not record the account's halt in Redis")
	}
	if set {
		h.log.Error().Str("account", account).Str("reason", reason).Float64("probe_interval_ms", millis(h.interval)).
			Msg("dispatch halted for the account: fix its keys, region or API path; tasks wait, nothing is archived, and dispatch resumes by itself once LeadSquared accepts the keys")
	}
	h.mark(account, reason)
}

// mark records the account's halt as seen in Redis (reason "": none) and
// tells whether that ended a halt this process knew of.
func (h *halts) mark(account, reason string) (ended bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if reason == "" {
		_, was := h.halted[account]
		delete(h.halted, account)
		h.metrics.Halted.WithLabelValues(account).Set(0)
		return was
	}
	h.halted[account] = reason
	h.metrics.Halted.WithLabelValues(account).Set(1)
	return false
}

// ended tells resumed (when set) of an account whose halt ended.
func (h *halts) ended(ctx context.Context, account string) {
	if h.resumed != nil {
		h.resumed(ctx, account)
	}
}

// snapshot returns the halted accounts and their reasons.
func (h *halts) snapshot() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.halted)
}

// run refreshes the halted set from Redis and probes halted accounts every
// interval until ctx is done.
func (h *halts) run(ctx context.Context) {
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

func (h *halts) check(ctx context.Context) {
	for name, acct := range h.accounts {
		reason, err := h.rdb.Get(ctx, keys.Halt(name)).Result()
		if errors.Is(err, redis.Nil) {
			if h.mark(name, "") { // resumed by another process's probe or an operator
				h.ended(ctx, name)
			}
			continue
		}
		if err != nil {
			continue
		}
		h.mark(name, reason)
		h.probe(ctx, acct)
	}
}

// probe checks a halted account's keys; one process per interval does it.
func (h *halts) probe(ctx context.Context, acct *Account) {
	won, err := h.rdb.SetNX(ctx, keys.ProbeLock(acct.Name), "1", h.interval*9/10).Result()
	if err != nil || !won {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	user, err := checkKeys(pctx, h.limiter, acct)
	if err != nil {
		h.log.Warn().Str("account", acct.Name).Err(err).Msg("halted account: LeadSquared still refuses the keys")
		return
	}
	if err := h.rdb.Del(ctx, keys.Halt(acct.Name)).Err(); err != nil {
		return
	}
	h.mark(acct.Name, "")
	h.ended(ctx, acct.Name)
	h.log.Info().Str("account", acct.Name).Str("user", user.Name).Msg("LeadSquared accepts the keys again: dispatch resumed")
}

// checkKeys asks LeadSquared whom the account's keys belong to, in a slot of
// the account's limit: LeadSquared counts key checks like any other call.
func checkKeys(ctx context.Context, l *Limiter, acct *Account) (*leadsquared.User, error) {
	if _, err := l.Wait(ctx, nil, acct.Name, laneKeyCheck, acct.Policy); err != nil {
		return nil, err
	}
	return acct.Sender.CheckKeys(ctx)
}
