package notifyd

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// Foreign lines (the standard library's log package, go-redis's logger) are
// sampled like asynq's own: at most foreignBurst per foreignBurstPeriod.
// While Redis is down, asynq's queue-metrics collector writes one at every
// scrape.
const (
	foreignBurst       = 5
	foreignBurstPeriod = 10 * time.Second
)

// captureForeignLogs sends what libraries write outside zerolog to l, as
// warnings in l's format: the standard library's log package (asynq's
// queue-metrics collector logs "Failed to collect metrics data: …" there,
// as net/http does its server errors) and go-redis's logger. It returns a
// function that restores both to their defaults.
func captureForeignLogs(l zerolog.Logger) (restore func()) {
	l = l.Sample(&zerolog.BurstSampler{Burst: foreignBurst, Period: foreignBurstPeriod})
	flags, prefix, out := log.Flags(), log.Prefix(), log.Writer()
	log.SetFlags(0)
	log.SetPrefix("")
	log.SetOutput(stdlogWriter{l.With().Str("component", "stdlog").Logger()})
	redis.SetLogger(redisLogger{l: l.With().Str("component", "go-redis").Logger()})
	return func() {
		log.SetFlags(flags)
		log.SetPrefix(prefix)
		log.SetOutput(out)
		redis.SetLogger(redisLogger{std: log.New(os.Stderr, "redis: ", log.LstdFlags|log.Lshortfile)})
	}
}

// stdlogWriter turns each line the log package writes into a zerolog line.
type stdlogWriter struct{ l zerolog.Logger }

func (w stdlogWriter) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		if msg := bytes.TrimRight(line, "\r\n"); len(msg) > 0 {
			w.l.Warn().Msg(string(msg))
		}
	}
	return len(p), nil
}

// redisLogger is go-redis's logger interface (redis.SetLogger) on zerolog,
// or, to restore go-redis's default, on a standard logger.
type redisLogger struct {
	l   zerolog.Logger
	std *log.Logger
}

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	if r.std != nil {
		_ = r.std.Output(2, fmt.Sprintf(format, v...))
		return
	}
	r.l.Warn().Msg(fmt.Sprintf(format, v...))
}
