package redisconn

import (
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// EnvURL is the environment variable every binary reads its Redis URL
// from: notifyd's configuration and notifyctl share the name here, in a
// package both link anyway.
const EnvURL = "REDIS_URL"

// Kind is the kind of Redis deployment a URL names.
type Kind int

const (
	// Single is one server: redis:// or rediss://.
	Single Kind = iota
	// Sentinel is a master found through Sentinels: redis-sentinel://.
	Sentinel
	// Cluster is a Redis Cluster: redis-cluster://.
	Cluster
)

func (k Kind) String() string {
	switch k {
	case Sentinel:
		return "sentinel"
	case Cluster:
		return "cluster"
	}
	return "single"
}

// Conn is one Redis deployment as asynq and go-redis see it. Build it with
// Parse; the zero Conn is not usable.
type Conn struct {
	// Queue is asynq's connection (asynq.NewServer, NewClient, NewInspector,
	// asynqmon): each use opens its own client from Universal.
	Queue asynq.RedisConnOpt
	// Universal are go-redis's options; do not change them after Parse.
	Universal *redis.UniversalOptions
	// Kind says which form the URL had.
	Kind Kind

	redacted string
	secrets  []string
}

// Client opens a go-redis client: a *redis.Client, a failover client
// (Sentinel) or a *redis.ClusterClient. The caller closes it.
func (c Conn) Client() redis.UniversalClient { return newClient(c.Universal) }

// String is the URL with its password hidden, for logs and errors.
func (c Conn) String() string { return c.redacted }

// newClient opens a client on a copy of o, so that go-redis's filling in of
// defaults never races between clients, nor leaks back into Conn.
func newClient(o *redis.UniversalOptions) redis.UniversalClient {
	cp := *o
	cp.Addrs = append([]string(nil), o.Addrs...)
	if o.TLSConfig != nil {
		cp.TLSConfig = o.TLSConfig.Clone()
	}
	return redis.NewUniversalClient(&cp)
}

// queueConn is asynq's RedisConnOpt for any Conn. asynq (and asynqmon) only
// call MakeRedisClient and use the redis.UniversalClient it returns, so one
// type serves the three kinds with every option Parse understood, where
// asynq's own RedisClientOpt, RedisFailoverClientOpt and
// RedisClusterClientOpt each drop some (ACL users on redis://, the master's
// password on Sentinel).
type queueConn struct{ o *redis.UniversalOptions }

// MakeRedisClient implements asynq.RedisConnOpt.
func (q queueConn) MakeRedisClient() any { return newClient(q.o) }

var _ asynq.RedisConnOpt = queueConn{}

// TLS reports whether the connections use TLS.
func (c Conn) TLS() bool { return c.Universal != nil && c.Universal.TLSConfig != nil }
