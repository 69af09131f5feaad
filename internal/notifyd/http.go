package notifyd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
)

// DefaultUI builds the monitoring UI mounted at /monitoring/ and
// /campaigns/ (nil: none).
var DefaultUI func(p *Process) (http.Handler, error)

func (p *Process) startHTTP(opts Options) error {
	if p.Config.HTTPAddr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc(config.PathHealthz, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc(config.PathReadyz, p.readyz)
	mux.Handle(config.PathMetrics, promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{Registry: p.Registry}))
	if opts.UI != nil {
		ui, err := opts.UI(p)
		if err != nil {
			return err
		}
		if ui != nil {
			p.ui = ui
			for _, path := range uiPaths {
				mux.Handle(path, ui)
			}
		}
	}
	l, err := net.Listen("tcp", p.Config.HTTPAddr)
	if err != nil {
		if c, ok := p.ui.(io.Closer); ok {
			_ = c.Close()
		}
		return fmt.Errorf("%s: listen on %s: %w", config.EnvHTTPAddr, p.Config.HTTPAddr, err)
	}
	p.listener = l
	p.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := p.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.Log.Error().Err(err).Msg("HTTP listener stopped")
		}
	}()
	return nil
}

// readyz answers 200 when Redis answers and nothing is halted, else 503
// with what is wrong: halted_accounts (account -> reason) and halted_kinds
// (account -> kind -> reason, when LeadSquared answers 404 for one kind's
// path while the other kind flows).
func (p *Process) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]any{"ready": true}
	status := http.StatusOK
	if err := p.Server.Ready(ctx); err != nil {
		status = http.StatusServiceUnavailable
		body["ready"] = false
		body["error"] = err.Error()
		if halted := p.Server.Halted(); len(halted) > 0 {
			body["halted_accounts"] = halted
		}
		if kinds := p.Server.HaltedKinds(); len(kinds) > 0 {
			body["halted_kinds"] = kinds // account -> kind -> reason
		}
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
