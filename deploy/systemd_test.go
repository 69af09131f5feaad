package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
)

const unitFile = "deploy/systemd/notifyd.service"

// unit is a systemd unit: section to key to every value it is given.
type unit map[string]map[string][]string

func parseUnit(src string) unit {
	u := unit{}
	section := ""
	for line := range strings.Lines(src) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, _ := strings.Cut(line, "=")
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// last returns a key's effective (last) value.
func (u unit) last(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// parseSystemdTime reads a systemd time span such as 30, 30s, 1min 30s.
func parseSystemdTime(s string) (time.Duration, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, true
	}
	s = regexp.MustCompile(`(\d+)\s*(min|m)\b`).ReplaceAllString(s, "${1}m")
	s = regexp.MustCompile(`(\d+)\s*(sec|s)\b`).ReplaceAllString(s, "${1}s")
	d, err := time.ParseDuration(strings.ReplaceAll(s, " ", ""))
	return d, err == nil
}

func TestSystemd_Unit(t *testing.T) {
	t.Parallel()
	u := parseUnit(string(readFile(t, unitFile)))
	svc := u["Service"]
	if svc == nil {
		t.Fatal("no [Service] section")
	}

	if got := strings.Fields(u.last("Service", "ExecStart")); len(got) == 0 || got[0] != "/usr/local/bin/notifyd" {
		t.Errorf("ExecStart=%q, want /usr/local/bin/notifyd", got)
	}
	if !slices.Contains(svc["EnvironmentFile"], "/etc/lsqdispatch/notifyd.env") {
		t.Errorf("EnvironmentFile=%q, want /etc/lsqdispatch/notifyd.env", svc["EnvironmentFile"])
	}

	// Hardening: each key must have this effective value.
	want := map[string]string{
		"DynamicUser":           "yes",
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
		"PrivateDevices":        "yes",
		"CapabilityBoundingSet": "",
		"AmbientCapabilities":   "",
		"KillSignal":            "SIGTERM",
		"Restart":               "on-failure",
		"UMask":                 "0077",
	}
	for k, v := range want {
		if _, ok := svc[k]; !ok {
			t.Errorf("%s= is not set (want %q)", k, v)
		} else if got := u.last("Service", k); got != v {
			t.Errorf("%s=%q, want %q", k, got, v)
		}
	}
	families := strings.Fields(u.last("Service", "RestrictAddressFamilies"))
	if got := slices.Sorted(slices.Values(families)); !slices.Equal(got, []string{"AF_INET", "AF_INET6", "AF_UNIX"}) {
		t.Errorf("RestrictAddressFamilies=%q, want AF_INET AF_INET6 AF_UNIX", families)
	}
	if !slices.Contains(svc["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter=%q lacks @system-service", svc["SystemCallFilter"])
	}

	// Stopping lets deliveries finish within NOTIFYD_SHUTDOWN_TIMEOUT.
	env := map[string]string{}
	for _, e := range svc["Environment"] {
		for kv := range strings.FieldsSeq(e) {
			k, v, _ := strings.Cut(strings.Trim(kv, `"`), "=")
			env[k] = v
			checkNotifydEnvVar(t, unitFile+" Environment=", k)
			if secretName.MatchString(k) {
				t.Errorf("Environment=%s: secrets belong in the EnvironmentFile (mode 0600)", k)
			}
		}
	}
	stop, ok := parseSystemdTime(u.last("Service", "TimeoutStopSec"))
	if !ok {
		t.Errorf("TimeoutStopSec=%q: want a time span above NOTIFYD_SHUTDOWN_TIMEOUT", u.last("Service", "TimeoutStopSec"))
	}
	checkShutdownGrace(t, "TimeoutStopSec", stop, env[config.EnvShutdownTimeout])
}

// systemd-analyze verify, when systemd is there, with ExecStart pointed at
// a binary that exists (verify checks it).
func TestSystemd_Verify(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not on PATH")
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true binary")
	}
	src := regexp.MustCompile(`(?m)^ExecStart=\S+`).ReplaceAllString(string(readFile(t, unitFile)), "ExecStart="+truePath)
	tmp := filepath.Join(t.TempDir(), "notifyd.service")
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", tmp).CombinedOutput()
	// Warnings about the host's other units are not ours.
	if err != nil || strings.Contains(string(out), "notifyd.service") {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	}
}
