package leadsquared

import (
	"reflect"
	"strings"
	"testing"
)

func TestRegionHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		region string
		want   string
	}{
		{"", "api.leadsquared.com"},
		{"sg", "api.leadsquared.com"},
		{"us11", "api-us11.leadsquared.com"},
		{"in21", "api-in21.leadsquared.com"},
		{"in22", "api-in22.leadsquared.com"},
		{"ir31", "api-ir31.leadsquared.com"},
		{"ca12", "api-ca12.leadsquared.com"},
		{"US11", "api-us11.leadsquared.com"},
		{" in21 ", "api-in21.leadsquared.com"},
	}
	for _, tt := range tests {
		got, err := RegionHost(tt.region)
		if err != nil || got != tt.want {
			t.Errorf("RegionHost(%q) = %q, %v; want %q", tt.region, got, err, tt.want)
		}
	}
}

func TestRegionHost_Unknown(t *testing.T) {
	t.Parallel()
	for _, region := range []string{"us", "eu1", "api.leadsquared.com", "in2"} {
		host, err := RegionHost(region)
		if err == nil || host != "" {
			t.Errorf("RegionHost(%q) = %q, %v; want an error", region, host, err)
			continue
		}
		if !strings.Contains(err.Error(), "valid regions: sg, us11, in21, in22, ir31, ca12") {
			t.Errorf("RegionHost(%q) error %q does not list the valid regions", region, err)
		}
	}
}

func TestRegions(t *testing.T) {
	t.Parallel()
	want := []string{"sg", "us11", "in21", "in22", "ir31", "ca12"}
	got := Regions()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Regions() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if Regions()[0] != "sg" {
		t.Error("Regions() returns a slice the caller can corrupt")
	}
}
