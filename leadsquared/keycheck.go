package leadsquared

import (
	"context"
	"encoding/json"
	"net/http"
)

// KeyCheckPath is the path of LeadSquared's key check ("Authenticate a User").
const KeyCheckPath = "/v2/Authentication.svc/UserByAccessKey.Get"

// CheckKeys asks LeadSquared who owns the client's keys and returns that
// user. It spends one call of the account's rate budget and sends nothing to
// anyone, so it suits a start-up or readiness check.
//
// Keys that do not exist, or whose user is inactive, are a KindCredentials
// *Error (HTTP 401). The key check answers on every region's host, so a
// success does not prove the region is right: compare User.APIHost with
// BaseURL.
func (c *Client) CheckKeys(ctx context.Context) (*User, error) {
	a, err := c.call(ctx, opKeyCheck, http.MethodGet, KeyCheckPath, nil)
	if err != nil {
		return nil, err
	}
	// LeadSquared sends OrgId as a string here but as a number in other user
	// APIs; accept both rather than fail a key check over it.
	var raw struct {
		User
		OrgId json.RawMessage `json:"OrgId"`
	}
	if err := c.decode(opKeyCheck, a, &raw, `{"Id":"…","Name":"…","Role":"…","OrgId":"…",…}`, func() bool { return raw.Id != "" }); err != nil {
		return nil, err
	}
	u := raw.User
	u.OrgId = jsonText(raw.OrgId)
	return &u, nil
}
