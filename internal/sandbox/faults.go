package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// faults holds the injected faults and their counters. Calls check active
// first, so that a server without faults takes no lock here.
type faults struct {
	active atomic.Bool

	mu         sync.Mutex
	f          Faults // Burst429 and Scripts[i].FirstN count down
	rng        *rand.Rand
	randomized bool // some rate is positive
}

func newFaults(f Faults, seed int64) *faults {
	fs := &faults{rng: rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x5DEECE66D))}
	fs.set(f)
	return fs
}

func (fs *faults) set(f Faults) {
	f.Scripts = slices.Clone(f.Scripts)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.f = f
	fs.randomized = f.ErrorRate > 0 || f.SlowRate > 0 || f.TimeoutRate > 0 || f.NonJSONRate > 0
	fs.active.Store(fs.randomized || f.Outage || f.Burst429 > 0 || len(f.Scripts) > 0)
}

func (fs *faults) get() Faults {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.f
	f.Scripts = slices.Clone(f.Scripts)
	return f
}

// retryAfter returns Faults.RetryAfter.
func (fs *faults) retryAfter() time.Duration {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f.RetryAfter
}

func (fs *faults) outage() bool {
	if !fs.active.Load() {
		return false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f.Outage
}

// takeBurst uses one of Burst429's calls, if any is left.
func (fs *faults) takeBurst() bool {
	if !fs.active.Load() {
		return false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f.Burst429 <= 0 {
		return false
	}
	fs.f.Burst429--
	fs.refreshLocked()
	return true
}

// decide picks the fault, if any, for a valid call carrying ref: a script
// for the ref first, then one random draw against the disjoint rates. It
// returns the fault's name and, for a script, its status.
func (fs *faults) decide(ref string) (fault string, status int, slow time.Duration) {
	if !fs.active.Load() {
		return "", 0, 0
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if ref != "" {
		for i := range fs.f.Scripts {
			s := &fs.f.Scripts[i]
			if s.Ref == ref && s.FirstN > 0 {
				s.FirstN--
				fs.refreshLocked()
				return FaultScript, s.Status, 0
			}
		}
	}
	if !fs.randomized {
		return "", 0, 0
	}
	x := fs.rng.Float64()
	switch f := &fs.f; {
	case x < f.TimeoutRate:
		return FaultTimeout, 0, 0
	case x < f.TimeoutRate+f.ErrorRate:
		return FaultError, 500, 0
	case x < f.TimeoutRate+f.ErrorRate+f.SlowRate:
		return FaultSlow, 0, f.SlowDelay
	case x < f.TimeoutRate+f.ErrorRate+f.SlowRate+f.NonJSONRate:
		return FaultNonJSON, 0, 0
	}
	return "", 0, 0
}

// refreshLocked turns the fast path back on once the counters ran out.
func (fs *faults) refreshLocked() {
	f := &fs.f
	active := fs.randomized || f.Outage || f.Burst429 > 0
	for _, s := range f.Scripts {
		active = active || s.FirstN > 0
	}
	fs.active.Store(active)
}

// UnmarshalJSON decodes Faults strictly (unknown fields are refused), and
// accepts SlowDelay and RetryAfter either as nanoseconds or as Go duration
// strings such as "1.5s".
func (f *Faults) UnmarshalJSON(data []byte) error {
	type plain Faults
	var aux struct {
		plain
		SlowDelay  jsonDuration
		RetryAfter jsonDuration
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&aux); err != nil {
		return err
	}
	*f = Faults(aux.plain)
	f.SlowDelay, f.RetryAfter = time.Duration(aux.SlowDelay), time.Duration(aux.RetryAfter)
	return nil
}

// jsonDuration is a duration in JSON as nanoseconds or as a Go duration string.
type jsonDuration time.Duration

func (d *jsonDuration) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = jsonDuration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("duration: want nanoseconds or a string such as \"2s\": %w", err)
	}
	*d = jsonDuration(n)
	return nil
}
