package worker

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
)

// retention sets the TTL of the refs of delivered and dead-lettered
// notifications, so that a ref can be used again once Redis forgets its
// task. A handler hands its ref over and returns; one goroutine sends
// whatever has queued up since its last round trip in one pipeline. Under
// load that is one round trip for many deliveries; idle, a ref is sent at
// once, alone.
//
// A TTL lost to a crash or a long Redis outage loses no notification: the
// ref then has no TTL, and once asynq forgets its task the enqueue
// package's registry takes the ref over as stale.
type retention struct {
	rdb redis.Cmdable
	log zerolog.Logger
	in  chan refTTL

	mu     sync.RWMutex // held for reading while sending to in; closing takes it for writing
	closed bool
	once   sync.Once // starts run at the first set
	done   chan struct{}
}

type refTTL struct {
	key, ref string
	ttl      time.Duration
}

// retentionBatch bounds one pipeline (and what waits for it).
const retentionBatch = 256

// retentionTries is how many times a batch is sent before its TTLs are
// given up (with a warning), retentionPause the pause between tries.
const (
	retentionTries = 3
	retentionPause = 500 * time.Millisecond
)

func newRetention(rdb redis.Cmdable, log zerolog.Logger) *retention {
	return &retention{rdb: rdb, log: log, in: make(chan refTTL, retentionBatch), done: make(chan struct{})}
}

// set has the ref expire after ttl. It waits only while a full batch is
// queued. The first call starts the sender; after close, set sends the TTL
// itself.
func (r *retention) set(account, ref string, ttl time.Duration) {
	it := refTTL{key: keys.Ref(account, ref), ref: ref, ttl: ttl}
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		r.send([]refTTL{it})
		return
	}
	r.once.Do(func() { go r.run() })
	r.in <- it
	r.mu.RUnlock()
}

// run sends the queued TTLs in batches until close; it returns once every
// queued TTL is sent.
func (r *retention) run() {
	defer close(r.done)
	batch := make([]refTTL, 0, retentionBatch)
	for it := range r.in {
		batch = append(batch[:0], it)
	fill:
		for len(batch) < retentionBatch {
			select {
			case it, ok := <-r.in:
				if !ok {
					break fill
				}
				batch = append(batch, it)
			default:
				break fill
			}
		}
		r.send(batch)
	}
}

// close stops taking TTLs and waits until the queued ones are sent.
func (r *retention) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	close(r.in)
	r.mu.Unlock()
	r.once.Do(func() { close(r.done) }) // never started: nothing queued
	<-r.done
}

// send sets a batch's TTLs in one pipeline, with a few tries.
func (r *retention) send(batch []refTTL) {
	var err error
	for try := range retentionTries {
		if try > 0 {
			time.Sleep(retentionPause)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, it := range batch {
				p.Expire(ctx, it.key, it.ttl)
			}
			return nil
		})
		cancel()
		if err == nil {
			return
		}
	}
	r.log.Warn().Err(err).Int("refs", len(batch)).Str("ref", batch[0].ref).
		Msg("could not set the refs' retention: each stays registered until its task is gone, then the registry takes it over as stale")
}
