package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// Defaults of a Config's zero fields.
const (
	// DefaultLimit is LeadSquared's Enterprise limit: 25 calls per Window.
	DefaultLimit = 25
	// DefaultWindow is LeadSquared's rate-limit window.
	DefaultWindow = 5 * time.Second
	// DefaultMaxCalls is how many calls the sandbox remembers for Calls.
	DefaultMaxCalls = 1_000_000
	// MaxBodyBytes is the largest request body the sandbox reads; a larger
	// one is answered 413.
	MaxBodyBytes = 64 << 10
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// AccessKey and SecretKey are the only keys accepted. When both are
	// empty, any non-empty pair is accepted (each access key gets its own
	// window). Setting only one of them is an error.
	AccessKey, SecretKey string

	// Limit is how many calls per access key may reach the API in any
	// sliding Window. Default (0): 25. Negative: no limit.
	Limit int
	// Window is the rate-limit window. Default: 5s.
	Window time.Duration
	// DailyCap is how many calls per access key may reach the API per UTC
	// day. Default (0): no cap.
	DailyCap int
	// LimitAs200 answers every rate-limit refusal (window, daily cap,
	// Burst429) with HTTP 200 and the MXAPIRateLimitExceededException body,
	// as integrators report LeadSquared doing, instead of 429.
	LimitAs200 bool

	// SystemPath is the path of the Converse system notification API.
	// Default: leadsquared.DefaultSystemNotificationPath.
	SystemPath string

	// Latency is added to every answer of the API paths (not /_sandbox/),
	// after the call was processed: a client that gives up meanwhile has
	// still had its notification delivered. Default: none.
	Latency time.Duration

	// Faults are the faults injected from the start; see SetFaults.
	Faults Faults

	// MaxCalls is how many of the latest calls Calls remembers.
	// Default (0): 1,000,000. Negative: none (Stats still counts them).
	MaxCalls int

	// Now is the clock. Default: time.Now. It should not run backwards.
	Now func() time.Time
	// Sleep waits for d or until ctx is done, whichever comes first, and
	// returns ctx.Err() in the second case. It serves Latency and
	// Faults.SlowDelay; ctx is the request's. Default: a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Seed seeds the randomness of Faults' rates, so that a run is
	// reproducible when calls arrive in the same order. Default: 0.
	Seed int64

	// OnCall, when set, is called with every call once it is recorded,
	// before its answer is written. It must be safe for concurrent use and
	// should return quickly.
	OnCall func(Call)
}

// Faults are injected failures. Their rates are fractions (0 to 1) of the
// calls that would otherwise succeed; they are disjoint, so that
// ErrorRate+SlowRate+TimeoutRate+NonJSONRate must be at most 1.
type Faults struct {
	// ErrorRate is the fraction answered 500.
	ErrorRate float64
	// SlowRate is the fraction answered, successfully, after an extra
	// SlowDelay (required when SlowRate > 0).
	SlowRate  float64
	SlowDelay time.Duration
	// TimeoutRate is the fraction that are delivered but never answered:
	// the sandbox holds them until the client gives up.
	TimeoutRate float64
	// NonJSONRate is the fraction that are delivered and answered 200 with
	// a body that is not LeadSquared's JSON (an HTML page, as a proxy that
	// rewrites bodies sends): the client cannot tell it delivered them.
	NonJSONRate float64
	// Burst429 answers the next Burst429 authorized calls with the rate
	// limit, whatever the window holds, as when another integration with
	// the same keys has used up the budget. It counts down as it is used.
	Burst429 int
	// RetryAfter, when positive, is sent as a Retry-After header (whole
	// seconds, rounded up) on every rate-limit answer.
	RetryAfter time.Duration
	// Scripts answer chosen refs with a chosen status.
	Scripts []Script
	// Outage answers every API call 503, with an HTML body as a load
	// balancer would, while it is true.
	Outage bool
}

// Script answers the first FirstN valid calls carrying Ref with Status,
// after which the ref is served normally. A system call's ref is its
// ExternalSource.ExternalReferenceId, or else its X-Request-ID header; a push
// call's ref is its X-Request-ID header.
type Script struct {
	Ref    string
	FirstN int
	// Status is an HTTP status from 200 to 599; the answer's body is the
	// one the sandbox sends for that status (200: a normal success).
	Status int
}

// withDefaults returns the config with its zero fields filled.
func (c Config) withDefaults() Config {
	if c.Limit == 0 {
		c.Limit = DefaultLimit
	}
	c.Window = cmp.Or(c.Window, DefaultWindow)
	c.SystemPath = cmp.Or(c.SystemPath, leadsquared.DefaultSystemNotificationPath)
	if c.MaxCalls == 0 {
		c.MaxCalls = DefaultMaxCalls
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("set both AccessKey and SecretKey, or neither"))
	}
	if c.Window < 0 {
		errs = append(errs, fmt.Errorf("Window %s is negative", c.Window))
	}
	if c.DailyCap < 0 {
		errs = append(errs, fmt.Errorf("DailyCap %d is negative", c.DailyCap))
	}
	if c.Latency < 0 {
		errs = append(errs, fmt.Errorf("Latency %s is negative", c.Latency))
	}
	if !strings.HasPrefix(c.SystemPath, "/") || strings.HasPrefix(c.SystemPath, adminPrefix) {
		errs = append(errs, fmt.Errorf("SystemPath %q must start with / and not with %s", c.SystemPath, adminPrefix))
	}
	if err := c.Faults.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (f Faults) validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		v    float64
	}{{"ErrorRate", f.ErrorRate}, {"SlowRate", f.SlowRate}, {"TimeoutRate", f.TimeoutRate}, {"NonJSONRate", f.NonJSONRate}} {
		if !(r.v >= 0 && r.v <= 1) { // also refuses NaN
			errs = append(errs, fmt.Errorf("faults: %s %v is not between 0 and 1", r.name, r.v))
		}
	}
	if sum := f.ErrorRate + f.SlowRate + f.TimeoutRate + f.NonJSONRate; sum > 1 {
		errs = append(errs, fmt.Errorf("faults: ErrorRate+SlowRate+TimeoutRate+NonJSONRate is %v, over 1", sum))
	}
	if f.SlowRate > 0 && f.SlowDelay <= 0 {
		errs = append(errs, errors.New("faults: SlowRate needs a positive SlowDelay"))
	}
	if f.SlowDelay < 0 || f.RetryAfter < 0 {
		errs = append(errs, errors.New("faults: SlowDelay and RetryAfter must not be negative"))
	}
	if f.Burst429 < 0 {
		errs = append(errs, fmt.Errorf("faults: Burst429 %d is negative", f.Burst429))
	}
	for i, s := range f.Scripts {
		if s.Ref == "" || s.FirstN < 0 || s.Status < 200 || s.Status > 599 {
			errs = append(errs, fmt.Errorf("faults: Scripts[%d] {Ref %q, FirstN %d, Status %d}: need a ref, FirstN >= 0 and a status from 200 to 599",
				i, s.Ref, s.FirstN, s.Status))
		}
	}
	return errors.Join(errs...)
}

// sleep is the default Config.Sleep: a real timer that honours ctx.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
