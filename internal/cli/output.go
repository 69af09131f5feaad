package cli

import (
	"encoding/json"
	"io"
	"text/tabwriter"
	"time"
)

// writeJSON prints v as indented JSON: the stable, machine-readable output
// of --json. Field names are snake_case and times RFC 3339 (UTC); a zero
// time is left out.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return failed(err)
	}
	return nil
}

// timeString formats t as RFC 3339 in UTC, or "" for the zero time.
func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// table is a tabwriter for human-readable output.
func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// orDash shows an empty value as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
