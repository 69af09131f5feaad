package sandbox

import (
	"context"
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// Server is a local LeadSquared. It is an http.Handler, safe for concurrent
// use. Create it with New.
type Server struct {
	cfg    Config
	lim    *limiter
	faults *faults
	rec    *recorder
	held   atomic.Int64 // calls in hold

	// closing is cancelled by Close, releasing held and sleeping calls.
	closing   context.Context
	close     context.CancelFunc
	closeOnce sync.Once
}

var _ http.Handler = (*Server)(nil)

// New fills cfg's defaults, validates it and returns a Server. Every problem
// in cfg is reported in one error.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Limit < 0 {
		cfg.Limit = -1
	}
	cfg.Faults.Scripts = append([]Script(nil), cfg.Faults.Scripts...)
	s := &Server{
		cfg:    cfg,
		lim:    newLimiter(cfg.Limit, cfg.Window, cfg.DailyCap),
		faults: newFaults(cfg.Faults, cfg.Seed),
		rec:    newRecorder(cfg.MaxCalls),
	}
	s.closing, s.close = context.WithCancel(context.Background())
	return s, nil
}

// Close releases every call the server is holding or delaying, so that an
// http.Server can shut down: a held call (Faults.TimeoutRate) is then
// aborted without an answer, a delayed one is answered at once. Later calls
// are served without delays. Close is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(s.close)
}

// SystemPath returns the path the server serves system notifications on.
func (s *Server) SystemPath() string { return s.cfg.SystemPath }

// Limit returns the window's limit (-1: none) and the window.
func (s *Server) Limit() (int, time.Duration) { return s.cfg.Limit, s.cfg.Window }

// SetFaults replaces the faults, counters included, and leaves the windows
// and the records alone. Invalid faults are refused and change nothing.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.faults.set(f)
	return nil
}

// Faults returns the faults in force, with Burst429 and Scripts' FirstN
// counted down by the calls that used them.
func (s *Server) Faults() Faults { return s.faults.get() }

// Stats sums up the calls since the start or the last Reset.
func (s *Server) Stats() Stats {
	st := s.rec.snapshot()
	st.MaxInWindow = s.lim.maxInWindow()
	st.Window, st.Limit, st.DailyCap = s.cfg.Window, s.cfg.Limit, s.cfg.DailyCap
	st.Held = int(s.held.Load())
	return st
}

// Calls returns the recorded calls, oldest first (at most Config.MaxCalls).
func (s *Server) Calls() []Call { return s.rec.list() }

// Reset forgets the calls, the sums, the windows and the daily counts. The
// faults stay as they are.
func (s *Server) Reset() {
	s.lim.reset()
	s.rec.reset()
}

// ServeHTTP answers one call: the API paths as LeadSquared would, and the
// sandbox's own control paths under /_sandbox/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, adminPrefix) {
		s.serveAdmin(w, r)
		return
	}
	c := Call{Time: s.cfg.Now(), Path: r.URL.Path}
	a, fault, slow := s.decide(r, &c)
	c.Status, c.Exception, c.Fault = a.status, a.exception, fault

	if fault == FaultTimeout {
		s.hold(r, &c)
		return
	}
	c.Latency = s.cfg.Latency + slow
	if c.Latency > 0 {
		s.wait(r, c.Latency)
	}
	c.Abandoned = r.Context().Err() != nil
	s.finish(&c)
	writeAnswer(w, a)
}

// decide runs the checks in order and returns the answer, the fault that
// chose it (if any) and a slow fault's extra delay. It fills c's Kind,
// KeyID, Counted, Ref, User, MessageID and Accepted.
//
// The order: route (404), method (405), outage (503), authentication (401),
// Burst429, daily cap and window (429; from here on the call is counted),
// body (400, 413), then the faults of a valid notification (scripts, then
// timeout, error and slow rates), then success.
func (s *Server) decide(r *http.Request, c *Call) (answer, string, time.Duration) {
	kind, method := s.route(r.URL.Path)
	// Every call carries its X-Request-ID as its ref, refused ones too, so
	// that a 404 on a wrong path can be told from a probe (which has none).
	c.Kind, c.Ref = kind, r.Header.Get(leadsquared.RequestIDHeader)
	switch {
	case kind == "":
		return exception(http.StatusNotFound, ExceptionNotFound,
			"The API could not be found. Please check the API signature: "+truncate(r.URL.Path, 200)), "", 0
	case r.Method != method:
		a := exception(http.StatusMethodNotAllowed, ExceptionMethod,
			"Method "+truncate(r.Method, 20)+" is not allowed: use "+method)
		a.allow = method
		return a, "", 0
	case s.faults.outage():
		return answerOutage, FaultOutage, 0
	}

	accessKey, refusal := s.authenticate(r)
	if accessKey == "" {
		c.KeyID = keyID(r.Header.Get(leadsquared.AccessKeyHeader))
		return refusal, "", 0
	}
	ks := s.lim.state(accessKey)
	c.KeyID = ks.id

	if s.faults.takeBurst() {
		return s.limited(s.rateLimited()), FaultBurst429, 0
	}
	switch v, _ := s.lim.admit(ks, c.Time); v {
	case dailyCapFull:
		a := s.limited(dailyLimited(s.cfg.DailyCap))
		if a.retryAfter > 0 {
			a.retryAfter = max(a.retryAfter, nextUTCMidnight(c.Time).Sub(c.Time))
		}
		return a, "", 0
	case windowFull:
		return s.limited(s.rateLimited()), "", 0
	}
	c.Counted = true

	switch kind {
	case KindKeyCheck:
		return keyCheckAnswer(accessKey, r.Host), "", 0
	case KindSystem:
		var n leadsquared.SystemNotification
		if a, bad := s.readBody(r, &n, n.Validate); bad {
			return a, "", 0
		}
		if n.ExternalSource != nil && n.ExternalSource.ExternalReferenceId != "" {
			c.Ref = n.ExternalSource.ExternalReferenceId
		}
		c.User = n.ToUser
	case KindPush:
		var n leadsquared.PushNotification
		if a, bad := s.readBody(r, &n, n.Validate); bad {
			return a, "", 0
		}
		c.User = n.UserId
		if c.User == "" {
			c.User = ks.userID
		}
	}

	fault, status, slow := s.faults.decide(c.Ref)
	var a answer
	switch fault {
	case FaultTimeout:
		c.Accepted = true // delivered; the answer never leaves
		return answer{}, fault, 0
	case FaultError:
		return serverError(http.StatusInternalServerError, "fault injected by the sandbox"), fault, 0
	case FaultNonJSON:
		_, c.MessageID = s.success(kind, c.Time)
		c.Accepted = true // delivered; the answer does not say so
		return answerNonJSON, fault, 0
	case FaultScript:
		a, c.MessageID = s.scripted(status, kind, c.Time)
	default:
		a, c.MessageID = s.success(kind, c.Time)
	}
	c.Accepted = a.status >= 200 && a.status < 300
	return a, fault, slow
}

