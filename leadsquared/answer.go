package leadsquared

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// maxAnswerBytes bounds how much of an answer is read.
	maxAnswerBytes = 1 << 20
	// maxDrainBytes bounds how much of an oversized answer is discarded to
	// keep the connection reusable.
	maxDrainBytes = 64 << 10
	// maxTextBytes bounds the text of an answer kept in an Error.
	maxTextBytes = 512
	// maxRetryAfter caps the wait taken from a Retry-After header.
	maxRetryAfter = 24 * time.Hour
)

// answer is one HTTP answer from LeadSquared, read whole (up to maxAnswerBytes).
type answer struct {
	status    int
	header    http.Header
	body      []byte
	truncated bool // the body was longer than maxAnswerBytes
	verdict   verdict
}

// verdict is what an answer's JSON body says about the call, whatever the
// HTTP status says.
type verdict struct {
	object           bool // the body is a JSON object
	status           string
	hasStatus        bool // "Status" is a string
	success          bool
	hasSuccess       bool // "Success" is a boolean
	exceptionType    string
	exceptionMessage string
}

// failed reports whether the body says the call failed: "Status":"Error",
// "Success":false or any ExceptionType. Such a body is never a success, even
// with HTTP 200.
func (v verdict) failed() bool {
	return v.exceptionType != "" || strings.EqualFold(v.status, "Error") || (v.hasSuccess && !v.success)
}

// readAnswer reads resp's body, up to maxAnswerBytes, and its verdict. On a
// read error it returns what it read with the error.
func readAnswer(resp *http.Response) (*answer, error) {
	a := &answer{status: resp.StatusCode, header: resp.Header}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if len(body) > maxAnswerBytes {
		body, a.truncated = body[:maxAnswerBytes], true
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBytes))
	}
	a.body = body
	a.verdict = parseVerdict(body)
	return a, err
}

// parseVerdict reads the fields every LeadSquared answer may carry. It is
// lenient: a field of an unexpected JSON type counts as absent, and field
// names match case-insensitively, as in encoding/json.
func parseVerdict(body []byte) verdict {
	var raw struct {
		Status           json.RawMessage
		Success          json.RawMessage
		ExceptionType    json.RawMessage
		ExceptionMessage json.RawMessage
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &raw) != nil {
		return verdict{}
	}
	v := verdict{object: true}
	v.hasStatus = json.Unmarshal(raw.Status, &v.status) == nil && raw.Status != nil && string(raw.Status) != "null"
	v.hasSuccess = json.Unmarshal(raw.Success, &v.success) == nil && raw.Success != nil && string(raw.Success) != "null"
	v.exceptionType = jsonText(raw.ExceptionType)
	v.exceptionMessage = jsonText(raw.ExceptionMessage)
	return v
}

// jsonText returns a JSON string's value, or any other non-null JSON value as
// its text.
func jsonText(raw json.RawMessage) string {
	if raw == nil || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	return string(raw)
}

// decode turns a 2xx answer into v. A failed answer (non-2xx, or a body that
// says failure) becomes its *Error. A body that is not the JSON LeadSquared
// sends (want describes it), or for which ok returns false, is an *Error
// too: KindUnconfirmed for a notification, which LeadSquared may have
// delivered all the same (a proxy that rewrites bodies, a truncated
// answer), and KindConfiguration for the key check, whose base URL or path
// most likely points elsewhere.
func (c *Client) decode(op string, a *answer, v any, want string, ok func() bool) error {
	if a.status < 200 || a.status > 299 || a.verdict.failed() {
		return c.failure(op, a)
	}
	if !a.verdict.object || a.truncated || json.Unmarshal(a.body, v) != nil || !ok() {
		if op != opKeyCheck {
			return &Error{Kind: KindUnconfirmed, Op: op, StatusCode: a.status,
				Err: fmt.Errorf("HTTP %d, but the answer is not LeadSquared's (want %s, got %q): the notification may have been delivered",
					a.status, want, c.redact(snippet(a.body)))}
		}
		return &Error{
			Kind:       KindConfiguration,
			Op:         op,
			StatusCode: a.status,
			Err: fmt.Errorf("answer is not LeadSquared's (want %s, got %q); check Config.BaseURL and the API path",
				want, c.redact(snippet(a.body))),
		}
	}
	return nil
}

