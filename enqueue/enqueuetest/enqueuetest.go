// Package enqueuetest helps the tests of programs that enqueue
// notifications: a Client on an embedded Redis (miniredis) and assertions on
// what was enqueued, in the manner of httptest.
//
// miniredis runs asynq's Lua scripts (through gopher-lua), so sending,
// duplicates, scheduling, campaigns and Status, and an Inspector's Cancel,
// Stats and dead letter calls (NewInspector), all work on it. It is no worker: nothing is delivered, and a
// task stays pending (or scheduled) until the test moves it, e.g. with an
// asynq.Inspector on the same miniredis. Its TTLs follow the wall clock.
package enqueuetest

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// NewClient returns a Client on a new miniredis, and the miniredis; both
// close when the test ends.
func NewClient(tb testing.TB) (*enqueue.Client, *miniredis.Miniredis) {
	tb.Helper()
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	if err := m.Start(); err != nil {
		tb.Fatalf("enqueuetest: start miniredis: %v", err)
	}
	tb.Cleanup(m.Close)
	c, err := enqueue.New(tb.Context(), "redis://"+m.Addr()+"/0")
	if err != nil {
		tb.Fatalf("enqueuetest: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c, m
}

// NewInspector returns an Inspector on the miniredis of NewClient, closed
// when the test ends: for tests of programs that cancel notifications or
// handle dead letters.
func NewInspector(tb testing.TB, m *miniredis.Miniredis) *enqueue.Inspector {
	tb.Helper()
	i, err := enqueue.NewInspector(tb.Context(), "redis://"+m.Addr()+"/0")
	if err != nil {
		tb.Fatalf("enqueuetest: %v", err)
	}
	tb.Cleanup(func() { _ = i.Close() })
	return i
}

// Enqueued is a notification as Redis holds it.
type Enqueued struct {
	enqueue.StatusInfo
	// Meta is the payload's tasks.Meta.
	Meta tasks.Meta
	// System is the body of a system notification, Push of a push; the
	// other is nil.
	System *leadsquared.SystemNotification
	Push   *leadsquared.PushNotification
}

// RequireEnqueued fails the test unless Redis holds a task for the ref, and
// returns it decoded.
func RequireEnqueued(tb testing.TB, c *enqueue.Client, account, ref string) Enqueued {
	tb.Helper()
	st, err := c.Status(tb.Context(), account, ref)
	if err != nil {
		tb.Fatalf("enqueuetest: ref %q of account %q: %v", ref, account, err)
	}
	if st.Payload == nil {
		tb.Fatalf("enqueuetest: ref %q of account %q is known (%s) but its task is gone", ref, account, st.State)
	}
	e := Enqueued{StatusInfo: st}
	switch st.Kind {
	case tasks.KindSystem:
		var p tasks.SystemPayload
		if err := json.Unmarshal(st.Payload, &p); err != nil {
			tb.Fatalf("enqueuetest: decode the system payload of %q: %v", ref, err)
		}
		e.Meta, e.System = p.Meta, &p.Body
	case tasks.KindPush:
		var p tasks.PushPayload
		if err := json.Unmarshal(st.Payload, &p); err != nil {
			tb.Fatalf("enqueuetest: decode the push payload of %q: %v", ref, err)
		}
		e.Meta, e.Push = p.Meta, &p.Body
	default:
		tb.Fatalf("enqueuetest: ref %q holds a task of unknown kind", ref)
	}
	return e
}

// RequireNotEnqueued fails the test if Redis knows the ref.
func RequireNotEnqueued(tb testing.TB, c *enqueue.Client, account, ref string) {
	tb.Helper()
	st, err := c.Status(tb.Context(), account, ref)
	switch {
	case errors.Is(err, enqueue.ErrNotFound):
	case err != nil:
		tb.Fatalf("enqueuetest: ref %q of account %q: %v", ref, account, err)
	default:
		tb.Fatalf("enqueuetest: ref %q of account %q is enqueued (%s), want it not to be", ref, account, st.State)
	}
}
