package demo

import (
	"strings"
	"sync"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// txPrefix starts the refs of the transactional notifications.
const txPrefix = "tx-"

// callLog follows the sandbox's calls as they arrive (sandbox.Config.OnCall):
// the counted calls of the current window, the answers by kind, and when
// each transactional notification reached LeadSquared.
type callLog struct {
	window time.Duration

	mu          sync.Mutex
	inWindow    []time.Time // arrivals of counted calls, oldest first
	failed      int         // 5xx answers: attempts that are retried
	rateLimited int         // 429 answers
	refused     int         // other 4xx answers to notifications
	txAccepted  map[string]time.Time
}

func newCallLog(window time.Duration) *callLog {
	return &callLog{window: window, txAccepted: map[string]time.Time{}}
}

func (l *callLog) record(c sandbox.Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.Counted {
		l.inWindow = append(l.inWindow, c.Time)
		l.pruneLocked(c.Time)
	}
	switch {
	case c.Status >= 500:
		l.failed++
	case c.Status == 429:
		l.rateLimited++
	case c.Status >= 400 && c.Kind != sandbox.KindKeyCheck:
		l.refused++
	}
	if c.Accepted && strings.HasPrefix(c.Ref, txPrefix) {
		if _, seen := l.txAccepted[c.Ref]; !seen {
			l.txAccepted[c.Ref] = c.Time
		}
	}
}

// pruneLocked drops the arrivals out of the window ending at now.
func (l *callLog) pruneLocked(now time.Time) {
	i := 0
	for i < len(l.inWindow) && !l.inWindow[i].After(now.Add(-l.window)) {
		i++
	}
	l.inWindow = l.inWindow[i:]
}

// callSnapshot is what the call log knows at one moment.
type callSnapshot struct {
	inWindow, failed, rateLimited, refused int
}

func (l *callLog) snapshot(now time.Time) callSnapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now)
	return callSnapshot{inWindow: len(l.inWindow), failed: l.failed, rateLimited: l.rateLimited, refused: l.refused}
}

// accepted returns when the transactional notification ref reached
// LeadSquared, and false when it has not yet.
func (l *callLog) accepted(ref string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.txAccepted[ref]
	return t, ok
}
