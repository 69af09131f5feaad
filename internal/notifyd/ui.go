package notifyd

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynqmon"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/internal/redisconn"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func init() { DefaultUI = NewUI }

// NewUI builds the monitoring UI: asynqmon at config.PathMonitoring, queues
// and tasks, each task shown as a notification (see formatPayload and
// formatResult); and the campaigns page at config.PathCampaigns, every
// campaign's progress with Pause, Resume and Cancel (see campaignsPage).
//
// On a loopback listener (127.0.0.0/8, ::1, localhost) the UI needs no
// password. Anywhere else ("" and 0.0.0.0 included) it requires
// NOTIFYD_UI_USER and NOTIFYD_UI_PASSWORD, checked as HTTP basic auth, and
// NewUI returns an error naming them when they are missing, so that notifyd
// refuses to start. NOTIFYD_UI_READONLY makes asynqmon read-only and takes
// the buttons off the campaigns page, whose changes then answer 403, and
// NOTIFYD_PROMETHEUS_URL turns on asynqmon's metrics page. Only the UI is
// guarded: /metrics, /healthz and /readyz stay open to scrapers and probes.
//
// The returned handler serves both paths (mount it at each of uiPaths). It
// holds its own Redis clients: asynqmon's, made from the workers'
// connection options, and the campaigns page's enqueue.Inspector, connected
// on first use from REDIS_URL; Process.Stop closes them.
func NewUI(p *Process) (http.Handler, error) {
	ui := p.Config.UI
	if (ui.User == "") != (ui.Password == "") {
		return nil, fmt.Errorf("monitoring UI: set both %s and %s, or neither", config.EnvUIUser, config.EnvUIPassword)
	}
	if ui.User == "" && !IsLoopback(p.Config.HTTPAddr) {
		return nil, fmt.Errorf("monitoring UI: %s=%q is not a loopback address, so the UI at %s needs a login: set %s and %s (HTTP basic auth), or listen on 127.0.0.1",
			config.EnvHTTPAddr, p.Config.HTTPAddr, config.PathMonitoring, config.EnvUIUser, config.EnvUIPassword)
	}
	conn := p.queue // the workers' connection options: same URL, same parsing
	if conn == nil {
		c, err := redisconn.Parse(p.Config.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("monitoring UI: %s: %w", config.EnvRedisURL, err)
		}
		conn = c.Queue
	}
	mon := asynqmon.New(asynqmon.Options{
		RootPath:          strings.TrimSuffix(config.PathMonitoring, "/"),
		RedisConnOpt:      conn,
		PayloadFormatter:  asynqmon.PayloadFormatterFunc(formatPayload),
		ResultFormatter:   asynqmon.ResultFormatterFunc(func(_ string, r []byte) string { return formatResult(r) }),
		PrometheusAddress: ui.PrometheusURL,
		ReadOnly:          ui.ReadOnly,
	})
	campaigns := newCampaignsPage(p.Config.RedisURL, ui.ReadOnly)
	mux := http.NewServeMux()
	mux.Handle(config.PathMonitoring, mon)
	mux.Handle(config.PathCampaigns, campaigns.handler())
	h := &uiHandler{Handler: mux, close: func() error { return errors.Join(mon.Close(), campaigns.Close()) }}
	if ui.User != "" {
		h.Handler = basicAuth(mux, ui.User, ui.Password)
	}
	return h, nil
}

// uiPaths are the paths the UI serves, all behind its one login.
var uiPaths = []string{config.PathMonitoring, config.PathCampaigns}

// uiHandler is the UI with the means to close its Redis connections.
type uiHandler struct {
	http.Handler
	close func() error
}

func (h *uiHandler) Close() error { return h.close() }

