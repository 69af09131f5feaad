package redisconn_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/cli"
	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/internal/notifyd"
	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

// REDIS_URL takes every form everywhere: `notifyd check` and notifyctl
// accept TLS with a private CA, an ACL user, Sentinel and Cluster, and a
// refused password fails both with exit 2 and without showing it.
func TestEveryForm_NotifydCheckAndNotifyctl(t *testing.T) {
	if testing.Short() {
		t.Skip("a TLS server, an ACL server, a Cluster and a Sentinel deployment: about 5 s")
	}
	t.Parallel()
	sb, err := sandbox.New(sandbox.Config{AccessKey: drainAccess, SecretKey: drainSecret})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); hs.Close() })
	for _, tc := range []struct {
		name  string
		url   func(t *testing.T) string
		fails bool
	}{
		{"TLS", func(t *testing.T) string { return testutil.StartTLSRedis(t, testutil.TLSRedisOptions{}).URL }, false},
		{"ACLUser", func(t *testing.T) string {
			return "redis://lsqd:" + secret + "@" + testutil.StartPrivateRedis(t, aclUser...).Addr + "/0"
		}, false},
		{"WrongPassword", func(t *testing.T) string {
			return "redis://lsqd:" + secret + "-wrong@" + testutil.StartPrivateRedis(t, aclUser...).Addr + "/0"
		}, true},
		{"Cluster", func(t *testing.T) string { return testutil.StartCluster(t, 3).URL }, false},
		{"Sentinel", func(t *testing.T) string { return testutil.StartSentinel(t, testutil.SentinelOptions{}).URL }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := tc.url(t)
			env := map[string]string{config.EnvRedisURL: url, config.EnvAccessKey: drainAccess, config.EnvSecretKey: drainSecret,
				config.EnvAPIBaseURL: hs.URL, config.EnvHTTPAddr: "off"}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			code := notifyd.Run(ctx, []string{"check"}, func(k string) string { return env[k] }, &out, &errOut)
			check := out.String() + errOut.String()
			var ctlOut, ctlErr bytes.Buffer
			ctl := cli.Env{Stdin: strings.NewReader(""), Stdout: &ctlOut, Stderr: &ctlErr, Getenv: func(k string) string { return env[k] }}
			ctlCode := cli.Run(ctx, []string{"send", "push", "--title", "T", "--content", "C", "--ref", "form-" + tc.name}, ctl)
			if ctlCode == 0 {
				ctlCode = cli.Run(ctx, []string{"stats"}, ctl)
			}
			all := check + ctlOut.String() + ctlErr.String()
			if strings.Contains(all, secret+"-wrong") || strings.Contains(all, ":"+secret+"@") {
				t.Errorf("the password shows:\n%s", all)
			}
			if tc.fails {
				if code != 2 || ctlCode != 2 || !strings.Contains(check, "FAIL redis") || !strings.Contains(ctlErr.String(), "WRONGPASS") {
					t.Errorf("notifyd check exit %d, notifyctl exit %d; want 2 and 2 with the reason:\n%s", code, ctlCode, all)
				}
				return
			}
			if code != 0 || !strings.Contains(check, "ok   redis") {
				t.Errorf("notifyd check exit %d:\n%s", code, check)
			}
			if ctlCode != 0 || !strings.Contains(ctlOut.String(), "bulk") {
				t.Errorf("notifyctl exit %d:\n%s%s", ctlCode, ctlOut.String(), ctlErr.String())
			}
		})
	}
}
