package worker

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// Scheduler names how bulk work reaches the workers.
type Scheduler string

// The schedulers.
const (
	// SchedulerFair releases each account's bulk tasks at the account's pace,
	// shared between its groups by weight (the default).
	SchedulerFair Scheduler = "fair"
	// SchedulerFIFO releases every bulk task at once into one FIFO line, and
	// workers wait for their account's slot however long it takes: the
	// behaviour before the fair scheduler, kept as the benchmarks' baseline.
	SchedulerFIFO Scheduler = "fifo"
)

// asynq's key layout of the bulk queue (asynq v0.26.0, internal/base).
const (
	bulkQueue       = string(tasks.LaneBulk)
	asynqTaskPrefix = "asynq:{" + bulkQueue + "}:t:"
	asynqGroupKeys  = "asynq:{" + bulkQueue + "}:g:"
	asynqGroups     = "asynq:{" + bulkQueue + "}:groups"
	asynqPending    = "asynq:{" + bulkQueue + "}:pending"
)

// dispatcher is the dispatch scheduler: it decides which bulk task a worker
// may take next, from who has budget. Bulk tasks wait in their groups (see
// tasks.Group); each process's dispatcher calls dispatchScript every tick,
// which moves a task to the bulk queue when its account is due, so the
// queue never holds more of an account's work than the account can send
// within the lead. Processes share the due times in Redis, so adding
// processes adds no releases.
type dispatcher struct {
	rdb     redis.Cmdable
	log     zerolog.Logger
	metrics *Metrics
	mode    Scheduler
	// lead is how long before an account's due time its task is released:
	// long enough for a worker to dequeue it, short enough that a worker
	// waits at most about one pace for its slot.
	lead time.Duration
	// batch caps the releases of one tick.
	batch int
	// idle is the longest tick interval: how soon a new group is seen.
	idle time.Duration
	// defaultPace paces an account no process configured.
	defaultPace time.Duration
	// now, when set, replaces Redis's clock (tests only).
	now func() time.Time

	warned sync.Once
}

// Dispatch defaults.
const (
	dispatchLead  = 150 * time.Millisecond
	dispatchBatch = 256
	dispatchIdle  = 100 * time.Millisecond
	dispatchMin   = 20 * time.Millisecond
)

func newDispatcher(rdb redis.Cmdable, log zerolog.Logger, m *Metrics, mode Scheduler) *dispatcher {
	return &dispatcher{rdb: rdb, log: log, metrics: m, mode: mode, lead: dispatchLead,
		batch: dispatchBatch, idle: dispatchIdle, defaultPace: DefaultPolicy.Pace()}
}

// setPace records the account's pace for every process's dispatcher.
func (d *dispatcher) setPace(ctx context.Context, account string, p Policy) error {
	return d.rdb.HSet(ctx, keys.DispatchPace, account, p.Pace().Microseconds()).Err()
}

// run ticks until ctx is done.
func (d *dispatcher) run(ctx context.Context) {
	for {
		next, err := d.tick(ctx)
		if err != nil && ctx.Err() == nil {
			d.warned.Do(func() {
				d.log.Warn().Err(err).Msg("dispatch scheduler: could not release bulk tasks; retrying every second")
			})
			next = time.Second
		}
		// A little jitter keeps the processes' ticks apart.
		next += rand.N(5 * time.Millisecond)
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// tick releases what is due and returns how long to sleep.
func (d *dispatcher) tick(ctx context.Context) (time.Duration, error) {
	since := strconv.FormatInt(time.Now().UnixNano(), 10)
	if d.mode == SchedulerFIFO {
		err := flushScript.Run(ctx, d.rdb, []string{asynqGroups, asynqPending},
			asynqTaskPrefix, asynqGroupKeys, since).Err()
		return d.idle, err
	}
	res, err := dispatchScript.Run(ctx, d.rdb,
		[]string{keys.DispatchDue, keys.DispatchPace, keys.DispatchKnown, asynqGroups, asynqPending, keys.DispatchStopped},
		d.lead.Microseconds(), d.batch, d.defaultPace.Microseconds(),
		asynqTaskPrefix, asynqGroupKeys, keys.DispatchGroupsPrefix, keys.DispatchWeightPrefix, since, d.nowArg()).Slice()
	if err != nil {
		return 0, err
	}
	released, _ := res[0].(int64)
	nextUS, _ := res[1].(int64)
	for _, a := range res[2:] {
		if acct, ok := a.(string); ok {
			d.metrics.Released.WithLabelValues(acct).Inc()
		}
	}
	switch {
	case released >= int64(d.batch):
		return 0, nil
	case nextUS < 0:
		return d.idle, nil
	}
	return min(max(time.Duration(nextUS)*time.Microsecond, dispatchMin), d.idle), nil
}

func (d *dispatcher) nowArg() string {
	if d.now == nil {
		return ""
	}
	return strconv.FormatInt(d.now().UnixMicro(), 10)
}

// hold keeps the account's next release at least wait away: its booking
// waits that long, or it is cooling down, halted or capped. Best effort: a
// release too early only makes a worker wait or hand its task back.
func (d *dispatcher) hold(account string, wait time.Duration) {
	if d == nil || d.mode == SchedulerFIFO || wait <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = holdScript.Run(ctx, d.rdb, []string{keys.DispatchDue}, wait.Microseconds(), account).Err()
}

// wake lets the account's tasks be released now (its halt ended).
func (d *dispatcher) wake(ctx context.Context, account string) {
	if d == nil || d.mode == SchedulerFIFO {
		return
	}
	_ = wakeScript.Run(ctx, d.rdb, []string{keys.DispatchDue}, account).Err()
}

// ReleaseAll moves every bulk task waiting in a group to the bulk queue at
// once, oldest group first, and returns how many it moved: what the FIFO
// scheduler does each tick. It serves a process that drains the bulk queue
// with a plain asynq server instead of notifyd (the benchmarks' baselines),
// whose tasks would otherwise wait in their groups for a scheduler.
func ReleaseAll(ctx context.Context, rdb redis.Cmdable) (int, error) {
	since := strconv.FormatInt(time.Now().UnixNano(), 10)
	return flushScript.Run(ctx, rdb, []string{asynqGroups, asynqPending}, asynqTaskPrefix, asynqGroupKeys, since).Int()
}
