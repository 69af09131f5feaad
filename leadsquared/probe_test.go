package leadsquared_test

import (
	"context"
	"errors"
	"testing"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/leadsquared/leadsquaredtest"
)

// ProbePath tells a right path (LeadSquared answers the invalid body 400)
// from a wrong one (404), and delivers nothing either way.
func TestClient_ProbePath(t *testing.T) {
	t.Parallel()
	lsq := leadsquaredtest.Start(t, leadsquaredtest.Config{})
	right, err := lsq.Client()
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := lsq.Client(func(c *leadsquared.Config) { c.SystemNotificationPath = "/v2/Converse.svc/Wrong" })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, op := range []string{"system", "push"} {
		if err := right.ProbePath(ctx, op); err != nil {
			t.Errorf("ProbePath(%s) on the right path: %v", op, err)
		}
	}
	if err := wrong.ProbePath(ctx, "push"); err != nil {
		t.Errorf("ProbePath(push) with only the system path wrong: %v", err)
	}
	err = wrong.ProbePath(ctx, "system")
	var le *leadsquared.Error
	if !errors.As(err, &le) || le.StatusCode != 404 || le.Kind != leadsquared.KindConfiguration {
		t.Errorf("ProbePath(system) on a wrong path: %v, want a 404 configuration error", err)
	}
	if err := right.ProbePath(ctx, "other"); err == nil {
		t.Error("ProbePath of an unknown op: no error")
	}
	bad, err := lsq.Client(func(c *leadsquared.Config) { c.SecretKey = "wrong-secret-key-0001" })
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.ProbePath(ctx, "push"); leadsquared.Classify(err) != leadsquared.KindCredentials {
		t.Errorf("ProbePath with refused keys: %v, want a credentials error", err)
	}
	st := lsq.Stats()
	if st.Accepted != 0 || st.ByStatus[400] != 3 || st.ByStatus[404] != 1 {
		t.Errorf("stats %+v: want nothing delivered, three 400s, one 404", st)
	}
}
