package leadsquared

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

func TestKind_String(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind Kind
		want string
	}{
		{KindUnknown, "unknown"},
		{KindPermanent, "permanent"},
		{KindCredentials, "credentials"},
		{KindConfiguration, "configuration"},
		{KindRateLimited, "rate_limited"},
		{KindTransient, "transient"},
		{KindUnconfirmed, "unconfirmed"},
		{Kind(99), "kind(99)"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.kind), got, tt.want)
		}
	}
}

func TestKindForStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		want   Kind
	}{
		{200, KindUnknown},
		{201, KindUnknown},
		{204, KindUnknown},
		{299, KindUnknown},
		{400, KindPermanent},
		{401, KindCredentials},
		{402, KindPermanent},
		{403, KindCredentials},
		{404, KindConfiguration},
		{405, KindPermanent},
		{408, KindTransient},
		{409, KindPermanent},
		{413, KindPermanent},
		{422, KindPermanent},
		{429, KindRateLimited},
		{500, KindTransient},
		{502, KindTransient},
		{503, KindTransient},
		{504, KindTransient},
	}
	for _, tt := range tests {
		if got := KindForStatus(tt.status); got != tt.want {
			t.Errorf("KindForStatus(%d) = %v, want %v", tt.status, got, tt.want)
		}
	}
}

// timeoutError is a net.Error that timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	t.Parallel()
	rateLimited := &Error{Kind: KindRateLimited, Op: "push", StatusCode: 429}
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"Nil", nil, KindUnknown},
		{"Plain", errors.New("boom"), KindUnknown},
		{"ErrorPermanent", &Error{Kind: KindPermanent}, KindPermanent},
		{"ErrorCredentials", &Error{Kind: KindCredentials}, KindCredentials},
		{"ErrorConfiguration", &Error{Kind: KindConfiguration}, KindConfiguration},
		{"ErrorRateLimited", rateLimited, KindRateLimited},
		{"ErrorTransient", &Error{Kind: KindTransient}, KindTransient},
		{"WrappedOnce", fmt.Errorf("send ref 7: %w", rateLimited), KindRateLimited},
		{"WrappedTwice", fmt.Errorf("task: %w", fmt.Errorf("send: %w", rateLimited)), KindRateLimited},
		{"Joined", errors.Join(errors.New("other"), rateLimited), KindRateLimited},
		// The *Error's own kind wins over the transport error inside it.
		{"ErrorWrappingTimeout", &Error{Kind: KindUnknown, Err: context.DeadlineExceeded}, KindUnknown},
		{"Validation", &ValidationError{Problems: []FieldError{{"Title", "required"}}}, KindPermanent},
		{"ValidationWrapped", fmt.Errorf("enqueue: %w", &ValidationError{}), KindPermanent},
		{"DeadlineExceeded", context.DeadlineExceeded, KindTransient},
		{"DeadlineWrapped", fmt.Errorf("call: %w", context.DeadlineExceeded), KindTransient},
		{"NetTimeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutError{}}, KindTransient},
		{"ConnRefused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errors.New("connection refused"))}, KindTransient},
		{"URLError", &url.Error{Op: "Post", URL: "https://api.leadsquared.com/v2/x", Err: errors.New("EOF")}, KindTransient},
		{"Canceled", context.Canceled, KindUnknown},
		// net/http wraps a caller's cancellation in a *url.Error, which is a
		// net.Error; cancellation must still not look transient.
		{"CanceledInURLError", &url.Error{Op: "Post", URL: "https://api.leadsquared.com/v2/x", Err: context.Canceled}, KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestParseLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		msg    string
		want   Limit
		wantOK bool
	}{
		{"API calls exceeded the limit of 20 in 5 second(s)", Limit{20, 5 * time.Second}, true},
		{"API calls exceeded the limit of 25 in 5 second(s)", Limit{25, 5 * time.Second}, true},
		{"api calls exceeded the LIMIT OF 2 IN 5 SECONDS", Limit{2, 5 * time.Second}, true},
		{"exceeded the limit of 10000 in 1 minute(s)", Limit{10000, time.Minute}, true},
		{"exceeded the limit of 100 in 24 hour(s)", Limit{100, 24 * time.Hour}, true},
		{"limit of 5 in 5second(s)", Limit{5, 5 * time.Second}, true},
		{"", Limit{}, false},
		{"Rate limit exceeded", Limit{}, false},
		{"exceeded the limit of 0 in 5 second(s)", Limit{}, false},
		{"exceeded the limit of 5 in 0 second(s)", Limit{}, false},
		{"exceeded the limit of 5 in 1 day(s)", Limit{}, false},
		{"exceeded the limit of 99999999999999999999 in 5 second(s)", Limit{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseLimit(tt.msg)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseLimit(%q) = %v, %v; want %v, %v", tt.msg, got, ok, tt.want, tt.wantOK)
		}
	}
	if got := (Limit{20, 5 * time.Second}).String(); got != "20/5s" {
		t.Errorf("Limit.String() = %q, want 20/5s", got)
	}
}

func TestError_ErrorAndReason(t *testing.T) {
	t.Parallel()
	cause := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	tests := []struct {
		name       string
		err        *Error
		wantError  string
		wantReason string
	}{
		{
			"LeadSquaredAnswer",
			&Error{Kind: KindPermanent, Op: "system", StatusCode: 400, ExceptionType: "MXInvalidInputException", ExceptionMessage: "Invalid ToUser"},
			"leadsquared system: HTTP 400 (permanent): MXInvalidInputException: Invalid ToUser",
			"MXInvalidInputException: Invalid ToUser",
		},
		{
			"MessageOnly",
			&Error{Kind: KindTransient, Op: "push", StatusCode: 502, ExceptionMessage: "Bad Gateway"},
			"leadsquared push: HTTP 502 (transient): Bad Gateway",
			"Bad Gateway",
		},
		{
			"TypeOnly",
			&Error{Kind: KindPermanent, Op: "push", StatusCode: 200, ExceptionType: "MXSomething"},
			"leadsquared push: HTTP 200 (permanent): MXSomething",
			"MXSomething",
		},
		{
			"Transport",
			&Error{Kind: KindTransient, Op: "keycheck", Err: cause},
			"leadsquared keycheck (transient): dial tcp 127.0.0.1:1: connect: connection refused",
			"leadsquared keycheck (transient): dial tcp 127.0.0.1:1: connect: connection refused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Error(); got != tt.wantError {
				t.Errorf("Error() = %q, want %q", got, tt.wantError)
			}
			if got := tt.err.Reason(); got != tt.wantReason {
				t.Errorf("Reason() = %q, want %q", got, tt.wantReason)
			}
		})
	}
	if e := (&Error{Err: cause}); !errors.Is(e, cause) {
		t.Error("errors.Is(*Error, its Err) = false")
	}
}
