package leadsquared

import (
	"fmt"
	"strings"
)

// DefaultRegion is the region used when Config.Region is empty: Singapore,
// whose API host is api.leadsquared.com.
const DefaultRegion = "sg"

// regions maps LeadSquared's region codes to their API hosts, in the order
// LeadSquared's docs list them. Hosts are HTTPS only.
var regions = []struct{ code, host string }{
	{"sg", "api.leadsquared.com"},        // Singapore
	{"us11", "api-us11.leadsquared.com"}, // United States
	{"in21", "api-in21.leadsquared.com"}, // India (Mumbai)
	{"in22", "api-in22.leadsquared.com"}, // India (Hyderabad)
	{"ir31", "api-ir31.leadsquared.com"}, // Ireland
	{"ca12", "api-ca12.leadsquared.com"}, // Canada
}

// Regions returns the region codes RegionHost knows, "sg" first.
func Regions() []string {
	codes := make([]string, len(regions))
	for i, r := range regions {
		codes[i] = r.code
	}
	return codes
}

// RegionHost returns the API host of a LeadSquared region, e.g.
// "api-us11.leadsquared.com" for "us11". The code is case-insensitive and ""
// means "sg". An unknown code is an error that lists the valid ones.
//
// The key check (CheckKeys) answers on any region's host and reports the
// account's own API host in User.APIHost; every other call fails on the
// wrong region's host.
func RegionHost(region string) (string, error) {
	code := strings.ToLower(strings.TrimSpace(region))
	if code == "" {
		code = DefaultRegion
	}
	for _, r := range regions {
		if r.code == code {
			return r.host, nil
		}
	}
	return "", fmt.Errorf("leadsquared: unknown region %q; valid regions: %s", region, strings.Join(Regions(), ", "))
}