// rateLimited is the window's refusal. Without a limit (Burst429 or a
// script can still refuse), it states LeadSquared's default.
func (s *Server) rateLimited() answer {
	limit := s.cfg.Limit
	if limit < 0 {
		limit = DefaultLimit
	}
	return rateLimited(limit, s.cfg.Window)
}

// route returns the kind and method of an API path, or "" for another path.
func (s *Server) route(path string) (kind, method string) {
	switch path {
	case s.cfg.SystemPath:
		return KindSystem, http.MethodPost
	case leadsquared.PushPath:
		return KindPush, http.MethodPost
	case leadsquared.KeyCheckPath:
		return KindKeyCheck, http.MethodGet
	}
	return "", ""
}

// authenticate returns the call's access key, or "" and the 401 to send.
// Keys are read from the headers only; keys in the query string are refused
// even next to good headers, because URLs end up in logs.
func (s *Server) authenticate(r *http.Request) (string, answer) {
	for name := range r.URL.Query() {
		if strings.EqualFold(name, "accessKey") || strings.EqualFold(name, "secretKey") {
			return "", answerQueryKeys
		}
	}
	ak := r.Header.Get(leadsquared.AccessKeyHeader)
	sk := r.Header.Get(leadsquared.SecretKeyHeader)
	switch {
	case ak == "" || sk == "":
		return "", answerNoKeys
	case s.cfg.AccessKey == "":
		return ak, answer{}
	}
	akOK := subtle.ConstantTimeCompare([]byte(ak), []byte(s.cfg.AccessKey))
	skOK := subtle.ConstantTimeCompare([]byte(sk), []byte(s.cfg.SecretKey))
	if akOK&skOK != 1 {
		return "", answerBadKeys
	}
	return ak, answer{}
}

// limited turns a rate-limit answer into the configured form: HTTP 200 with
// LimitAs200, and a Retry-After header when Faults.RetryAfter is set.
func (s *Server) limited(a answer) answer {
	if s.cfg.LimitAs200 {
		a.status = http.StatusOK
	}
	a.retryAfter = s.faults.retryAfter()
	return a
}

// readBody decodes and validates a notification body. It returns the 400
// or 413 and true when the body is refused.
func (s *Server) readBody(r *http.Request, v any, validate func() error) (answer, bool) {
	problems, err := decodeBody(r, v)
	if err != nil {
		return answerTooLarge, true
	}
	if len(problems) == 0 {
		if verr, ok := validate().(*leadsquared.ValidationError); ok {
			problems = verr.Problems
		}
	}
	if len(problems) > 0 {
		return invalidInput(problems), true
	}
	return answer{}, false
}

// wait sleeps d with Config.Sleep, until the client leaves or Close.
func (s *Server) wait(r *http.Request, d time.Duration) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel)
	defer stop()
	_ = s.cfg.Sleep(ctx, d)
}

// hold keeps a call without answering until its client leaves. On Close it
// aborts the connection instead (http.ErrAbortHandler), so that no answer
// ever leaves.
func (s *Server) hold(r *http.Request, c *Call) {
	s.held.Add(1)
	select {
	case <-r.Context().Done():
		c.Abandoned = true
	case <-s.closing.Done():
	}
	s.held.Add(-1)
	c.Latency = s.cfg.Now().Sub(c.Time)
	s.finish(c)
	if !c.Abandoned {
		panic(http.ErrAbortHandler)
	}
}

// finish records the call and reports it to Config.OnCall.
func (s *Server) finish(c *Call) {
	s.rec.record(c)
	if s.cfg.OnCall != nil {
		s.cfg.OnCall(*c)
	}
}

func writeAnswer(w http.ResponseWriter, a answer) {
	h := w.Header()
	if a.html {
		h.Set("Content-Type", "text/html")
	} else {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	if a.retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(a.retryAfter.Seconds())), 10))
	}
	if a.allow != "" {
		h.Set("Allow", a.allow)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}
