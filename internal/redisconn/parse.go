package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Schemes of the four URL forms.
const (
	SchemeRedis    = "redis"
	SchemeRediss   = "rediss"
	SchemeSentinel = "redis-sentinel"
	SchemeCluster  = "redis-cluster"
)

// Default ports.
const (
	DefaultPort         = "6379"
	DefaultSentinelPort = "26379"
)

const forms = "redis://[user:password@]host:port/db, rediss://…, redis-sentinel://host:port[,host:port…]/db?master=NAME or redis-cluster://host:port[,host:port…]"

// Query options: go-redis's ParseURL reads goRedisOptions; this package
// reads the TLS and Sentinel ones, which go-redis's URLs do not have, and
// refuses every other name.
var (
	goRedisOptions  = []string{"dial_timeout", "read_timeout", "write_timeout", "pool_size", "max_retries", "client_name"}
	tlsOptions      = []string{"tls", "tls_ca", "tls_cert", "tls_key", "tls_server_name"}
	sentinelOptions = []string{"master", "sentinel_auth"}
)

// Parse parses a Redis URL (see the package documentation for the forms and
// options). Its error never contains the URL's password.
//
// This package takes the URL apart, checks it and says in words what is
// wrong (a host list, IPv6 in brackets, a password where a port should be),
// which go-redis's parsers do not; go-redis's ParseURL then reads the
// credentials, the database and its options; the kind, the Sentinel
// options and TLS are this package's.
func Parse(rawURL string) (Conn, error) {
	p, err := split(rawURL)
	if err != nil {
		return Conn{}, err
	}
	c := Conn{Kind: p.kind, secrets: p.secrets(), redacted: p.redacted()}
	fail := func(format string, args ...any) (Conn, error) {
		// Scrubbed, since go-redis's errors repeat an option's value,
		// which may be the password.
		return Conn{}, errors.New(c.scrub(fmt.Sprintf("Redis URL %s: "+format, append([]any{c.redacted}, args...)...)))
	}
	defPort := DefaultPort
	if p.kind == Sentinel {
		defPort = DefaultSentinelPort
	}
	var addrs []string
	for _, h := range p.hosts {
		addr, err := hostPort(h, defPort)
		if err != nil {
			// Not fail: the URL is not shown, since a password may be
			// where the port should be (redis://host:password).
			return Conn{}, fmt.Errorf("the Redis URL (not shown: it may hold a password) does not parse: %v; want %s", err, forms)
		}
		addrs = append(addrs, addr)
	}
	switch {
	case len(addrs) == 0:
		return fail("no host; want %s", forms)
	case len(addrs) > 1 && p.kind == Single:
		return fail("%s:// names one server; for several, use redis-cluster:// (Redis Cluster) or redis-sentinel:// (Sentinel)", p.scheme)
	}
	if db := strings.Trim(p.path, "/"); db != "" {
		// go-redis takes a negative number, and its error says less.
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fail("path %q: want /N, the database number", clip(p.path))
		}
	}
	if err := checkQuery(p); err != nil {
		return fail("%v", err)
	}
	o, err := goRedisParse(p, addrs)
	if err != nil {
		return fail("%v", err)
	}
	if err := applyOwnOptions(o, p); err != nil {
		return fail("%v", err)
	}
	c.Universal = o
	c.Queue = queueConn{o: o}
	return c, nil
}

// parsed is a Redis URL taken apart.
type parsed struct {
	scheme, user, password string
	hasPassword            bool
	kind                   Kind
	hosts                  []string
	path, rawQuery         string
	query                  url.Values
}

