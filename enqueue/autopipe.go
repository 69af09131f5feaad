package enqueue

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// asynq enqueues one task per call, and each call is one EVALSHA round trip
// to Redis. A campaign runs many calls at once; autoPipe gathers the EVALSHA
// calls that wait at the same moment into one pipeline, so that a batch of
// enqueues costs a few round trips and system calls instead of one each.
//
// Only calls whose context carries the batch marker (see batching) are
// gathered; all others, and every other command, go straight through. A
// NOSCRIPT error (Redis restarted, SCRIPT FLUSH) reaches the caller's
// redis.Script.Run, which falls back to EVAL, which goes straight through.
type autoPipe struct {
	redis.UniversalClient
	calls chan *pipeCall
}

// maxPipeline bounds the commands of one gathered pipeline.
const maxPipeline = 512

type pipeCall struct {
	ctx  context.Context
	sha  string
	keys []string
	args []any
	done chan *redis.Cmd
}

type batchKey struct{}

// batching marks ctx so that its EVALSHA calls are gathered.
func batching(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchKey{}, true)
}

func newAutoPipe(c redis.UniversalClient) *autoPipe {
	return &autoPipe{UniversalClient: c, calls: make(chan *pipeCall, maxPipeline)}
}

// EvalSha gathers the call with others when ctx is batching.
func (a *autoPipe) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	if ctx.Value(batchKey{}) == nil {
		return a.UniversalClient.EvalSha(ctx, sha, keys, args...)
	}
	call := &pipeCall{ctx: ctx, sha: sha, keys: keys, args: args, done: make(chan *redis.Cmd, 1)}
	a.calls <- call
	return <-call.done
}

// run sends the waiting calls, a pipeline at a time, until ctx ends. The
// campaign that set it running ends it when its last batch is done.
func (a *autoPipe) run(ctx context.Context) {
	batch := make([]*pipeCall, 0, maxPipeline)
	cmds := make([]*redis.Cmd, 0, maxPipeline)
	for {
		select {
		case <-ctx.Done():
			return
		case first := <-a.calls:
			batch = append(batch[:0], first)
		gather:
			for len(batch) < maxPipeline {
				select {
				case c := <-a.calls:
					batch = append(batch, c)
				default:
					break gather
				}
			}
			cmds = cmds[:0]
			// Each command keeps its caller's context; the pipeline runs on the
			// first one's, like the callers, bounded by go-redis's timeouts.
			_, _ = a.UniversalClient.Pipelined(context.WithoutCancel(first.ctx), func(p redis.Pipeliner) error {
				for _, c := range batch {
					cmds = append(cmds, p.EvalSha(c.ctx, c.sha, c.keys, c.args...))
				}
				return nil
			})
			for i, c := range batch {
				c.done <- cmds[i]
			}
		}
	}
}
