package cli_test

import (
	"encoding/json"
	"testing"
)

func TestRun_ResumeAndStatsOfHaltedKinds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_ = b.rdb.Set(ctx, "lsqd:{acme}:halt", "keys refused (401)", 0).Err()
	_ = b.rdb.Set(ctx, "lsqd:{acme}:halt:system", "leadsquared system: HTTP 404", 0).Err()
	_ = b.rdb.Set(ctx, "lsqd:{beta}:halt:system", "leadsquared system: HTTP 404", 0).Err()

	got := b.run(t, "", "stats")
	contains(t, "stdout", got.stdout, "halted accounts", "acme     keys refused (401)",
		"halted kinds", "acme     system  leadsquared system: HTTP 404", "beta     system  leadsquared system: HTTP 404")
	got = b.run(t, "", "stats", "--json")
	var j struct {
		HaltedKinds []struct{ Account, Kind, Reason string } `json:"halted_kinds"`
	}
	if err := json.Unmarshal([]byte(got.stdout), &j); err != nil || len(j.HaltedKinds) != 2 || j.HaltedKinds[0].Kind != "system" {
		t.Errorf("--json: %+v, %v\n%s", j, err, got.stdout)
	}

	check(t, b.run(t, "", "resume", "beta", "--kind", "push"), 0, "nothing to resume: account beta is not halted\n", "")
	check(t, b.run(t, "", "resume", "beta", "--kind", "system"), 0,
		"resumed system notifications of account beta (were halted: leadsquared system: HTTP 404)\nnotifyd resumes within its probe interval (30 s)\n", "")
	check(t, b.run(t, "", "resume", "acme"), 0,
		"resumed account acme (was halted: keys refused (401))\nresumed system notifications of account acme (were halted: leadsquared system: HTTP 404)\nnotifyd resumes within its probe interval (30 s)\n", "")
	if n := b.rdb.Exists(ctx, "lsqd:{acme}:halt", "lsqd:{acme}:halt:system", "lsqd:{beta}:halt:system").Val(); n != 0 {
		t.Errorf("%d halt keys left after resume", n)
	}
	check(t, b.run(t, "", "resume", "acme", "--kind", "sms"), 2, "*", "*")
	contains(t, "stdout", b.run(t, "", "stats").stdout, "no account is halted")
}
