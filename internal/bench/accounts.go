package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// accountKeys are the i-th account's keys (the sandbox accepts any pair and
// limits each access key on its own).
func accountKeys(i int) (string, string) {
	return fmt.Sprintf("bench-%s-access", accountName(i)), fmt.Sprintf("bench-%s-secret", accountName(i))
}

// accountsRun is one run of many accounts at once.
type accountsRun struct {
	perAccount map[string]float64 // utilization by account name
	others     float64            // aggregate utilization of every account but a00
	all        float64
}

// manyAccounts is scenario 8b: many accounts, each at its own limit at
// once, and one slow account.
func manyAccounts(ctx context.Context, h *harness, res *Result) error {
	p := h.plan
	res.Setup = fmt.Sprintf("%d accounts (LSQ_ACCOUNTS_FILE), each %d/%s, on a sandbox that limits each access key on its own; a campaign interleaves the accounts; "+
		"%d notifyd processes × %d workers; after a warm-up, utilization = counted calls of an account in %s / (limit × %s / window). "+
		"The baseline column is the same run with every account fast; the project column has account a00 answered after 2 s (its calls still arrive, and count, on time).",
		p.accounts, p.limit, p.accountsWindow, p.accountsProcs, p.accountsConc, p.accountsPeriod, p.accountsPeriod)
	slow, fast, err := pair(h, true, false, func(isSlow bool) (accountsRun, error) {
		r, err := h.accountsRun(ctx, isSlow)
		if err != nil && isSlow {
			err = fmt.Errorf("one slow: %w", err)
		} else if err != nil {
			err = fmt.Errorf("all fast: %w", err)
		}
		return r, err
	})
	if err != nil {
		return err
	}
	kase := fmt.Sprintf("%d accounts", p.accounts)
	lowest := func(r accountsRun, skip string) float64 {
		m := 1e9
		for n, u := range r.perAccount {
			if n != skip {
				m = min(m, u)
			}
		}
		return m
	}
	res.Rows = append(res.Rows,
		row(kase, "aggregate utilization, all accounts fast", "%", fast.all, none),
		row(kase, "lowest account's utilization, all fast", "%", lowest(fast, ""), none),
		row(kase+", a00 answers in 2 s", "aggregate utilization of the other accounts (baseline: all fast)", "%", slow.others, fast.others),
		row(kase+", a00 answers in 2 s", "lowest other account's utilization (baseline: all fast)", "%", lowest(slow, "a00"), lowest(fast, "a00")),
		row(kase+", a00 answers in 2 s", "a00's own utilization (baseline: fast)", "%", slow.perAccount["a00"], fast.perAccount["a00"]),
	)
	return nil
}

// sandboxKeyID is how the sandbox names an access key in its records: the
// first 8 hex digits of its SHA-256.
func sandboxKeyID(accessKey string) string {
	sum := sha256.Sum256([]byte(accessKey))
	return hex.EncodeToString(sum[:4])
}

func (h *harness) accountsRun(ctx context.Context, slow bool) (accountsRun, error) {
	p := h.plan
	r := accountsRun{perAccount: map[string]float64{}}
	var wrap func(http.Handler) http.Handler
	name := "accounts"
	if slow {
		a, _ := accountKeys(0)
		wrap = slowKey(a, 2*time.Second)
		name = "accounts-slow"
	}
	st, err := h.newStack(ctx, name, sandbox.Config{Limit: p.limit, Window: p.accountsWindow}, true, wrap)
	if err != nil {
		return r, err
	}
	defer st.close()
	var b strings.Builder
	b.WriteString("accounts:\n")
	keyIDs := map[string]string{}
	for i := range p.accounts {
		ak, sk := accountKeys(i)
		fmt.Fprintf(&b, "  %s:\n    base_url: %s\n    access_key: %s\n    secret_key: %s\n    rate_limit: %d/%s\n    rate_margin: %s\n",
			accountName(i), st.lsq.URL, ak, sk, p.limit, p.accountsWindow, p.accountsWindow/50)
		keyIDs[sandboxKeyID(ak)] = accountName(i)
	}
	file := filepath.Join(st.dir, "accounts.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		return r, err
	}
	perAccount := int(float64(p.limit)*(p.accountsPeriod+4*p.accountsWindow).Seconds()/p.accountsWindow.Seconds()) + p.limit
	if _, err := campaign(ctx, st.redis.URL, st.dir, newLines("m", perAccount*p.accounts, p.accounts)); err != nil {
		return r, err
	}
	ws, err := h.spawnN(ctx, p.accountsProcs, kindNotifyd, st.env(workerEnv{accounts: file, concurrency: p.accountsConc})...)
	if err != nil {
		return r, err
	}
	defer stopAll(ws)
	// Warm up: a window's worth for every account.
	if _, err := st.waitDeliveries(ctx, p.accounts*p.limit, 60*time.Second); err != nil {
		return r, err
	}
	if err := sleep(ctx, p.accountsWindow); err != nil {
		return r, err
	}
	from := time.Now()
	if err := sleep(ctx, p.accountsPeriod); err != nil {
		return r, err
	}
	to := time.Now()
	counts := countedBetween(st.lsq.Calls(), from, to)
	capacity := float64(p.limit) * to.Sub(from).Seconds() / p.accountsWindow.Seconds()
	var all, others int
	var utils []int
	for id, name := range keyIDs {
		c := counts[id]
		r.perAccount[name] = float64(c) / capacity
		all += c
		if name != accountName(0) {
			others += c
		}
		utils = append(utils, c)
	}
	r.all = float64(all) / (capacity * float64(p.accounts))
	r.others = float64(others) / (capacity * float64(p.accounts-1))
	slices.Sort(utils)
	h.logf("accounts: slow=%v: aggregate %.1f%%, others %.1f%%, median account %d calls", slow, 100*r.all, 100*r.others, medianInt(utils))
	return r, nil
}
