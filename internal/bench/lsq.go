package bench

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// watchPrefix starts the refs whose arrival time the harness keeps as they
// arrive (the latency scenarios).
const watchPrefix = "watch-"

// lsq is the in-process sandbox served on a loopback port, so that worker
// processes reach it as they would reach LeadSquared.
type lsq struct {
	*sandbox.Server
	URL string

	http *http.Server

	mu       sync.Mutex
	arrivals map[string]time.Time // first accepted arrival of watched refs
	arrived  chan struct{}        // signalled on each watched arrival
}

// startLSQ serves a sandbox; wrap, when set, wraps its handler.
func startLSQ(cfg sandbox.Config, wrap func(http.Handler) http.Handler) (*lsq, error) {
	s := &lsq{arrivals: map[string]time.Time{}, arrived: make(chan struct{}, 1)}
	onCall := cfg.OnCall
	cfg.OnCall = func(c sandbox.Call) {
		if c.Accepted && strings.HasPrefix(c.Ref, watchPrefix) {
			s.mu.Lock()
			if _, seen := s.arrivals[c.Ref]; !seen {
				s.arrivals[c.Ref] = c.Time
			}
			s.mu.Unlock()
			select {
			case s.arrived <- struct{}{}:
			default:
			}
		}
		if onCall != nil {
			onCall(c)
		}
	}
	srv, err := sandbox.New(cfg)
	if err != nil {
		return nil, err
	}
	s.Server = srv
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.URL = "http://" + l.Addr().String()
	s.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(l) }()
	return s, nil
}

// Arrival returns when a watched ref was first accepted.
func (s *lsq) Arrival(ref string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.arrivals[ref]
	return t, ok
}

// Close releases held calls, then stops serving.
func (s *lsq) Close() {
	if s == nil || s.Server == nil {
		return
	}
	s.Server.Close() // before the HTTP server: see sandbox.Server.Close
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
	}
}

// waitAccepted waits until n distinct refs were delivered, or timeout; it
// returns how many were.
func (s *lsq) waitAccepted(ctx context.Context, n int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		got := len(s.Stats().PerRef)
		if got >= n || time.Now().After(deadline) {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		// Stats copies the per-ref map under the recorder's lock, which
		// stalls the sandbox's calls: poll gently (figures come from the
		// recorded times, not from this loop).
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// acceptedCount counts the deliveries cheaply (Stats copies PerRef).
func (s *lsq) acceptedCount() int { return s.Stats().Accepted }

// slowKey delays every answer to one access key by d, after the sandbox
// has recorded the call: the call arrives (and counts) on time, and its
// answer comes d later, as from a slow LeadSquared host.
func slowKey(accessKey string, d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get(leadsquared.AccessKeyHeader) != accessKey {
				next.ServeHTTP(w, r)
				return
			}
			rec := &recorder{header: http.Header{}, status: http.StatusOK}
			next.ServeHTTP(rec, r)
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
			_, _ = w.Write(rec.body.Bytes())
		})
	}
}

// recorder keeps an answer to send later.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.status = code }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
