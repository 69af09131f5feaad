package leadsquaredtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// Aliases of the sandbox's types, so that importers can name them.
type (
	// Config configures the server; see NewServer for its keys.
	Config = sandbox.Config
	// Faults are injected failures.
	Faults = sandbox.Faults
	// Script answers chosen refs with a chosen status.
	Script = sandbox.Script
	// Stats sums up the calls.
	Stats = sandbox.Stats
	// Call is one recorded call.
	Call = sandbox.Call
)

// Server is a local LeadSquared listening on a loopback port.
type Server struct {
	// URL is the base URL, e.g. "http://127.0.0.1:41234", for
	// leadsquared.Config.BaseURL.
	URL string
	// AccessKey and SecretKey are the only keys the server accepts.
	AccessKey, SecretKey string
	// Sandbox is the server's handler, for Stats, Calls, SetFaults and Reset.
	Sandbox *sandbox.Server
	// HTTP is the underlying httptest server.
	HTTP *httptest.Server
}

// NewServer starts a server on a loopback port. When cfg sets neither key,
// it generates a pair and requires it (Server.AccessKey, Server.SecretKey);
// set both to choose them. Like httptest.NewServer, it panics when it cannot
// start, here also when cfg is invalid; Start reports that to a test instead.
// The caller must Close it.
func NewServer(cfg Config) *Server {
	s, err := newServer(cfg)
	if err != nil {
		panic("leadsquaredtest: " + err.Error())
	}
	return s
}

// Start is NewServer for a test: an invalid cfg fails tb, and the server is
// closed when tb ends.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := newServer(cfg)
	if err != nil {
		tb.Fatalf("leadsquaredtest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

func newServer(cfg Config) (*Server, error) {
	if cfg.AccessKey == "" && cfg.SecretKey == "" {
		cfg.AccessKey, cfg.SecretKey = "u$r"+randomHex(16), randomHex(20)
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		return nil, err
	}
	hs := httptest.NewServer(sb)
	return &Server{URL: hs.URL, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Sandbox: sb, HTTP: hs}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// Close releases the calls the server holds or delays, then shuts it down
// and waits for its calls to end.
func (s *Server) Close() {
	s.Sandbox.Close()
	s.HTTP.Close()
}

// Client returns a leadsquared.Client for the server: its URL, keys and
// system path, and an HTTP client closed with the server. opts adjust the
// configuration before the client is made, e.g. to set a Timeout or other
// keys.
func (s *Server) Client(opts ...func(*leadsquared.Config)) (*leadsquared.Client, error) {
	cfg := leadsquared.Config{
		BaseURL:                s.URL,
		AccessKey:              s.AccessKey,
		SecretKey:              s.SecretKey,
		SystemNotificationPath: s.Sandbox.SystemPath(),
		HTTPClient:             s.HTTP.Client(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := leadsquared.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("leadsquaredtest: %w", err)
	}
	return c, nil
}

// Stats sums up the calls since the start or the last Reset.
func (s *Server) Stats() Stats { return s.Sandbox.Stats() }

// Calls returns the recorded calls, oldest first.
func (s *Server) Calls() []Call { return s.Sandbox.Calls() }

// SetFaults replaces the faults; invalid faults are refused.
func (s *Server) SetFaults(f Faults) error { return s.Sandbox.SetFaults(f) }

// Reset forgets the calls, the sums and the windows.
func (s *Server) Reset() { s.Sandbox.Reset() }