// IsLoopback reports whether a listen address (host:port) only accepts
// connections from this machine: a 127.0.0.0/8 or ::1 address, or
// localhost. An empty host and 0.0.0.0 listen on every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// basicAuth guards h with HTTP basic auth. User and password are compared
// in constant time, through their SHA-256 so that their lengths leak neither.
func basicAuth(h http.Handler, user, password string) http.Handler {
	wantUser, wantPass := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="notifyd monitoring", charset="UTF-8"`)
			http.Error(w, "401 Unauthorized: log in with NOTIFYD_UI_USER and NOTIFYD_UI_PASSWORD", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// maxShown bounds the text of a message or title in the UI's tables.
const maxShown = 120

// notificationView is how the UI shows a task: a small JSON object whose
// field order is kept by asynqmon's pretty-printer.
type notificationView struct {
	Kind       tasks.Kind `json:"kind"`
	Ref        string     `json:"ref"`
	Account    string     `json:"account"`
	Lane       tasks.Lane `json:"lane"`
	Recipient  string     `json:"recipient"`
	Title      string     `json:"title,omitempty"`
	Message    string     `json:"message,omitempty"`
	Campaign   string     `json:"campaign,omitempty"`
	EnqueuedAt string     `json:"enqueued_at,omitempty"`
}

// formatPayload shows a notification task's payload as the notification:
// kind, ref, account, lane, recipient, and the push title or the system
// message (cut to maxShown characters). Payloads carry no keys; still, a
// payload that does not decode as a notification is not echoed, only
// described.
func formatPayload(taskType string, payload []byte) string {
	kind, ok := tasks.KindOf(taskType)
	if !ok {
		return describe("task of type "+printable(taskType), payload)
	}
	var v notificationView
	switch kind {
	case tasks.KindPush:
		var p tasks.PushPayload
		if err := json.Unmarshal(payload, &p); err != nil || p.Ref == "" {
			return describe("push payload that does not decode", payload)
		}
		v = view(kind, p.Meta)
		v.Recipient = p.Body.UserId
		if v.Recipient == "" {
			v.Recipient = "(the keys' owner)"
		}
		v.Title, v.Message = clip(p.Body.Title), clip(p.Body.Content)
	default:
		var p tasks.SystemPayload
		if err := json.Unmarshal(payload, &p); err != nil || p.Ref == "" {
			return describe("system payload that does not decode", payload)
		}
		v = view(kind, p.Meta)
		v.Recipient = p.Body.ToUser
		v.Message = clip(p.Body.CardContents.Message)
	}
	return marshal(v)
}

func view(kind tasks.Kind, m tasks.Meta) notificationView {
	v := notificationView{Kind: kind, Ref: m.Ref, Account: m.Account, Lane: m.Lane, Campaign: m.Campaign}
	if !m.EnqueuedAt.IsZero() {
		v.EnqueuedAt = m.EnqueuedAt.UTC().Format(time.RFC3339)
	}
	return v
}

// resultView is how the UI shows a delivered task's result.
type resultView struct {
	MessageID   string `json:"message_id,omitempty"`
	Answer      string `json:"answer,omitempty"`
	DeliveredAt string `json:"delivered_at,omitempty"`
	Attempt     int    `json:"attempt,omitempty"`
}

// formatResult shows a delivered task's result (tasks.Result): LeadSquared's
// MessageID, or its answer to a push, when and at which attempt.
func formatResult(result []byte) string {
	if len(result) == 0 {
		return ""
	}
	var r tasks.Result
	if err := json.Unmarshal(result, &r); err != nil || (r.MessageID == "" && r.Message == "" && r.DeliveredAt.IsZero()) {
		return describe("result that is not a delivery record", result)
	}
	v := resultView{MessageID: r.MessageID, Answer: clip(r.Message), Attempt: r.Attempt}
	if !r.DeliveredAt.IsZero() {
		v.DeliveredAt = r.DeliveredAt.UTC().Format(time.RFC3339Nano)
	}
	return marshal(v)
}

// describe says what some bytes are without showing them.
func describe(what string, b []byte) string {
	return marshal(map[string]string{"note": fmt.Sprintf("%s (%d bytes, not shown)", what, len(b))})
}

func marshal(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return `{"note":"could not be shown"}`
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// clip cuts s to maxShown characters, marking the cut.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxShown {
		return s
	}
	r := []rune(s)
	return string(r[:maxShown-1]) + "…"
}

// printable quotes s when it holds anything but plain printable text.
func printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return fmt.Sprintf("%q", s)
		}
	}
	return clip(s)
}
