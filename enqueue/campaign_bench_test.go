package enqueue_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
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
// redis-server and reports lines/s (whole campaign: both passes).
func BenchmarkCampaign(b *testing.B) {
	const lines = 10_000
	ctx := context.Background()
	r := testutil.StartRedis(b)
	c, err := enqueue.New(ctx, r.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		rep, err := c.Campaign(ctx, newCampaignLines(fmt.Sprintf("b%d", i), lines), enqueue.CampaignOptions{Name: "bench", Concurrency: benchConcurrency()})
		total += time.Since(start)
		if err != nil || rep.Enqueued != lines {
			b.Fatalf("campaign: %+v, %v", rep, err)
		}
		b.StopTimer()
		_ = r.Client().FlushDB(ctx).Err()
		b.StartTimer()
	}
	b.ReportMetric(float64(lines*b.N)/total.Seconds(), "lines/s")
}

func benchConcurrency() int {
	n, _ := strconv.Atoi(os.Getenv("BENCH_CONCURRENCY"))
	return n
}
