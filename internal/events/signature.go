package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// HeaderSignature carries a webhook request's signature (see Sign).
const HeaderSignature = "X-Lsqd-Signature"

// HeaderEventID carries the ID of the event a webhook request posts, the
// same as the body's "id": a receiver that has seen it may skip it.
const HeaderEventID = "X-Lsqd-Event-Id"

// Sign returns the X-Lsqd-Signature header of a body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature: a webhook request's signature does not match its body
// and the secret, or its time is outside the tolerance.
var ErrBadSignature = errors.New("events: bad webhook signature")

// Verify checks a webhook request as a receiver does: header is its
// X-Lsqd-Signature, body its raw body. It refuses a signature made more than
// tolerance away from now, so that a recorded request cannot be replayed
// later. It is the reference of the README's snippet.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("%w: %s is not t=<unix seconds>,v1=<hex>", ErrBadSignature, HeaderSignature)
	}
	if d := now.Sub(time.Unix(unix, 0)).Abs(); d > tolerance {
		return fmt.Errorf("%w: signed %s away from now, over the tolerance of %s", ErrBadSignature, d, tolerance)
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return fmt.Errorf("%w: it does not match the body and the secret", ErrBadSignature)
	}
	return nil
}
