package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// Sender makes LeadSquared calls for one account; *leadsquared.Client is one.
type Sender interface {
	SendSystem(ctx context.Context, n leadsquared.SystemNotification) (string, error)
	SendPush(ctx context.Context, n leadsquared.PushNotification) (string, error)
	CheckKeys(ctx context.Context) (*leadsquared.User, error)
}

var _ Sender = (*leadsquared.Client)(nil)

// Account is one LeadSquared account (a pair of keys) and its limit.
type Account struct {
	// Name is what tasks name in Meta.Account.
	Name string
	// Sender makes the account's calls.
	Sender Sender
	// Policy is the account's limit.
	Policy Policy
}

// DefaultPolicy is LeadSquared's Enterprise limit, 25 calls per 5 s, with a
// 100ms margin.
var DefaultPolicy = Policy{Rate: Rate{Calls: 25, Window: 5 * time.Second}, Margin: 100 * time.Millisecond}

func (a Account) validate() error {
	switch {
	case a.Name == "":
		return fmt.Errorf("account: name is empty")
	case a.Sender == nil:
		return fmt.Errorf("account %q: no LeadSquared client", a.Name)
	case a.Policy.Rate.Calls <= 0 || a.Policy.Rate.Window <= 0:
		return fmt.Errorf("account %q: rate %s must allow at least 1 call per positive window", a.Name, a.Policy.Rate)
	case a.Policy.Margin < 0:
		return fmt.Errorf("account %q: negative rate margin %s", a.Name, a.Policy.Margin)
	case a.Policy.DailyLimit < 0 || a.Policy.DailyReserve < 0 || (a.Policy.DailyLimit > 0 && a.Policy.DailyReserve >= a.Policy.DailyLimit):
		return fmt.Errorf("account %q: daily reserve %d must be below the daily limit %d", a.Name, a.Policy.DailyReserve, a.Policy.DailyLimit)
	}
	return nil
}
