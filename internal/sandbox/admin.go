package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The sandbox's control paths. They need no keys: the sandbox is a test
// double, meant for loopback addresses.
const (
	PathStats  = adminPrefix + "stats"  // GET: Stats as JSON
	PathCalls  = adminPrefix + "calls"  // GET: []Call as JSON; ?since=RFC3339Nano, ?after=Seq, ?limit=N
	PathFaults = adminPrefix + "faults" // GET: the faults in force; POST: a Faults body replaces them
	PathReset  = adminPrefix + "reset"  // POST: Reset; answers 204
)

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathStats:
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, s.Stats())
		}
	case PathCalls:
		if allow(w, r, http.MethodGet) {
			s.serveCalls(w, r)
		}
	case PathFaults:
		if !allow(w, r, http.MethodGet, http.MethodPost) {
			return
		}
		if r.Method == http.MethodPost {
			var f Faults
			body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes))
			if err == nil {
				err = json.Unmarshal(body, &f)
			}
			if err == nil {
				err = s.SetFaults(f)
			}
			if err != nil {
				writeJSON(w, http.StatusBadRequest, adminError{"faults: " + err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, s.Faults())
	case PathReset:
		if allow(w, r, http.MethodPost) {
			s.Reset()
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		writeJSON(w, http.StatusNotFound, adminError{"no such sandbox path; try " + PathStats + ", " + PathCalls + ", " + PathFaults + " or " + PathReset})
	}
}

// serveCalls lists the calls recorded at or after ?since (an RFC 3339
// time), numbered after ?after (a Seq), keeping the last ?limit of them.
func (s *Server) serveCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	var after uint64
	limit := -1
	var err error
	if v := q.Get("since"); v != "" {
		if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			writeJSON(w, http.StatusBadRequest, adminError{"since: want an RFC 3339 time such as 2006-01-02T15:04:05.999Z"})
			return
		}
	}
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			writeJSON(w, http.StatusBadRequest, adminError{"after: want a call's Seq"})
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			writeJSON(w, http.StatusBadRequest, adminError{"limit: want a count of calls"})
			return
		}
	}
	calls := s.Calls()
	kept := calls[:0]
	for _, c := range calls {
		if c.Seq > after && !c.Time.Before(since) {
			kept = append(kept, c)
		}
	}
	if limit >= 0 && len(kept) > limit {
		kept = kept[len(kept)-limit:]
	}
	writeJSON(w, http.StatusOK, kept)
}

type adminError struct {
	Error string `json:"error"`
}

// allow answers 405 and returns false unless r uses one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allowed := methods[0]
	for _, m := range methods[1:] {
		allowed += ", " + m
	}
	w.Header().Set("Allow", allowed)
	writeJSON(w, http.StatusMethodNotAllowed, adminError{"method not allowed; use " + allowed})
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
