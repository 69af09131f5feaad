package leadsquared

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strconv"
	"time"
)

// Kind says what a caller should do about a failed call.
type Kind int

// The kinds of failure, as Classify reports them.
const (
	// KindUnknown is not a LeadSquared failure (nil or an unrelated error).
	KindUnknown Kind = iota
	// KindPermanent: LeadSquared refused the body (400) or it failed validation;
	// sending it again cannot succeed.
	KindPermanent
	// KindCredentials: the keys were refused (401, 403); fix the keys.
	KindCredentials
	// KindConfiguration: the host or path is wrong (404); fix the configuration.
	KindConfiguration
	// KindRateLimited: LeadSquared's rate limit was hit; retry after RetryAfter.
	KindRateLimited
	// KindTransient: a 5xx, a timeout or a connection error; retry with backoff.
	KindTransient
	// KindUnconfirmed: a notification call was answered 2xx, but the body is
	// not LeadSquared's answer or did not arrive whole (a proxy rewrote it,
	// the connection was cut). LeadSquared may well have delivered it:
	// sending it again may deliver it twice.
	KindUnconfirmed
)

var kindNames = [...]string{"unknown", "permanent", "credentials", "configuration", "rate_limited", "transient", "unconfirmed"}

// String returns the kind's snake_case name, as used in metrics and logs.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// RateLimitExceptionType is the ExceptionType LeadSquared uses for its rate limit.
const RateLimitExceptionType = "MXAPIRateLimitExceededException"

// Error is a failed LeadSquared call. It never holds a key.
type Error struct {
	// Kind classifies the failure.
	Kind Kind
	// Op names the call: "system", "push" or "keycheck".
	Op string
	// StatusCode is the HTTP status, or 0 when no answer arrived.
	StatusCode int
	// ExceptionType and ExceptionMessage are LeadSquared's, when its body had them.
	ExceptionType    string
	ExceptionMessage string
	// RetryAfter is the wait LeadSquared asked for (Retry-After), or 0.
	RetryAfter time.Duration
	// Limit is the rate limit LeadSquared's message stated, or nil.
	Limit *Limit
	// Err is the underlying transport error, if any.
	Err error
}

func (e *Error) Error() string {
	msg := "leadsquared " + e.Op
	if e.StatusCode != 0 {
		msg += ": HTTP " + strconv.Itoa(e.StatusCode)
	}
	msg += " (" + e.Kind.String() + ")"
	if e.ExceptionType != "" {
		msg += ": " + e.ExceptionType
	}
	if e.ExceptionMessage != "" {
		msg += ": " + e.ExceptionMessage
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Reason is LeadSquared's own explanation, for a dead-letter record.
func (e *Error) Reason() string {
	switch {
	case e.ExceptionMessage != "" && e.ExceptionType != "":
		return e.ExceptionType + ": " + e.ExceptionMessage
	case e.ExceptionMessage != "":
		return e.ExceptionMessage
	case e.ExceptionType != "":
		return e.ExceptionType
	}
	return e.Error()
}

// Classify returns what kind of failure err is. It is the one place where
// errors are mapped to retry decisions:
//   - an *Error carries its own Kind;
//   - a *ValidationError is permanent: the body can never be sent;
//   - deadlines, timeouts and network errors are transient;
//   - context cancellation and anything else are unknown.
func Classify(err error) Kind {
	if err == nil {
		return KindUnknown
	}
	var le *Error
	if errors.As(err, &le) {
		return le.Kind
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return KindPermanent
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTransient
	}
	// Checked before net.Error: *url.Error implements net.Error, and net/http
	// wraps a caller's cancellation in one.
	if errors.Is(err, context.Canceled) {
		return KindUnknown
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return KindTransient
	}
	return KindUnknown
}

// KindForStatus maps an HTTP status to a Kind; 2xx maps to KindUnknown.
func KindForStatus(status int) Kind {
	switch {
	case status >= 200 && status < 300:
		return KindUnknown
	case status == 429:
		return KindRateLimited
	case status == 401 || status == 403:
		return KindCredentials
	case status == 404:
		return KindConfiguration
	case status == 408 || status >= 500:
		return KindTransient
	}
	return KindPermanent
}

var limitPattern = regexp.MustCompile(`(?i)limit of (\d+) in (\d+) ?(second|minute|hour)`)

// ParseLimit extracts the limit stated in a LeadSquared message such as
// "API calls exceeded the limit of 20 in 5 second(s)".
func ParseLimit(msg string) (Limit, bool) {
	m := limitPattern.FindStringSubmatch(msg)
	if m == nil {
		return Limit{}, false
	}
	calls, err1 := strconv.Atoi(m[1])
	n, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil || calls <= 0 || n <= 0 {
		return Limit{}, false
	}
	unit := time.Second
	switch m[3][0] | 0x20 {
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	}
	return Limit{Calls: calls, Window: time.Duration(n) * unit}, true
}
