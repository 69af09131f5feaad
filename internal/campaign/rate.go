package campaign

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// Rate is what a campaign gets of its account's limit now.
type Rate struct {
	// AccountPerSecond is the account's pace as the notifyd processes set
	// it (calls a second); 0 when no process has set it yet.
	AccountPerSecond float64
	// Share is the campaign's part of it: its weight over the weights of the
	// account's groups with work waiting, itself included; 0 while paused
	// or ended.
	Share float64
}

// PerSecond is the calls a second the campaign gets.
func (r Rate) PerSecond() float64 { return r.AccountPerSecond * r.Share }

// RateOf reads what rec gets now from the dispatch scheduler's keys.
func (r *Registry) RateOf(ctx context.Context, rec Record) (Rate, error) {
	var out Rate
	pace, err := r.rdb.HGet(ctx, keys.DispatchPace, rec.Account).Int64()
	if err != nil && err != redis.Nil {
		return out, fmt.Errorf("read the pace of account %q: %w", rec.Account, err)
	}
	if pace > 0 {
		out.AccountPerSecond = 1e6 / float64(pace)
	}
	if rec.State != Running {
		return out, nil
	}
	self := tasks.Group(rec.Account, rec.Name)
	groups, err := r.rdb.ZRange(ctx, keys.DispatchGroupsPrefix+rec.Account, 0, -1).Result()
	if err != nil {
		return out, fmt.Errorf("read the groups of account %q: %w", rec.Account, err)
	}
	weights := map[string]int{self: rec.Weight}
	for _, g := range groups {
		if _, ok := weights[g]; !ok {
			weights[g] = 1
		}
	}
	if err := r.readWeights(ctx, weights, self); err != nil {
		return out, err
	}
	sum := 0
	for _, w := range weights {
		sum += w
	}
	out.Share = float64(rec.Weight) / float64(sum)
	return out, nil
}

// readWeights fills the weights of the groups other than self.
func (r *Registry) readWeights(ctx context.Context, weights map[string]int, self string) error {
	cmds := map[string]*redis.StringCmd{}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for g := range weights {
			if g != self {
				cmds[g] = p.Get(ctx, keys.DispatchWeight(g))
			}
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return fmt.Errorf("read the weights of the groups: %w", err)
	}
	for g, c := range cmds {
		if w, err := strconv.Atoi(c.Val()); err == nil && w > 0 {
			weights[g] = w
		}
	}
	return nil
}
