// Package redisconn turns one Redis URL (REDIS_URL) into what both asynq and
// go-redis need, so that notifyd, notifyctl and the enqueue package accept the
// same forms everywhere.
//
// # URL forms
//
//	redis://[[user]:password@]host[:port][/db][?options]          one server
//	rediss://[[user]:password@]host[:port][/db][?options]         one server over TLS
//	redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db]?master=NAME[&options]
//	redis-cluster://[[user]:password@]host[:port][,host[:port]...][?options]
//
// The default port is 6379, and 26379 for the Sentinel addresses. The user
// and password are Redis ACL credentials (AUTH user password); without a
// user, the password is the default user's (requirepass). A password
// containing @ : / ? # or % must be percent-encoded.
//
// redis-sentinel:// is asynq's scheme: the hosts are Sentinels, master names
// the monitored master, and the client follows failovers. The credentials
// authenticate to the master and its replicas; asynq and go-redis instead
// send them only to the Sentinels. Add sentinel_auth=true when the Sentinels
// require the same credentials (requirepass in sentinel.conf).
//
// redis-cluster:// is this project's own scheme for Redis Cluster: the hosts
// are seed nodes (one is enough; the client discovers the others). A Cluster
// has only database 0. asynq's keys carry {queue} hash tags and this
// project's carry {account} tags, so every Lua script touches one slot; see
// RELIABILITY.md, section Cluster, for what asynq cannot do on a Cluster.
//
// # Options
//
// Query options, all optional except master:
//
//	master=NAME            redis-sentinel: the master's name (required)
//	sentinel_auth=true     redis-sentinel: send the credentials to the Sentinels too
//	tls=true               TLS for redis-sentinel:// and redis-cluster:// (rediss:// implies it)
//	tls_ca=/path/ca.pem    trust this CA (PEM) besides the system's roots
//	tls_cert=/path/c.pem   client certificate (PEM), for servers with tls-auth-clients yes;
//	tls_key=/path/k.pem    its private key; both or neither
//	tls_server_name=NAME   the name the server certificates must carry (default: each host's name)
//	dial_timeout=5s        go-redis's timeouts, read by go-redis's ParseURL: a plain
//	                       number is seconds, and 0 or less means no timeout
//	read_timeout=3s
//	write_timeout=3s
//	pool_size=N            connections per node (default: 10 per CPU)
//	max_retries=N          retries of a failed command (default 3; -1 none)
//	client_name=NAME       CLIENT SETNAME on every connection
//
// Unknown options are errors, so that a typo is not silently ignored. TLS
// always verifies the server's certificate against the system's roots plus
// tls_ca, with TLS 1.2 at least; there is deliberately no option to skip the
// verification. Files are read once, by Parse.
//
// # Secrets
//
// No error and no String of this package contains the password: errors name
// the URL redacted (redis://user:xxxxx@host:6379/0), and Ping scrubs the
// password from what Redis or the network answered.
package redisconn