// failure builds the *Error for an answer that failed. It keeps
// LeadSquared's ExceptionType and ExceptionMessage, or, when the body has
// neither, up to maxTextBytes of its text as ExceptionMessage.
func (c *Client) failure(op string, a *answer) *Error {
	e := &Error{
		Kind:             kindFor(a.status, a.verdict.exceptionType),
		Op:               op,
		StatusCode:       a.status,
		ExceptionType:    c.redact(clip(a.verdict.exceptionType)),
		ExceptionMessage: c.redact(clip(a.verdict.exceptionMessage)),
	}
	if e.ExceptionType == "" && e.ExceptionMessage == "" {
		e.ExceptionMessage = c.redact(snippet(a.body))
	}
	if a.status >= 300 && a.status < 400 {
		e.Err = fmt.Errorf("redirected to %s; set Config.BaseURL to the account's API host (see CheckKeys)",
			c.redact(safeLocation(a.header.Get("Location"))))
	}
	if ra := a.header.Get("Retry-After"); ra != "" {
		e.RetryAfter = parseRetryAfter(ra, c.now())
	}
	if e.Kind == KindRateLimited {
		if l, ok := ParseLimit(e.ExceptionMessage); ok {
			e.Limit = &l
		}
	}
	return e
}

// kindFor classifies a failed answer:
//   - MXAPIRateLimitExceededException is KindRateLimited, whatever the status
//     (it has been seen with HTTP 200 as well as 429);
//   - a 3xx is KindConfiguration: the client does not follow redirects, and
//     LeadSquared's API does not redirect a correct URL;
//   - any other non-2xx status is KindForStatus(status);
//   - a 2xx whose body says failure is KindPermanent: LeadSquared read the call
//     and refused it, and its own async API never retries such application
//     (MX…) errors. An ExceptionType outside that family (a .NET system
//     exception such as System.TimeoutException) is KindTransient.
func kindFor(status int, exceptionType string) Kind {
	switch {
	case exceptionType == RateLimitExceptionType:
		return KindRateLimited
	case status >= 300 && status < 400:
		return KindConfiguration
	case status < 200 || status > 299:
		return KindForStatus(status)
	case exceptionType != "" && !strings.HasPrefix(exceptionType, "MX"):
		return KindTransient
	}
	return KindPermanent
}

// parseRetryAfter reads a Retry-After value: delay seconds ("5") or an HTTP
// date, relative to now. A date in the past, or a value it cannot read, is 0;
// waits are capped at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return maxRetryAfter
			}
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	switch {
	case d <= 0:
		return 0
	case d > maxRetryAfter:
		return maxRetryAfter
	}
	// Retry-After dates have whole seconds; round up so the wait is not short.
	return (d + time.Second - 1).Truncate(time.Second)
}

// snippet returns up to maxTextBytes of a body's text, with white space
// collapsed, for an error message.
func snippet(body []byte) string {
	if len(body) > 4*maxTextBytes {
		body = body[:4*maxTextBytes]
	}
	return clip(strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "\uFFFD")), " "))
}

// clip cuts s to at most maxTextBytes on a character boundary, marking the cut.
func clip(s string) string {
	if len(s) <= maxTextBytes {
		return s
	}
	cut := maxTextBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// safeLocation returns a redirect target without its query or user info.
func safeLocation(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return "an unreadable location"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return u.String()
}

// redact removes the client's keys from text that came from the network, in
// case a server or proxy echoes them.
func (c *Client) redact(s string) string { return redactKeys(s, c.secretKey, c.accessKey) }

// redactKeys replaces every non-empty key in s with "[redacted]".
func redactKeys(s string, keys ...string) string {
	for _, k := range keys {
		if k != "" && strings.Contains(s, k) {
			s = strings.ReplaceAll(s, k, "[redacted]")
		}
	}
	return s
}

// redactErr returns err, or, if its text holds a key, an error with the key
// removed from the text that still unwraps to err.
func (c *Client) redactErr(err error) error {
	msg := err.Error()
	if red := c.redact(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