// split takes a URL apart by hand, since net/url takes a host list
// (h1:p1,h2:p2) for one host and rejects IPv6 lists.
func split(raw string) (*parsed, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, fmt.Errorf("no Redis URL given; want %s", forms)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("the Redis URL (not shown: it may hold a password) has no scheme; want %s", forms)
	}
	p := &parsed{scheme: strings.ToLower(scheme)}
	switch p.scheme {
	case SchemeRedis, SchemeRediss:
		p.kind = Single
	case SchemeSentinel:
		p.kind = Sentinel
	case SchemeCluster:
		p.kind = Cluster
	default:
		return nil, fmt.Errorf("the Redis URL's scheme %q is not supported; want %s", clip(p.scheme), forms)
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hosts := "", authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hosts = authority[:i], authority[i+1:]
	}
	// net/url decodes the userinfo, path and query; the host is a placeholder.
	u, err := url.Parse(p.scheme + "://" + userinfo + "@placeholder" + tail)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("the Redis URL (not shown: it may hold a password) does not parse: %s; want %s", unquote(err.Error()), forms)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("the Redis URL (not shown: it may hold a password) has a #fragment; a # in the password must be written %%23")
	}
	p.user = u.User.Username()
	p.password, p.hasPassword = u.User.Password()
	if p.user != "" && !p.hasPassword {
		// go-redis would not authenticate at all; most likely the password
		// sits where the user should be.
		return nil, fmt.Errorf("the Redis URL (not shown) has a user but no password: write %s://:password@host for requirepass, or %s://user:password@host for an ACL user", p.scheme, p.scheme)
	}
	if hosts != "" {
		p.hosts = strings.Split(hosts, ",")
	}
	p.path, p.rawQuery = u.Path, u.RawQuery
	if p.query, err = url.ParseQuery(u.RawQuery); err != nil {
		return nil, fmt.Errorf("the Redis URL's query does not parse: %s", unquote(err.Error()))
	}
	return p, nil
}

// quoted matches the quoted fragments net/url's errors repeat, which may
// be pieces of a password.
var quoted = regexp.MustCompile(`"[^"]*"`)

func unquote(s string) string { return quoted.ReplaceAllString(s, `"…"`) }

// clip bounds text from the URL that an error repeats.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// redacted is the URL with the password (and nothing else) hidden.
func (p *parsed) redacted() string {
	var b strings.Builder
	b.WriteString(p.scheme + "://")
	if p.user != "" || p.hasPassword {
		b.WriteString(url.PathEscape(p.user))
		if p.hasPassword {
			b.WriteString(":xxxxx")
		}
		b.WriteString("@")
	}
	b.WriteString(strings.Join(p.hosts, ","))
	b.WriteString(p.path)
	if p.rawQuery != "" {
		b.WriteString("?" + maskQuery(p.rawQuery))
	}
	return b.String()
}

// maskQuery hides the values of options that look like secrets (none of
// ours is; go-redis's password= and the like are refused as unknown, and
// the error must not show them).
func maskQuery(raw string) string {
	parts := strings.Split(raw, "&")
	for i, kv := range parts {
		k, _, ok := strings.Cut(kv, "=")
		lk := strings.ToLower(k)
		if ok && (strings.Contains(lk, "pass") || strings.Contains(lk, "secret") || strings.Contains(lk, "token")) {
			parts[i] = k + "=xxxxx"
		}
	}
	return strings.Join(parts, "&")
}

// secrets are the strings no message may show: the password, raw and encoded.
func (p *parsed) secrets() []string {
	if p.password == "" {
		return nil
	}
	return []string{p.password, url.PathEscape(p.password), url.QueryEscape(p.password),
		strings.TrimPrefix(url.UserPassword("", p.password).String(), ":")}
}

// hostPort checks host[:port] and adds the default port. Its errors show
// the host's name only, never the port's text.
func hostPort(h, defPort string) (string, error) {
	if h == "" {
		return "", fmt.Errorf("an empty host")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: a name, an IPv4 address or a bracketed IPv6 address.
		host, port = h, defPort
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			host = h[1 : len(h)-1]
			if net.ParseIP(host) == nil {
				return "", fmt.Errorf("a host in brackets is not an IPv6 address")
			}
		} else if strings.ContainsAny(h, ":[]") {
			return "", fmt.Errorf("a host is not host:port (write IPv6 addresses in brackets: [::1]:6379)")
		}
	}
	if host == "" {
		return "", fmt.Errorf("a host has no name")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("host %q: the port is not a number from 1 to 65535", clip(host))
	}
	return net.JoinHostPort(host, port), nil
}

