package notifyd

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// check verifies Redis and every account's keys and region, prints one line
// each, and returns 0 when all pass, else 2.
func check(ctx context.Context, getenv config.Getenv, stdout, stderr io.Writer) int {
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "notifyd check: configuration:\n%s\n", indent(err))
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	failed := false
	_, rdb, err := redisClients(cfg.RedisURL)
	if err == nil {
		err = rdb.Ping(ctx).Err()
		_ = rdb.Close()
	}
	if err != nil {
		failed = true
		fmt.Fprintf(stdout, "FAIL redis %s: %v\n", redactURL(cfg.RedisURL), redactErr(err, cfg.RedisURL))
	} else {
		fmt.Fprintf(stdout, "ok   redis %s\n", redactURL(cfg.RedisURL))
	}
	for _, a := range cfg.Accounts {
		if !checkAccount(ctx, a, stdout) {
			failed = true
		}
	}
	if failed {
		return 2
	}
	return 0
}

func checkAccount(ctx context.Context, a config.Account, stdout io.Writer) bool {
	c, err := a.Client()
	if err != nil {
		fmt.Fprintf(stdout, "FAIL account %s: %v\n", a.Name, err)
		return false
	}
	user, err := c.CheckKeys(ctx)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL account %s at %s: %v\n", a.Name, c.BaseURL(), err)
		if leadsquared.Classify(err) == leadsquared.KindCredentials {
			fmt.Fprintf(stdout, "     fix: check the account's access and secret keys, and that their user is active\n")
		}
		return false
	}
	fmt.Fprintf(stdout, "ok   account %s: keys of %s (%s) at %s, limit %s\n", a.Name, user.Name, user.Role, c.BaseURL(), a.Policy.Rate)
	if host := user.APIHost(); host != "" && !strings.Contains(c.BaseURL(), hostOf(host)) {
		fmt.Fprintf(stdout, "WARN account %s: LeadSquared says its API host is %s, but notifyd calls %s: set LSQ_REGION or LSQ_API_BASE_URL\n", a.Name, host, c.BaseURL())
		return false
	}
	return true
}

func hostOf(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	return strings.TrimSuffix(s, "/")
}

// redactURL hides a Redis URL's password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// redactErr removes the URL's password from an error's text.
func redactErr(err error, raw string) error {
	u, perr := url.Parse(raw)
	if perr != nil || u.User == nil {
		return err
	}
	pass, ok := u.User.Password()
	if !ok || pass == "" {
		return err
	}
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), pass, "xxxxx"))
}

func leadsquaredVersion() string { return leadsquared.Version }
