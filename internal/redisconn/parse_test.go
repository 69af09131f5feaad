package redisconn_test

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/redisconn"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

const secret = "hunter2-s3cret"

func TestParse_Forms(t *testing.T) {
	t.Parallel()
	files := testutil.NewTLSFiles(t)
	tests := []struct {
		name, url string
		kind      redisconn.Kind
		want      redis.UniversalOptions
		redacted  string
		tls       bool
	}{
		{name: "Plain", url: "redis://127.0.0.1:6379/0", kind: redisconn.Single,
			want: redis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}}, redacted: "redis://127.0.0.1:6379/0"},
		{name: "DefaultPortAndDB", url: "redis://localhost", kind: redisconn.Single,
			want: redis.UniversalOptions{Addrs: []string{"localhost:6379"}}, redacted: "redis://localhost"},
		{name: "ACLUser", url: "redis://app:" + secret + "@h:7000/2", kind: redisconn.Single,
			want:     redis.UniversalOptions{Addrs: []string{"h:7000"}, Username: "app", Password: secret, DB: 2},
			redacted: "redis://app:xxxxx@h:7000/2"},
		{name: "EncodedPassword", url: "redis://app:p%40ss%3Aw%2Frd@h", kind: redisconn.Single,
			want:     redis.UniversalOptions{Addrs: []string{"h:6379"}, Username: "app", Password: "p@ss:w/rd"},
			redacted: "redis://app:xxxxx@h"},
		{name: "DefaultUserPassword", url: "redis://:" + secret + "@h", kind: redisconn.Single,
			want: redis.UniversalOptions{Addrs: []string{"h:6379"}, Password: secret}, redacted: "redis://:xxxxx@h"},
		{name: "TLS", url: "rediss://h:6380", kind: redisconn.Single, tls: true,
			want: redis.UniversalOptions{Addrs: []string{"h:6380"}}, redacted: "rediss://h:6380"},
		{name: "TLSWithCA", url: "rediss://h:6380/1?tls_ca=" + files.CA, kind: redisconn.Single, tls: true,
			want: redis.UniversalOptions{Addrs: []string{"h:6380"}, DB: 1}, redacted: "rediss://h:6380/1?tls_ca=" + files.CA},
		{name: "IPv6", url: "redis://[::1]:7000", kind: redisconn.Single,
			want: redis.UniversalOptions{Addrs: []string{"[::1]:7000"}}, redacted: "redis://[::1]:7000"},
		{name: "IPv6DefaultPort", url: "redis://[::1]", kind: redisconn.Single,
			want: redis.UniversalOptions{Addrs: []string{"[::1]:6379"}}, redacted: "redis://[::1]"},
		{name: "Sentinel", url: "redis-sentinel://:" + secret + "@s1:26379,s2,s3:26381/1?master=mymaster", kind: redisconn.Sentinel,
			want:     redis.UniversalOptions{Addrs: []string{"s1:26379", "s2:26379", "s3:26381"}, MasterName: "mymaster", Password: secret, DB: 1},
			redacted: "redis-sentinel://:xxxxx@s1:26379,s2,s3:26381/1?master=mymaster"},
		{name: "SentinelAuth", url: "redis-sentinel://u:" + secret + "@s1?master=m&sentinel_auth=true", kind: redisconn.Sentinel,
			want: redis.UniversalOptions{Addrs: []string{"s1:26379"}, MasterName: "m", Username: "u", Password: secret,
				SentinelUsername: "u", SentinelPassword: secret},
			redacted: "redis-sentinel://u:xxxxx@s1?master=m&sentinel_auth=true"},
		{name: "Cluster", url: "redis-cluster://a:7000,b:7001,c", kind: redisconn.Cluster,
			want:     redis.UniversalOptions{Addrs: []string{"a:7000", "b:7001", "c:6379"}, IsClusterMode: true},
			redacted: "redis-cluster://a:7000,b:7001,c"},
		{name: "ClusterOneSeedIPv6", url: "redis-cluster://[::1]:7000,[::1]:7001", kind: redisconn.Cluster,
			want:     redis.UniversalOptions{Addrs: []string{"[::1]:7000", "[::1]:7001"}, IsClusterMode: true},
			redacted: "redis-cluster://[::1]:7000,[::1]:7001"},
		{name: "ClusterTLS", url: "redis-cluster://a:7000?tls=true", kind: redisconn.Cluster, tls: true,
			want:     redis.UniversalOptions{Addrs: []string{"a:7000"}, IsClusterMode: true},
			redacted: "redis-cluster://a:7000?tls=true"},
		{name: "Options", url: "redis://h?dial_timeout=2&read_timeout=500ms&write_timeout=1s&pool_size=5&max_retries=-1&client_name=lsqd", kind: redisconn.Single,
			want: redis.UniversalOptions{Addrs: []string{"h:6379"}, DialTimeout: 2 * time.Second, ReadTimeout: 500 * time.Millisecond,
				WriteTimeout: time.Second, PoolSize: 5, MaxRetries: -1, ClientName: "lsqd"},
			redacted: "redis://h?dial_timeout=2&read_timeout=500ms&write_timeout=1s&pool_size=5&max_retries=-1&client_name=lsqd"},
		{name: "NoTimeout", url: "redis://h?read_timeout=0", kind: redisconn.Single, // go-redis's reading
			want: redis.UniversalOptions{Addrs: []string{"h:6379"}, ReadTimeout: -1}, redacted: "redis://h?read_timeout=0"},
		{name: "SchemeCase", url: "REDIS://h", kind: redisconn.Single,
			want: redis.UniversalOptions{Addrs: []string{"h:6379"}}, redacted: "redis://h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := redisconn.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if c.Kind != tt.kind {
				t.Errorf("Kind = %s, want %s", c.Kind, tt.kind)
			}
			got := *c.Universal
			if got.TLSConfig != nil != tt.tls || c.TLS() != tt.tls {
				t.Errorf("TLS = %v, want %v", got.TLSConfig != nil, tt.tls)
			}
			if got.TLSConfig != nil {
				if got.TLSConfig.MinVersion != tls.VersionTLS12 || got.TLSConfig.InsecureSkipVerify {
					t.Errorf("TLS config is weak: %+v", got.TLSConfig)
				}
				if strings.Contains(tt.url, "tls_ca=") && got.TLSConfig.RootCAs == nil {
					t.Error("tls_ca given but no RootCAs")
				}
			}
			got.TLSConfig = nil
			if !equalOptions(got, tt.want) {
				t.Errorf("options:\n got %+v\nwant %+v", got, tt.want)
			}
			if c.String() != tt.redacted {
				t.Errorf("String() = %q, want %q", c.String(), tt.redacted)
			}
			if c.Queue == nil {
				t.Fatal("no Queue")
			}
		})
	}
}

