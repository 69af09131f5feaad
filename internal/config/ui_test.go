package config

import (
	"strings"
	"testing"
)

func TestFromEnv_UI(t *testing.T) {
	t.Parallel()
	base := map[string]string{EnvRedisURL: "redis://x:6379/0", EnvAccessKey: "a", EnvSecretKey: "s"}
	with := func(k, v string) Getenv {
		m := map[string]string{k: v}
		for bk, bv := range base {
			m[bk] = bv
		}
		return env(m)
	}
	c, err := FromEnv(env(base))
	if err != nil || c.UI != (UI{}) {
		t.Fatalf("default UI: %+v, %v; want none", c.UI, err)
	}
	c, err = FromEnv(with(EnvPrometheusURL, "http://prometheus:9090/"))
	if err != nil || c.UI.PrometheusURL != "http://prometheus:9090" {
		t.Fatalf("%s: %q, %v; want http://prometheus:9090", EnvPrometheusURL, c.UI.PrometheusURL, err)
	}
	for _, bad := range []string{"prometheus:9090", "ftp://p:21", "http://"} {
		if _, err := FromEnv(with(EnvPrometheusURL, bad)); err == nil || !strings.Contains(err.Error(), EnvPrometheusURL) {
			t.Errorf("%s=%q: %v, want an error naming it", EnvPrometheusURL, bad, err)
		}
	}
	c, err = FromEnv(with(EnvUIReadOnly, "true"))
	if err != nil || !c.UI.ReadOnly {
		t.Fatalf("%s=true: %+v, %v", EnvUIReadOnly, c.UI, err)
	}
}
