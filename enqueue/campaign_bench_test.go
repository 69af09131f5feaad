package enqueue_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

// campaignLines generates n valid lines, alternating system and push, with
// refs prefix-0, prefix-1, …, without holding them in memory.
type campaignLines struct {
	prefix string
	n, i   int
	buf    []byte
}

func newCampaignLines(prefix string, n int) *campaignLines {
	return &campaignLines{prefix: prefix, n: n}
}

func (g *campaignLines) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.i == g.n {
			return 0, io.EOF
		}
		if g.i%2 == 0 {
			g.buf = fmt.Appendf(g.buf, `{"type":"system","ref":"%s-%d","body":{"Type":"Lead","ToUser":"2f5508b5-f7ed-11ea-b39f-122cab85b441","CardContents":{"Message":"Lead %d was assigned to you","Description":"Call them today","CTA":{"CTALabel":"Open","CTALink":"https://example.com/leads/%d"}}}}`+"\n", g.prefix, g.i, g.i, g.i)
		} else {
			g.buf = fmt.Appendf(g.buf, `{"type":"push","ref":"%s-%d","body":{"UserId":"2f5508b5-f7ed-11ea-b39f-122cab85b441","Title":"Signal %d","Content":"A lead opened your e-mail","ClickURL":"https://example.com/s/%d"}}`+"\n", g.prefix, g.i, g.i, g.i)
		}
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// BenchmarkCampaign enqueues campaigns of 10,000 lines against a private
// redis-server and reports lines/s (whole campaign: both passes). The
// machine may be shared, so it also reports the CPU time spent per line by
// this process (generating the lines included) and by redis-server: with
// both cores to itself, a campaign runs at about 2 s / (their sum).
func BenchmarkCampaign(b *testing.B) {
	const lines = 10_000
	ctx := context.Background()
	r := testutil.StartRedis(b)
	c, err := enqueue.New(ctx, r.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	redisPID := pidOnPort(r.Addr)
	var total, self, server time.Duration
	b.ResetTimer()
	for i := range b.N {
		start, self0, server0 := time.Now(), selfCPU(), processCPU(redisPID)
		rep, err := c.Campaign(ctx, newCampaignLines(fmt.Sprintf("b%d", i), lines), enqueue.CampaignOptions{Name: "bench", Concurrency: benchConcurrency()})
		total += time.Since(start)
		self += selfCPU() - self0
		server += processCPU(redisPID) - server0
		if err != nil || rep.Enqueued != lines {
			b.Fatalf("campaign: %+v, %v", rep, err)
		}
		b.StopTimer()
		_ = r.Client().FlushDB(ctx).Err()
		b.StartTimer()
	}
	n := float64(lines * b.N)
	b.ReportMetric(n/total.Seconds(), "lines/s")
	b.ReportMetric(float64(self.Microseconds())/n, "go-cpu-µs/line")
	if redisPID != "" {
		b.ReportMetric(float64(server.Microseconds())/n, "redis-cpu-µs/line")
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pidOnPort finds the private redis-server listening on addr, or "" (it
// names itself "redis-server host:port").
func pidOnPort(addr string) string {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		cmd, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err == nil && strings.Contains(string(cmd), "redis-server") && strings.Contains(string(cmd), addr) {
			return d.Name()
		}
	}
	return ""
}

// processCPU reads a process's user and system time from /proc.
func processCPU(pid string) time.Duration {
	if pid == "" {
		return 0
	}
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// benchConcurrency reads BENCH_CONCURRENCY, to compare settings (0: the default).
func benchConcurrency() int {
	n, _ := strconv.Atoi(os.Getenv("BENCH_CONCURRENCY"))
	return n
}
