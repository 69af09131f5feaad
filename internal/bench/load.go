package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// lines generates n campaign lines, alternating system and push
// notifications, with refs prefix-0, prefix-1, … and, when accounts > 0,
// the accounts a00, a01, … in turn (or, when names are set, those accounts
// in turn); it never holds them all in memory.
type lines struct {
	prefix   string
	n, i     int
	accounts int
	names    []string
	buf      []byte
}

func newLines(prefix string, n, accounts int) *lines {
	return &lines{prefix: prefix, n: n, accounts: accounts}
}

// newAccountLines is newLines for the named accounts, in turn.
func newAccountLines(prefix string, n int, names ...string) *lines {
	return &lines{prefix: prefix, n: n, names: names}
}

// accountName names the i-th account of a many-accounts run.
func accountName(i int) string { return fmt.Sprintf("a%02d", i) }

// guid is a valid LeadSquared user id.
func guid(i int) string { return fmt.Sprintf("2f5508b5-f7ed-11ea-b39f-%012d", i%1_000_000) }

func (g *lines) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.i == g.n {
			return 0, io.EOF
		}
		acct := ""
		switch {
		case len(g.names) > 0:
			acct = `,"account":"` + g.names[g.i%len(g.names)] + `"`
		case g.accounts > 0:
			acct = `,"account":"` + accountName(g.i%g.accounts) + `"`
		}
		if g.i%2 == 0 {
			g.buf = fmt.Appendf(g.buf, `{"type":"system","ref":"%s-%d"%s,"body":{"Type":"Lead","ToUser":"%s","CardContents":{"Message":"Lead %d was assigned to you","Description":"Call them today","CTA":{"CTALabel":"Open","CTALink":"https://example.com/leads/%d"}}}}`+"\n",
				g.prefix, g.i, acct, guid(g.i), g.i, g.i)
		} else {
			g.buf = fmt.Appendf(g.buf, `{"type":"push","ref":"%s-%d"%s,"body":{"UserId":"%s","Title":"Signal %d","Content":"A lead opened your e-mail","ClickURL":"https://example.com/s/%d"}}`+"\n",
				g.prefix, g.i, acct, guid(g.i), g.i, g.i)
		}
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// writeLines writes a campaign file of n lines.
func writeLines(path, prefix string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.Copy(w, newLines(prefix, n, 0)); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// campaign enqueues r with enqueue.Campaign, as notifyctl campaign does.
func campaign(ctx context.Context, redisURL, tempDir string, r io.Reader) (enqueue.CampaignReport, error) {
	c, err := enqueue.New(ctx, redisURL)
	if err != nil {
		return enqueue.CampaignReport{}, err
	}
	defer c.Close()
	rep, err := c.Campaign(ctx, r, enqueue.CampaignOptions{Name: "bench", TempDir: tempDir})
	if err == nil && rep.Enqueued != rep.Lines {
		err = fmt.Errorf("campaign enqueued %d of %d lines (%d duplicates, %d invalid)", rep.Enqueued, rep.Lines, rep.Duplicates, rep.Invalid)
	}
	return rep, err
}

// campaignLine is a campaign line as the baseline reads it.
type campaignLine struct {
	Type    string          `json:"type"`
	Ref     string          `json:"ref"`
	Account string          `json:"account"`
	Body    json.RawMessage `json:"body"`
}

// plainTask builds the task of a campaign line with the tasks package's
// constructors, as a producer without the enqueue package would: the same
// payload, queue, task ID and options as the campaign's.
func plainTask(line []byte, at time.Time) (*asynq.Task, error) {
	var l campaignLine
	if err := json.Unmarshal(line, &l); err != nil {
		return nil, err
	}
	meta := tasks.Meta{Ref: l.Ref, Account: cmpOr(l.Account, tasks.DefaultAccount), Lane: tasks.LaneBulk,
		EnqueuedAt: at, Campaign: "bench"}
	if l.Type == string(tasks.KindPush) {
		var b leadsquared.PushNotification
		if err := json.Unmarshal(l.Body, &b); err != nil {
			return nil, err
		}
		return tasks.NewPushTask(tasks.PushPayload{Meta: meta, Body: b})
	}
	var b leadsquared.SystemNotification
	if err := json.Unmarshal(l.Body, &b); err != nil {
		return nil, err
	}
	if b.ExternalSource == nil {
		b.ExternalSource = &leadsquared.ExternalSource{ExternalReferenceId: l.Ref}
	}
	return tasks.NewSystemTask(tasks.SystemPayload{Meta: meta, Body: b})
}

// plainEnqueue reads a campaign file and enqueues each line with
// asynq.Client.EnqueueContext, workers at a time (1: sequential, the
// baseline of the enqueue scenario). It returns the lines enqueued.
func plainEnqueue(ctx context.Context, redisURL string, r io.Reader, workers int) (int, error) {
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		return 0, err
	}
	rc := redis.NewClient(o)
	defer rc.Close()
	client := asynq.NewClientFromRedisClient(rc)
	jobs := make(chan []byte, 4*workers)
	var n atomic.Int64
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for line := range jobs {
				t, err := plainTask(line, time.Now().UTC())
				if err == nil {
					_, err = client.EnqueueContext(ctx, t)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					continue
				}
				n.Add(1)
			}
		}()
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() && ctx.Err() == nil {
		jobs <- append([]byte(nil), sc.Bytes()...)
	}
	close(jobs)
	wg.Wait()
	if first == nil {
		first = sc.Err()
	}
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return int(n.Load()), first
}

// sendOne sends one transactional (or, bulk, FIFO) system notification with
// a watched ref and returns when it was enqueued.
func sendOne(ctx context.Context, c *enqueue.Client, ref string, bulk bool, account string) (time.Time, error) {
	opts := []enqueue.SendOption{enqueue.WithRef(ref)}
	if bulk {
		opts = append(opts, enqueue.Bulk())
	}
	if account != "" {
		opts = append(opts, enqueue.WithAccount(account))
	}
	at := time.Now()
	res, err := c.SendSystem(ctx, leadsquared.SystemNotification{Type: "Task",
		CardContents: leadsquared.CardContents{Message: "Reminder " + ref}, ToUser: guid(9000)}, opts...)
	if err == nil && res.Duplicate {
		err = errors.New("ref " + ref + " is a duplicate")
	}
	return at, err
}