// checkQuery refuses unknown and repeated options and the values go-redis
// accepts but that make no sense here.
func checkQuery(p *parsed) error {
	q := p.query
	allowed := slices.Concat(tlsOptions, goRedisOptions)
	if p.kind == Sentinel {
		allowed = append(allowed, sentinelOptions...)
	}
	var errs []error
	for k, vs := range q {
		if !slices.Contains(allowed, k) {
			errs = append(errs, fmt.Errorf("unknown option %q (known: %s)", clip(k), strings.Join(allowed, ", ")))
		} else if len(vs) > 1 {
			errs = append(errs, fmt.Errorf("option %s is given %d times", k, len(vs)))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// go-redis reads 0 as its default pool and any negative retry count as
	// none; its own errors say less (and a duration's repeats the value).
	for name, least := range map[string]int{"pool_size": 1, "max_retries": -1} {
		if v := q.Get(name); v != "" {
			if n, err := strconv.Atoi(v); err != nil || n < least {
				errs = append(errs, fmt.Errorf("option %s=%q: want a whole number of at least %d", name, clip(v), least))
			}
		}
	}
	for _, name := range []string{"dial_timeout", "read_timeout", "write_timeout"} {
		if v := q.Get(name); v != "" {
			if _, err := strconv.Atoi(v); err != nil {
				if _, err := time.ParseDuration(v); err != nil {
					errs = append(errs, fmt.Errorf("option %s=%q: want a duration such as 5s", name, clip(v)))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// goRedisParse has go-redis's ParseURL read what the three forms share (the
// credentials, the database, go-redis's options) from the URL rewritten with
// one host: go-redis's cluster and failover URLs differ from these forms
// (more hosts as addr=, the Sentinels' credentials in the userinfo, no
// database for a cluster), so the kind's own settings are applyOwnOptions's.
func goRedisParse(p *parsed, addrs []string) (*redis.UniversalOptions, error) {
	q := url.Values{}
	for _, k := range goRedisOptions {
		if p.query.Has(k) {
			q.Set(k, p.query.Get(k))
		}
	}
	u := url.URL{Scheme: SchemeRedis, Host: addrs[0], Path: p.path, RawQuery: q.Encode()}
	if p.hasPassword {
		u.User = url.UserPassword(p.user, p.password)
	}
	o, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, err
	}
	return &redis.UniversalOptions{Addrs: addrs, DB: o.DB, Username: o.Username, Password: o.Password,
		ClientName: o.ClientName, MaxRetries: o.MaxRetries, PoolSize: o.PoolSize,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout}, nil
}

// applyOwnOptions applies what go-redis's URLs lack: the kind, the
// Sentinel's master and credentials, and TLS.
func applyOwnOptions(o *redis.UniversalOptions, p *parsed) error {
	q := p.query
	var errs []error
	boolean := func(name string) bool {
		v := q.Get(name)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("option %s=%q: want true or false", name, clip(v)))
		}
		return b
	}
	useTLS := p.scheme == SchemeRediss
	if q.Has("tls") {
		on := boolean("tls")
		if p.scheme == SchemeRediss && !on {
			errs = append(errs, errors.New("option tls=false contradicts rediss://; use redis:// for no TLS"))
		}
		if p.scheme == SchemeRedis && on {
			errs = append(errs, errors.New("option tls=true on redis://: use rediss:// for TLS"))
		}
		useTLS = useTLS || on
	}
	switch p.kind {
	case Cluster:
		if o.DB != 0 {
			errs = append(errs, fmt.Errorf("a Redis Cluster has only database 0, not %d", o.DB))
		}
		// One seed address is enough: the client discovers the others.
		o.IsClusterMode = true
	case Sentinel:
		o.MasterName = q.Get("master")
		if o.MasterName == "" {
			errs = append(errs, errors.New("option master is required: the name of the master the Sentinels monitor (?master=mymaster)"))
		}
		if boolean("sentinel_auth") {
			o.SentinelUsername, o.SentinelPassword = p.user, p.password
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	cfg, err := tlsConfig(q, useTLS)
	if err != nil {
		return err
	}
	o.TLSConfig = cfg
	return nil
}

// tlsConfig builds the TLS configuration: the system's roots plus tls_ca,
// an optional client certificate, TLS 1.2 at least. ServerName stays empty
// unless tls_server_name sets it, so that each node's certificate is checked
// against the name the client dials (crypto/tls infers it from the address).
func tlsConfig(q url.Values, on bool) (*tls.Config, error) {
	ca, cert, key, name := q.Get("tls_ca"), q.Get("tls_cert"), q.Get("tls_key"), q.Get("tls_server_name")
	if !on {
		if ca != "" || cert != "" || key != "" || name != "" {
			return nil, errors.New("tls_* options need TLS: use rediss:// (or tls=true with redis-sentinel:// and redis-cluster://)")
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: name}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("option tls_ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("option tls_ca: %s holds no PEM certificate", ca)
		}
		cfg.RootCAs = pool
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("options tls_cert and tls_key go together: set both or neither")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("options tls_cert and tls_key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