func equalOptions(a, b redis.UniversalOptions) bool {
	return strings.Join(a.Addrs, ",") == strings.Join(b.Addrs, ",") && a.DB == b.DB &&
		a.Username == b.Username && a.Password == b.Password &&
		a.SentinelUsername == b.SentinelUsername && a.SentinelPassword == b.SentinelPassword &&
		a.MasterName == b.MasterName && a.IsClusterMode == b.IsClusterMode &&
		a.DialTimeout == b.DialTimeout && a.ReadTimeout == b.ReadTimeout && a.WriteTimeout == b.WriteTimeout &&
		a.PoolSize == b.PoolSize && a.MaxRetries == b.MaxRetries && a.ClientName == b.ClientName
}

func TestParse_ClientCertificate(t *testing.T) {
	t.Parallel()
	f := testutil.NewTLSFiles(t)
	c, err := redisconn.Parse("rediss://h?tls_ca=" + f.CA + "&tls_cert=" + f.ClientCert + "&tls_key=" + f.ClientKey + "&tls_server_name=redis.internal")
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.Universal.TLSConfig
	if len(cfg.Certificates) != 1 || cfg.ServerName != "redis.internal" {
		t.Fatalf("client certificate or server name missing: %d certificates, ServerName %q", len(cfg.Certificates), cfg.ServerName)
	}
}

