package enqueue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// A replay is a fresh start: the task gets its whole retry budget back. asynq's
// RunTask moves an archived task to pending as it is, retry count included,
// so a task archived after its retries ran out was archived again at its
// first transient failure. Before RunTask, the replay resets the count in
// asynq's own record of the task.
//
// That record is asynq's (v0.26.0): the hash asynq:{QUEUE}:t:ID (base.TaskKey)
// whose field "msg" is the protobuf encoding of base.TaskMessage
// (internal/proto/asynq.proto). The replay drops three of its fields, as if
// never set: retried (6), error_msg (7) and last_failed_at (11). A test
// (TestClient_ReplayIsAFreshStart) pins this against asynq's behaviour.

// asynqTaskKey is asynq's key of a task's hash (base.TaskKey).
func asynqTaskKey(queue, id string) string { return "asynq:{" + queue + "}:t:" + id }

// Fields of asynq's TaskMessage that a replay clears.
var replayCleared = map[uint64]bool{6: true, 7: true, 11: true}

// resetScript writes the reset message if the task is still archived and
// its message unchanged since it was read.
//
// KEYS[1] -> asynq:{<queue>}:t:<id>
// ARGV[1] -> the message as read
// ARGV[2] -> the message with its retry count, last error and time cleared
//
// Returns 1 when written, 0 when the task changed meanwhile.
var resetScript = redis.NewScript(`
local state, msg = unpack(redis.call("HMGET", KEYS[1], "state", "msg"))
if state ~= "archived" or msg ~= ARGV[1] then return 0 end
redis.call("HSET", KEYS[1], "msg", ARGV[2])
return 1
`)

// resetRetries gives an archived task its whole retry budget back.
func (c *Inspector) resetRetries(ctx context.Context, queue, id string) error {
	key := asynqTaskKey(queue, id)
	msg, err := c.rdb.HGet(ctx, key, "msg").Result()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("%w: no task %s in queue %s", ErrNotFound, id, queue)
	}
	if err != nil {
		return fmt.Errorf("read task %s: %w", id, err)
	}
	fresh, err := dropFields([]byte(msg), replayCleared)
	if err != nil {
		return fmt.Errorf("task %s: asynq's record does not decode (%v): not replayed", id, err)
	}
	n, err := resetScript.Run(ctx, c.rdb, []string{key}, msg, fresh).Int()
	if err != nil {
		return fmt.Errorf("reset the retries of task %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: task %s changed while it was replayed", ErrNotDeadLetter, id)
	}
	return nil
}

// dropFields returns a protobuf message without the given top-level fields,
// the others byte for byte.
func dropFields(msg []byte, drop map[uint64]bool) ([]byte, error) {
	out := make([]byte, 0, len(msg))
	for i := 0; i < len(msg); {
		tag, n := binary.Uvarint(msg[i:])
		if n <= 0 {
			return nil, errors.New("bad field tag")
		}
		size := n
		switch tag & 7 {
		case 0: // varint
			_, m := binary.Uvarint(msg[i+n:])
			if m <= 0 {
				return nil, errors.New("bad varint")
			}
			size += m
		case 1: // 64-bit
			size += 8
		case 2: // length-delimited
			l, m := binary.Uvarint(msg[i+n:])
			if m <= 0 || l > uint64(len(msg)) {
				return nil, errors.New("bad length")
			}
			size += m + int(l)
		case 5: // 32-bit
			size += 4
		default:
			return nil, fmt.Errorf("wire type %d", tag&7)
		}
		if i+size > len(msg) {
			return nil, errors.New("truncated")
		}
		if !drop[tag>>3] {
			out = append(out, msg[i:i+size]...)
		}
		i += size
	}
	return out, nil
}
