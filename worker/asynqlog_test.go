package worker

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// While Redis is down asynq logs an error a second from each of its
// components: notifyd keeps a burst of them per period and every info line.
func TestAsynqLogger_SamplesWarningsAndErrors(t *testing.T) {
	var buf bytes.Buffer
	l := newAsynqLogger(zerolog.New(&buf))
	for range 3 * asynqBurst {
		l.Error("Dequeue error: dial tcp: connection refused")
		l.Warn("Failed to forward scheduled tasks")
		l.Info("Starting processing")
	}
	count := func(s string) int { return strings.Count(buf.String(), s) }
	if got := count(`"level":"error"`); got != asynqBurst {
		t.Errorf("%d errors logged, want the burst, %d", got, asynqBurst)
	}
	if got := count(`"level":"warn"`); got != asynqBurst {
		t.Errorf("%d warnings logged, want the burst, %d", got, asynqBurst)
	}
	if got := count(`"level":"info"`); got != 3*asynqBurst {
		t.Errorf("%d info lines logged, want all %d", got, 3*asynqBurst)
	}
}