// Every error names what is wrong and never shows the password, even when
// the password ends up where a port or an option should be.
func TestParse_ErrorsNeverShowThePassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, url, want string }{
		{"Empty", "", "no Redis URL given"},
		{"PasswordAsUser", "redis://" + secret + "@h", "a user but no password"},
		{"NoScheme", "app:" + secret + "@localhost:6379", "has no scheme"},
		{"OtherScheme", "http://app:" + secret + "@h", `scheme "http" is not supported`},
		{"PasswordAsPort", "redis://h:" + secret, "not a number from 1 to 65535"},
		{"OpenBracket", "redis://:" + secret + "@[::1/0", "does not parse"},
		{"BareIPv6", "redis://:" + secret + "@::1/0", "write IPv6 addresses in brackets"},
		{"BracketedName", "redis://:" + secret + "@[host]/0", "not an IPv6 address"},
		{"PasswordAsPortWithUser", "redis://:" + secret + "@h:" + secret, "not a number from 1 to 65535"},
		{"BadEscape", "redis://app:" + secret + "%zz@h", "does not parse"},
		{"Fragment", "redis://app:" + secret + "#x@h", "#fragment"},
		{"NoHost", "redis://app:" + secret + "@/0", "no host"},
		{"EmptyHostInList", "redis-cluster://app:" + secret + "@a:1,,b:2", "an empty host"},
		{"SeveralHosts", "redis://app:" + secret + "@a:1,b:2", "names one server"},
		{"BadDB", "redis://app:" + secret + "@h/zero", "database number"},
		{"ClusterDB", "redis-cluster://app:" + secret + "@h/3", "only database 0"},
		{"SentinelNoMaster", "redis-sentinel://app:" + secret + "@h", "option master is required"},
		{"UnknownOption", "redis://app:" + secret + "@h?passwd=" + secret, `unknown option "passwd"`},
		{"PasswordOption", "redis://h?password=" + secret, `unknown option "password"`},
		{"MasterOnRedis", "redis://app:" + secret + "@h?master=m", `unknown option "master"`},
		{"RepeatedOption", "redis://app:" + secret + "@h?pool_size=1&pool_size=2", "given 2 times"},
		{"BadDuration", "redis://app:" + secret + "@h?dial_timeout=" + secret, "want a duration"},
		{"BadInt", "redis://app:" + secret + "@h?pool_size=0", "at least 1"},
		{"TLSOnPlain", "redis://app:" + secret + "@h?tls=true", "use rediss://"},
		{"NoTLSOnRediss", "rediss://app:" + secret + "@h?tls=false", "contradicts rediss://"},
		{"CAWithoutTLS", "redis://app:" + secret + "@h?tls_ca=/x", "need TLS"},
		{"MissingCA", "rediss://app:" + secret + "@h?tls_ca=" + filepath.Join(dir, "missing.pem"), "no such file"},
		{"CANotPEM", "rediss://app:" + secret + "@h?tls_ca=" + notPEM, "holds no PEM certificate"},
		{"CertWithoutKey", "rediss://app:" + secret + "@h?tls_cert=" + notPEM, "go together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := redisconn.Parse(tt.url)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %q", err)
			}
		})
	}
}

func TestConn_RedactAndExplainScrubThePassword(t *testing.T) {
	t.Parallel()
	c, err := redisconn.Parse("redis://app:" + secret + "@h:1/0")
	if err != nil {
		t.Fatal(err)
	}
	base := os.ErrDeadlineExceeded
	for _, err := range []error{c.Redact(wrapped{"dial redis://app:" + secret + "@h:1", base}), c.Explain(wrapped{"auth " + secret, base})} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the password: %q", err)
		}
		if !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("error %q does not mark what it hid", err)
		}
		if !errors.Is(err, base) {
			t.Errorf("the cause is lost: %v", err)
		}
	}
	if c.Redact(nil) != nil || c.Explain(nil) != nil {
		t.Error("nil error not kept nil")
	}
}

type wrapped struct {
	msg string
	err error
}

func (w wrapped) Error() string { return w.msg + ": " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

// Queue makes the client asynq needs for each kind.
func TestConn_QueueMakesTheRightClient(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"redis://127.0.0.1:1":                   "*redis.Client",
		"redis-sentinel://127.0.0.1:1?master=m": "*redis.Client",
		"redis-cluster://127.0.0.1:1":           "*redis.ClusterClient",
	} {
		c, err := redisconn.Parse(url)
		if err != nil {
			t.Fatal(err)
		}
		for _, rc := range []any{c.Queue.MakeRedisClient(), c.Client()} {
			u, ok := rc.(redis.UniversalClient)
			if !ok {
				t.Fatalf("%s: %T is no redis.UniversalClient", url, rc)
			}
			if got := typeName(u); got != want {
				t.Errorf("%s: client %s, want %s", url, got, want)
			}
			_ = u.Close()
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *redis.Client:
		return "*redis.Client"
	case *redis.ClusterClient:
		return "*redis.ClusterClient"
	}
	return "other"
}
