package worker

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// A Sentinel failover (or a DNS name moved to another server) may lose
// the limiter's last bookings: Redis replicates asynchronously, and
// what the workers wrote to the old master after the promotion, until their
// clients saw the switch, is gone. The new master then grants slots that
// were already used in the sliding window. So after the server changes, the
// limiter grants nothing for one span: every booking lost was made before
// the change, so no window can then hold more than the limit.
//
// The change is seen on the client's connections: go-redis dials a new
// connection whenever the old ones fail or its Sentinels name a new master,
// and that dial happens before any command reaches the new server. Comparing
// the remote addresses costs nothing per command and needs no permission
// (INFO's run_id would need @dangerous, which the least-privileged ACL user
// lacks). A change behind one address (a TCP proxy) goes unseen; a name
// with several addresses for one server pauses when the dials alternate.

// serverWatch is a go-redis hook that tells its limiter when a new
// connection reaches another server than the previous ones.
type serverWatch struct {
	l    *Limiter
	mu   sync.Mutex
	addr string // the server the last connection reached ("" before the first)
}

// watchServer makes the limiter notice a change of the Redis server behind
// rdb (see serverWatch). Only clients with one server at a time (a single
// server, a Sentinel failover client) are watched: a Cluster client's nodes
// dial with their own hooks. go-redis does not synchronise AddHook with
// commands in flight, so call it before rdb is in use.
func (l *Limiter) watchServer(rdb redis.UniversalClient) {
	if c, ok := rdb.(*redis.Client); ok {
		c.AddHook(&serverWatch{l: l})
	}
}

// DialHook implements redis.Hook: it records the server each new
// connection reached.
func (w *serverWatch) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		cn, err := next(ctx, network, addr)
		if err == nil && cn.RemoteAddr() != nil {
			w.reached(cn.RemoteAddr().String())
		}
		return cn, err
	}
}

// ProcessHook implements redis.Hook; commands pass untouched.
func (w *serverWatch) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

// ProcessPipelineHook implements redis.Hook; pipelines pass untouched.
func (w *serverWatch) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (w *serverWatch) reached(addr string) {
	w.mu.Lock()
	from := w.addr
	w.addr = addr
	w.mu.Unlock()
	if from != "" && from != addr {
		w.l.serverChanged(from, addr)
	}
}

// serverChanged starts the limiter's pause after a change of Redis server.
func (l *Limiter) serverChanged(from, to string) {
	at := l.clock()
	l.switched.Store(&at)
	if l.onSwitch != nil {
		l.onSwitch(from, to)
	}
}

// switchPause is how much longer the limiter grants nothing after the last
// change of Redis server: one span of the policy from the change.
func (l *Limiter) switchPause(p Policy) time.Duration {
	at := l.switched.Load()
	if at == nil {
		return 0
	}
	return at.Add(p.Span()).Sub(l.clock())
}

// holdAfterSwitch sleeps out the pause after a change of Redis server, if
// one is running; the dispatch scheduler holds the account's bulk turn as
// long, as for a booking that must wait.
func (l *Limiter) holdAfterSwitch(ctx context.Context, stop <-chan struct{}, account string, lane tasks.Lane, p Policy) error {
	d := l.switchPause(p)
	if d <= 0 {
		return nil
	}
	bulk := lane == tasks.LaneBulk
	if bulk && l.booked != nil {
		l.booked(account, d)
	}
	if err := l.sleep(ctx, stop, d); err != nil {
		if bulk && l.freed != nil {
			l.freed(account)
		}
		return err
	}
	return nil
}

// clock is this host's clock, or the test's.
func (l *Limiter) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}
