package bench

import (
	"math"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func call(ms int, ref string, counted bool) sandbox.Call {
	return sandbox.Call{Time: t0.Add(time.Duration(ms) * time.Millisecond), Kind: sandbox.KindSystem,
		Ref: ref, Counted: counted, Accepted: counted}
}

func TestUtilization(t *testing.T) {
	t.Parallel()
	// 5 per second, paced 200ms apart: full use, whatever the retries after.
	var calls []sandbox.Call
	for i := range 11 {
		calls = append(calls, call(200*i, string(rune('a'+i)), true))
	}
	calls = append(calls, call(5000, "a", true)) // a retry after the backlog
	calls = append(calls, sandbox.Call{Time: t0, Kind: sandbox.KindKeyCheck, Counted: true})
	if got := utilization(calls, 5, time.Second); math.Abs(got-1) > 1e-9 {
		t.Errorf("utilization = %v, want 1", got)
	}
	// Half the pace: half the use.
	var slow []sandbox.Call
	for i := range 11 {
		slow = append(slow, call(400*i, string(rune('a'+i)), true))
	}
	if got := utilization(slow, 5, time.Second); math.Abs(got-0.5) > 1e-9 {
		t.Errorf("utilization at half pace = %v, want 0.5", got)
	}
	if got := utilization(nil, 5, time.Second); got != 0 {
		t.Errorf("utilization of nothing = %v, want 0", got)
	}
}

func TestMaxAttempts(t *testing.T) {
	t.Parallel()
	calls := []sandbox.Call{call(0, "a", true), call(999, "b", false), call(1000, "c", true), call(1001, "d", true),
		{Time: t0.Add(1500 * time.Millisecond)}} // no API path: not counted
	// (t-1s, t]: at 1000 the call at 0 has left; at 999 it has not.
	if got := maxAttempts(calls, time.Second); got != 3 {
		t.Errorf("maxAttempts = %d, want 3", got)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %s, want %s", c.p, got, c.want)
		}
	}
}

func TestLatencies_Quantile(t *testing.T) {
	t.Parallel()
	l := latencies{got: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond}, missing: 1, horizon: 40 * time.Second}
	if v, text := l.quantile(50); v != 20 || text != "" {
		t.Errorf("p50 = %v %q, want 20 ms", v, text)
	}
	if v, text := l.quantile(99); !math.IsNaN(v) || text != "> 40s (3 of 4 arrived)" {
		t.Errorf("p99 = %v %q, want censored", v, text)
	}
}

func TestSteadyRate(t *testing.T) {
	t.Parallel()
	var ts []time.Time
	for i := range 100 {
		ts = append(ts, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if got := steadyRate(ts); math.Abs(got-1000) > 1e-6 {
		t.Errorf("steadyRate = %v, want 1000/s", got)
	}
}

func TestParseInfo(t *testing.T) {
	t.Parallel()
	info := parseInfo("# Commandstats\r\ncmdstat_evalsha:calls=10,usec=30,usec_per_call=3.00\r\ncmdstat_info:calls=4,usec=1\r\n" +
		"# Memory\r\nused_memory:1048576\r\n# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:0.25\r\n")
	if info.TotalCommands() != 10 || info.UsedMemory != 1<<20 || info.CPU != 1750*time.Millisecond {
		t.Errorf("parseInfo = %+v", info)
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	calls, window, err := parseRate("8.3333/1s")
	if err != nil || calls != 8.3333 || window != time.Second {
		t.Errorf("parseRate = %v %v %v", calls, window, err)
	}
	for _, bad := range []string{"", "25", "0/1s", "x/1s", "25/0s", "25/x"} {
		if _, _, err := parseRate(bad); err == nil {
			t.Errorf("parseRate(%q) accepted", bad)
		}
	}
}
