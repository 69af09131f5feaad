package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// limiter enforces the sliding window and the daily cap per access key.
//
// Each key keeps the arrival times of its counted calls that are still inside
// the window, oldest first, in a ring: memory is bounded by the limit (or,
// unlimited, by the calls of one window). Keys have their own locks, so calls
// with different keys never wait for each other.
type limiter struct {
	limit    int // <0: unlimited
	window   time.Duration
	dailyCap int // 0: none

	mu   sync.RWMutex
	keys map[string]*keyState
}

// keyState is one access key's window and day.
type keyState struct {
	id     string // keyID of the access key
	userID string // ownerID of the access key

	mu          sync.Mutex
	ring        []time.Time // arrival times; len is a power of two
	head, n     int         // oldest entry and count
	maxInWindow int
	day         int64 // UTC days since the epoch of the daily count
	dayCount    int
}

// verdict is the limiter's answer for one call.
type verdict int

const (
	admitted     verdict = iota // counted; go on
	windowFull                  // over Limit in Window
	dailyCapFull                // over DailyCap today
)

func newLimiter(limit int, window time.Duration, dailyCap int) *limiter {
	return &limiter{limit: limit, window: window, dailyCap: dailyCap, keys: make(map[string]*keyState)}
}

// state returns the key's state, creating it on first use. Only keys that
// passed authentication get here, so the map cannot be flooded.
func (l *limiter) state(accessKey string) *keyState {
	l.mu.RLock()
	ks := l.keys[accessKey]
	l.mu.RUnlock()
	if ks != nil {
		return ks
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ks = l.keys[accessKey]; ks == nil {
		ks = &keyState{id: keyID(accessKey), userID: ownerID(accessKey), ring: make([]time.Time, 8)}
		l.keys[accessKey] = ks
	}
	return ks
}

// admit decides a call arriving at now: it refuses it when the key's daily
// cap or window is full, and otherwise counts it. It returns the number of
// counted calls in the window (now-Window, now], this one included.
func (l *limiter) admit(ks *keyState, now time.Time) (verdict, int) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	// Drop the calls that left the window: those at or before now-Window.
	edge := now.Add(-l.window)
	for ks.n > 0 && !ks.ring[ks.head].After(edge) {
		ks.ring[ks.head] = time.Time{}
		ks.head = (ks.head + 1) & (len(ks.ring) - 1)
		ks.n--
	}
	if l.dailyCap > 0 {
		if day := utcDay(now); day != ks.day {
			ks.day, ks.dayCount = day, 0
		}
		if ks.dayCount >= l.dailyCap {
			return dailyCapFull, ks.n
		}
	}
	if l.limit >= 0 && ks.n >= l.limit {
		return windowFull, ks.n
	}
	if ks.n == len(ks.ring) {
		grown := make([]time.Time, 2*len(ks.ring))
		for i := range ks.n {
			grown[i] = ks.ring[(ks.head+i)&(len(ks.ring)-1)]
		}
		ks.ring, ks.head = grown, 0
	}
	ks.ring[(ks.head+ks.n)&(len(ks.ring)-1)] = now
	ks.n++
	ks.dayCount++
	ks.maxInWindow = max(ks.maxInWindow, ks.n)
	return admitted, ks.n
}

// maxInWindow returns the most calls any key had in one window.
func (l *limiter) maxInWindow() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	m := 0
	for _, ks := range l.keys {
		ks.mu.Lock()
		m = max(m, ks.maxInWindow)
		ks.mu.Unlock()
	}
	return m
}

// reset forgets every key's window, day and maximum.
func (l *limiter) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.keys)
}

// utcDay numbers the UTC day of t.
func utcDay(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		return (s+1)/86400 - 1
	}
	return s / 86400
}

// nextUTCMidnight returns the start of the UTC day after t's.
func nextUTCMidnight(t time.Time) time.Time {
	return time.Unix((utcDay(t)+1)*86400, 0).UTC()
}

// keyID names an access key in records without revealing it: the first 8 hex
// digits of its SHA-256.
func keyID(accessKey string) string {
	if accessKey == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(accessKey))
	return hex.EncodeToString(sum[:4])
}
