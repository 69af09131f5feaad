package redisconn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/redisconn"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

// ping parses url, pings through a fresh client and returns Ping's error.
func ping(t *testing.T, url string) error {
	t.Helper()
	c, err := redisconn.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := c.Client()
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Ping(ctx, rdb)
}

func wantErr(t *testing.T, err error, hint string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", hint)
	}
	if !strings.Contains(err.Error(), hint) {
		t.Errorf("error %q does not say %q", err, hint)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error shows the password: %q", err)
	}
}

// A campaign drains over rediss://, verified against a private CA.
func TestTLS_DrainOverRediss(t *testing.T) {
	t.Parallel()
	r := testutil.StartTLSRedis(t, testutil.TLSRedisOptions{})
	b := setupDrain(t, r.URL)
	if !b.conn.TLS() {
		t.Fatal("rediss:// without TLS")
	}
	b.startWorker(t, 4)
	b.campaign(t, "tls", 20)
	checkLimit(t, b.waitDelivered(t, 20, 20*time.Second))
}

func TestTLS_Faults(t *testing.T) {
	t.Parallel()
	r := testutil.StartTLSRedis(t, testutil.TLSRedisOptions{AuthClients: true, Args: []string{"--requirepass", secret}})
	withPass := strings.Replace(r.URL, "rediss://", "rediss://:"+secret+"@", 1)
	t.Run("ClientCertificateAndPassword", func(t *testing.T) {
		t.Parallel()
		if err := ping(t, withPass); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("NoClientCertificate", func(t *testing.T) {
		t.Parallel()
		url, _, _ := strings.Cut(withPass, "&tls_cert=")
		wantErr(t, ping(t, url), "set tls_cert and tls_key")
	})
	t.Run("UntrustedCA", func(t *testing.T) {
		t.Parallel()
		wantErr(t, ping(t, strings.Replace(withPass, r.Files.CA, r.Files.OtherCA, 1)), "not trusted: add its CA with tls_ca")
	})
	t.Run("SystemRootsOnly", func(t *testing.T) {
		t.Parallel()
		url := "rediss://:" + secret + "@" + r.Addr + "/0?tls_cert=" + r.Files.ClientCert + "&tls_key=" + r.Files.ClientKey
		wantErr(t, ping(t, url), "not trusted")
	})
	t.Run("WrongServerName", func(t *testing.T) {
		t.Parallel()
		wantErr(t, ping(t, withPass+"&tls_server_name=redis.example.com"), "another name")
	})
	t.Run("PlainClient", func(t *testing.T) {
		t.Parallel()
		wantErr(t, ping(t, "redis://:"+secret+"@"+r.Addr+"/0"), "use rediss://")
	})
	t.Run("WrongPassword", func(t *testing.T) {
		t.Parallel()
		wantErr(t, ping(t, strings.Replace(withPass, secret, secret+"-wrong", 1)), "refused the credentials")
	})
}

// A TLS client to a plain server is told the server does not speak TLS.
func TestTLS_PlainServer(t *testing.T) {
	t.Parallel()
	n := testutil.StartPrivateRedis(t)
	f := testutil.NewTLSFiles(t)
	// Redis waits for the end of a command that the TLS client never sends.
	wantErr(t, ping(t, "rediss://"+n.Addr+"/0?dial_timeout=500ms&max_retries=-1&tls_ca="+f.CA), "if it does not, use redis://")
}
