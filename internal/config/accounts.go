package config

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// accountEntry is one account in the accounts file. Keys come from a
// variable (…_env) or a file (…_file); inline keys are accepted but discouraged.
type accountEntry struct {
	Region        string `yaml:"region"`
	BaseURL       string `yaml:"base_url"`
	SystemPath    string `yaml:"system_notification_path"`
	AccessKey     string `yaml:"access_key"`
	AccessKeyEnv  string `yaml:"access_key_env"`
	AccessKeyFile string `yaml:"access_key_file"`
	SecretKey     string `yaml:"secret_key"`
	SecretKeyEnv  string `yaml:"secret_key_env"`
	SecretKeyFile string `yaml:"secret_key_file"`
	RateLimit     string `yaml:"rate_limit"`
	RateMargin    string `yaml:"rate_margin"`
	DailyLimit    *int   `yaml:"daily_limit"`
	DailyReserve  *int   `yaml:"daily_reserve"`
	AllowHTTP     bool   `yaml:"allow_insecure_http"`
}

type accountsFile struct {
	Accounts map[string]accountEntry `yaml:"accounts"`
}

var accountName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// LoadAccounts reads an accounts file (YAML, or JSON, which is YAML too):
//
//	accounts:
//	  acme:
//	    region: us11                      # or base_url: https://…
//	    access_key_env: ACME_LSQ_ACCESS_KEY   # or access_key_file: /run/secrets/acme-access
//	    secret_key_env: ACME_LSQ_SECRET_KEY   # or secret_key_file: …
//	    rate_limit: pro                   # or 10/5s; default 25/5s
//	    daily_limit: 10000                # optional; daily_reserve defaults to 10%
func LoadAccounts(path string, getenv Getenv) ([]Account, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvAccountsFile, err)
	}
	return ParseAccounts(data, path, getenv)
}

// ParseAccounts parses an accounts file's content; name is used in errors.
func ParseAccounts(data []byte, name string, getenv Getenv) ([]Account, error) {
	var f accountsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s %s: %w", EnvAccountsFile, name, err)
	}
	if len(f.Accounts) == 0 {
		return nil, fmt.Errorf("%s %s: no accounts (expected a top-level \"accounts:\" map of name to settings)", EnvAccountsFile, name)
	}
	names := make([]string, 0, len(f.Accounts))
	for n := range f.Accounts {
		names = append(names, n)
	}
	sort.Strings(names)
	p := &parser{getenv: getenv}
	var out []Account
	for _, n := range names {
		e := f.Accounts[n]
		prefix := "accounts." + n + "."
		if !accountName.MatchString(n) {
			p.fail(EnvAccountsFile, "account name %q must be 1-64 letters, digits, _ . or -", n)
		}
		a := Account{Name: n, Region: e.Region, BaseURL: e.BaseURL, SystemPath: e.SystemPath, AllowInsecureHTTP: e.AllowHTTP}
		if a.Region == "" && a.BaseURL == "" {
			a.Region = "sg"
		}
		a.AccessKey = p.secret(prefix+"access_key", e.AccessKey, e.AccessKeyEnv, e.AccessKeyFile)
		a.SecretKey = p.secret(prefix+"secret_key", e.SecretKey, e.SecretKeyEnv, e.SecretKeyFile)
		a.Policy = p.policy(e.RateLimit, e.RateMargin, itoa(e.DailyLimit), itoa(e.DailyReserve), prefix)
		p.checkRegion(prefix+"region", a)
		out = append(out, a)
	}
	if len(p.errs) > 0 {
		msgs := make([]string, len(p.errs))
		for i, e := range p.errs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("%s %s: %s", EnvAccountsFile, name, strings.Join(msgs, "; "))
	}
	return out, nil
}

// secret resolves a key given inline, by variable name, or by file path:
// exactly one must be set.
func (p *parser) secret(field, inline, env, file string) string {
	set := 0
	for _, v := range []string{inline, env, file} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		p.fail(field, "set exactly one of %s, %s_env or %s_file", last(field), last(field), last(field))
		return ""
	}
	switch {
	case env != "":
		v := p.getenv(env)
		if v == "" {
			p.fail(field+"_env", "variable %s is empty or unset", env)
		}
		return v
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			p.fail(field+"_file", "%v", err)
		}
		return strings.TrimSpace(string(b))
	}
	return inline
}

func last(field string) string { return field[strings.LastIndex(field, ".")+1:] }

func itoa(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}
