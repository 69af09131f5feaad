package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Ping pings Redis through rdb (a client of this Conn) and returns nil, or
// an error that says which Redis (redacted), what went wrong and what to
// check, without the password.
func (c Conn) Ping(ctx context.Context, rdb redis.UniversalClient) error {
	return c.Explain(rdb.Ping(ctx).Err())
}

// Explain returns err with the URL (redacted) and a hint for the common
// connection faults: refused credentials, an untrusted certificate, TLS on
// one side only, a missing client certificate. The password is scrubbed from
// the text; errors.Is and errors.As still see err. Explain(nil) is nil.
func (c Conn) Explain(err error) error {
	if err == nil {
		return nil
	}
	msg := "Redis at " + c.redacted + ": " + err.Error()
	if h := hint(err, c); h != "" {
		msg += " (" + h + ")"
	}
	return &redactedError{msg: c.scrub(msg), err: err}
}

// Redact returns err with the URL's password scrubbed from its text;
// errors.Is and errors.As still see err. Redact(nil) is nil.
func (c Conn) Redact(err error) error {
	if err == nil {
		return nil
	}
	s := c.scrub(err.Error())
	if s == err.Error() {
		return err
	}
	return &redactedError{msg: s, err: err}
}

func (c Conn) scrub(s string) string {
	for _, secret := range c.secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "xxxxx")
		}
	}
	return s
}

// redactedError shows a scrubbed text and unwraps to the original error.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// hint says what to check for the faults operators meet when they first
// point notifyd at a Redis. Redis error replies are matched by their code,
// the reply's first word, which is the protocol's way to tell them apart.
func hint(err error, c Conn) string {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var verifyErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	switch {
	case redis.HasErrorPrefix(err, "WRONGPASS"), redis.HasErrorPrefix(err, "NOAUTH"),
		redis.HasErrorPrefix(err, "NOPERM"):
		if c.Kind == Sentinel && c.Universal.SentinelPassword == "" {
			return "Redis refused the credentials: check the user and password in the URL; if the Sentinels require a password too, add sentinel_auth=true"
		}
		return "Redis refused the credentials: check the user and password in the URL"
	case errors.As(err, &hostErr):
		return "the server's TLS certificate is for another name: set tls_server_name, or use the name the certificate carries"
	case errors.As(err, &unknownCA), errors.As(err, &verifyErr):
		return "the server's TLS certificate is not trusted: add its CA with tls_ca=/path/ca.pem"
	case errors.As(err, &recordErr):
		return "the server does not speak TLS: use redis:// (or drop tls=true)"
	case isCertificateRequired(err):
		return "the server requires a client certificate: set tls_cert and tls_key"
	case strings.Contains(err.Error(), "all sentinels specified in configuration are unreachable"):
		// go-redis's error has no type to test.
		return "no Sentinel answered for master " + c.Universal.MasterName + ": check the Sentinel addresses and the master name"
	case isTimeout(err) && c.TLS():
		return "no answer in time: check the host and port, and that the server speaks TLS; if it does not, use redis://"
	case isTimeout(err):
		return "no answer in time: check the host and port"
	case errors.Is(err, context.Canceled):
		return ""
	case c.TLS() && isEOF(err) && len(c.Universal.TLSConfig.Certificates) == 0:
		// A TLS 1.3 server refuses a missing client certificate after the
		// client's handshake is done: the client may see the reset before
		// the alert.
		return "the server closed the TLS connection: if it requires a client certificate, set tls_cert and tls_key"
	case !c.TLS() && isEOF(err):
		return "the connection was closed at once: if the server requires TLS, use rediss:// (or tls=true)"
	}
	return ""
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// isCertificateRequired reports the TLS alert certificate_required (116)
// from the server, which crypto/tls returns as a *net.OpError "remote error"
// holding an unexported alert type, so only its text tells it apart.
func isCertificateRequired(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error" && op.Err != nil &&
		strings.Contains(op.Err.Error(), "certificate required")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
