package enqueue

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// Stats is a snapshot of the queues and of halted accounts.
type Stats struct {
	// Queues holds one entry per lane (transactional, then bulk), then any
	// other asynq queue found in the same Redis.
	Queues []QueueStats
	// Halted lists the accounts notifyd halted, by account name.
	Halted []HaltedAccount
	// HaltedKinds lists the kinds of notification notifyd halted one by
	// one (LeadSquared answers 404 for their path), by account, then kind.
	HaltedKinds []HaltedKind
	// At is when the snapshot was taken.
	At time.Time
}

// QueueStats is one queue's snapshot.
type QueueStats struct {
	Queue string
	// Size is Pending+Active+Scheduled+Retry+Archived.
	Size int
	// Pending counts the tasks waiting for a worker, bulk tasks still in
	// their group (asynq's "aggregating", waiting for their account's turn)
	// included.
	Pending                                       int
	Active, Scheduled, Retry, Archived, Completed int
	// Processed and Failed count today's (UTC) attempts; Processed includes Failed.
	Processed, Failed int
	// Latency is the age of the oldest pending task.
	Latency time.Duration
	// Paused is true while the queue is paused.
	Paused bool
}

// HaltedAccount is an account whose deliveries notifyd halted after a
// credentials or configuration fault (key lsqd:{account}:halt).
type HaltedAccount struct {
	Account, Reason string
}

// HaltedKind is one kind of notification ("system" or "push") whose
// deliveries notifyd halted for an account because LeadSquared answers 404
// for its API path (key lsqd:{account}:halt:kind); the account's other kind
// flows.
type HaltedKind struct {
	Account string
	Kind    tasks.Kind
	Reason  string
}

// Stats returns the sizes of the lanes' queues by state, today's processed
// and failed counts, latency, and the halted accounts.
func (c *Inspector) Stats(ctx context.Context) (Stats, error) {
	st := Stats{At: now()}
	names, err := inspect(ctx, c.inspector.Queues)
	if err != nil {
		return st, fmt.Errorf("enqueue: stats: list queues: %w", err)
	}
	lanes := []string{string(tasks.LaneTransactional), string(tasks.LaneBulk)}
	for _, n := range names {
		if !slices.Contains(lanes, n) {
			lanes = append(lanes, n)
		}
	}
	for _, q := range lanes {
		qs := QueueStats{Queue: q}
		if slices.Contains(names, q) {
			info, err := inspect(ctx, func() (*asynq.QueueInfo, error) { return c.inspector.GetQueueInfo(q) })
			if err != nil {
				return st, fmt.Errorf("enqueue: stats of queue %s: %w", q, err)
			}
			qs = QueueStats{Queue: q, Size: info.Size, Pending: info.Pending + info.Aggregating, Active: info.Active,
				Scheduled: info.Scheduled, Retry: info.Retry, Archived: info.Archived,
				Completed: info.Completed, Processed: info.Processed, Failed: info.Failed,
				Latency: info.Latency, Paused: info.Paused}
		}
		st.Queues = append(st.Queues, qs)
	}
	if st.Halted, st.HaltedKinds, err = c.halted(ctx); err != nil {
		return st, fmt.Errorf("enqueue: stats: halted accounts: %w", err)
	}
	return st, nil
}

// haltPattern matches keys.Halt and keys.HaltKind of every account.
var haltPattern = keys.Prefix + "{*}:halt*"

// halted scans for halt keys, on every master of a Cluster.
func (c *Inspector) halted(ctx context.Context) ([]HaltedAccount, []HaltedKind, error) {
	var mu sync.Mutex
	var out []HaltedAccount
	var kinds []HaltedKind
	scan := func(ctx context.Context, r redis.UniversalClient) error {
		it := r.Scan(ctx, 0, haltPattern, 1000).Iterator()
		var found []string
		for it.Next(ctx) {
			found = append(found, it.Val())
		}
		if err := it.Err(); err != nil {
			return err
		}
		for _, key := range found {
			reason, err := r.Get(ctx, key).Result()
			if err == redis.Nil {
				continue // lifted meanwhile
			}
			if err != nil {
				return err
			}
			acct, rest, _ := strings.Cut(strings.TrimPrefix(key, keys.Prefix+"{"), "}:halt")
			kind := tasks.Kind(strings.TrimPrefix(rest, ":"))
			mu.Lock()
			switch {
			case keys.Halt(acct) == key:
				out = append(out, HaltedAccount{Account: acct, Reason: reason})
			case keys.HaltKind(acct, string(kind)) == key && (kind == tasks.KindSystem || kind == tasks.KindPush):
				kinds = append(kinds, HaltedKind{Account: acct, Kind: kind, Reason: reason})
			}
			mu.Unlock()
		}
		return nil
	}
	var err error
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return scan(ctx, m) })
	} else {
		err = scan(ctx, c.rdb)
	}
	slices.SortFunc(out, func(a, b HaltedAccount) int { return strings.Compare(a.Account, b.Account) })
	slices.SortFunc(kinds, func(a, b HaltedKind) int {
		return cmp.Or(strings.Compare(a.Account, b.Account), strings.Compare(string(a.Kind), string(b.Kind)))
	})
	return out, kinds, err
}

// Resume lifts notifyd's halts of the account: with kind "", the account's
// own halt (a credentials fault) and the halt of each kind; with "system"
// or "push", that kind's halt only. Each notifyd process resumes at its next
// check (within its probe interval, 30 s). It returns what it lifted, with
// the reasons; nothing lifted is not an error.
func (c *Inspector) Resume(ctx context.Context, account string, kind tasks.Kind) (Stats, error) {
	var lifted Stats
	if r := checkAccount(account); r != "" {
		return lifted, fmt.Errorf("enqueue: resume: account: %s", r)
	}
	kinds := []tasks.Kind{tasks.KindSystem, tasks.KindPush}
	switch kind {
	case "":
		reason, err := c.getDel(ctx, keys.Halt(account))
		if err != nil && err != redis.Nil {
			return lifted, fmt.Errorf("enqueue: resume account %q: %w", account, err)
		}
		if err == nil {
			lifted.Halted = append(lifted.Halted, HaltedAccount{Account: account, Reason: reason})
		}
	case tasks.KindSystem, tasks.KindPush:
		kinds = []tasks.Kind{kind}
	default:
		return lifted, fmt.Errorf("enqueue: resume: kind %q is not %q or %q", kind, tasks.KindSystem, tasks.KindPush)
	}
	for _, k := range kinds {
		reason, err := c.getDel(ctx, keys.HaltKind(account, string(k)))
		if err != nil && err != redis.Nil {
			return lifted, fmt.Errorf("enqueue: resume %s notifications of account %q: %w", k, account, err)
		}
		if err == nil {
			lifted.HaltedKinds = append(lifted.HaltedKinds, HaltedKind{Account: account, Kind: k, Reason: reason})
		}
	}
	return lifted, nil
}

// getDel reads and deletes a key in one transaction (GETDEL needs Redis 6.2).
func (c *Inspector) getDel(ctx context.Context, key string) (string, error) {
	var get *redis.StringCmd
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		p.Del(ctx, key)
		return nil
	})
	if err != nil && err != redis.Nil {
		return "", err
	}
	return get.Result()
}
