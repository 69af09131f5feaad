package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lsqdispatch/lsqdispatch/worker"
)

// FuzzParseRate: ParseRate never panics; what it accepts is a usable limit
// that survives a round trip through its String form.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"25/5s", "10/1s", "100/1m", "10/s", "Pro", " enterprise ", "0/5s", "-1/5s",
		"5/0s", "5/-1s", "5/", "/5s", "abc", "", "5/5", "9223372036854775807/1ns", "1/2562047h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			if (r != worker.Rate{}) {
				t.Fatalf("error %v with a non-zero rate %+v", err, r)
			}
			return
		}
		if r.Calls < 1 || r.Window <= 0 {
			t.Fatalf("ParseRate(%q) = %+v: not a usable limit", s, r)
		}
		again, err := ParseRate(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRate(%q) = %+v, whose String %q parses as %+v, %v", s, r, r.String(), again, err)
		}
	})
}

// fuzzSecret is what every variable holds in FuzzParseAccounts: errors must
// never show it.
const fuzzSecret = "FUZZ-SECRET-VALUE-7d1c"

// FuzzParseAccounts: ParseAccounts never panics; what it accepts is a list of
// well-named, sorted, unique accounts with keys and sane limits; what it
// refuses is reported under the file's name; and no error shows a key.
func FuzzParseAccounts(f *testing.F) {
	f.Add([]byte("accounts:\n  acme:\n    region: us11\n    access_key_env: A\n    secret_key_env: S\n    rate_limit: pro\n    daily_limit: 10000\n"))
	f.Add([]byte("accounts:\n  a:\n    base_url: http://127.0.0.1:8089\n    access_key: inline-a\n    secret_key: inline-s\n    daily_limit: 10\n    daily_reserve: 9\n"))
	f.Add([]byte(`{"accounts":{"x":{"access_key_env":"A","secret_key_env":"S","rate_limit":"10/1s","rate_margin":"50ms"}}}`))
	f.Add([]byte("accounts:\n  bad name:\n    access_key: a\n"))
	f.Add([]byte("accounts: {}\n"))
	f.Add([]byte("nope: 1\n"))
	f.Add([]byte("accounts:\n  a:\n    access_key: " + fuzzSecret + "\n    secret_key_env: S\n    region: mars\n    daily_reserve: 5\n"))
	getenv := func(name string) string {
		if name == "" {
			return ""
		}
		return fuzzSecret
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Keys may come from files; a fuzzed path could name /dev/zero.
		// File keys are tested by the unit tests, not here.
		lower := bytes.ToLower(data)
		if bytes.Contains(lower, []byte("file")) || bytes.ContainsAny(data, `\!&*`) {
			t.Skip()
		}
		accts, err := ParseAccounts(data, "accounts.yaml", getenv)
		if err != nil {
			if !strings.HasPrefix(err.Error(), EnvAccountsFile+" accounts.yaml: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			if strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("error shows a key: %v", err)
			}
			if accts != nil {
				t.Fatalf("error and accounts: %v, %+v", err, accts)
			}
			return
		}
		if len(accts) == 0 {
			t.Fatal("no error and no account")
		}
		for i, a := range accts {
			if !accountName.MatchString(a.Name) {
				t.Errorf("account name %q accepted", a.Name)
			}
			if i > 0 && accts[i-1].Name >= a.Name {
				t.Errorf("accounts not sorted and unique: %q then %q", accts[i-1].Name, a.Name)
			}
			if a.AccessKey == "" || a.SecretKey == "" {
				t.Errorf("account %s accepted without keys", a.Name)
			}
			if a.Region == "" && a.BaseURL == "" {
				t.Errorf("account %s has neither region nor base URL", a.Name)
			}
			p := a.Policy
			if p.Rate.Calls < 1 || p.Rate.Window <= 0 || p.Margin < 0 || p.DailyLimit < 0 || p.DailyReserve < 0 ||
				(p.DailyLimit > 0 && p.DailyReserve >= p.DailyLimit) {
				t.Errorf("account %s: unusable policy %+v", a.Name, p)
			}
			if strings.Contains(a.String(), fuzzSecret) {
				t.Errorf("account %s: String shows a key: %s", a.Name, a.String())
			}
		}
	})
}
