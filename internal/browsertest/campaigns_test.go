package browsertest

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/internal/demo"
)

// demoRow finds the demo campaign's row on the campaigns page.
const demoRow = `document.querySelector('#campaigns tr[data-name="demo"]')`

// The campaigns page of a demo whose campaign is draining shows the
// campaign with its progress bar; Pause, Resume and Cancel (confirmed in a
// dialog) change its state from the browser.
func TestCampaignsUI_InABrowser(t *testing.T) {
	execPath := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// 300 notifications take a minute at the sandbox's limit: the campaign
	// runs for the whole test.
	d, err := demo.Start(ctx, demo.Options{Size: 300, Transactional: -1, Addr: "127.0.0.1:0", Out: io.Discard, Log: io.Discard})
	if err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	t.Cleanup(d.Close)
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { defer close(ran); _, _ = d.Run(runCtx) }()
	t.Cleanup(func() { stopRun(); <-ran }) // before d.Close

	b := browser(t, execPath)
	url := "http://" + d.Addr() + config.PathCampaigns
	if err := chromedp.Do(b, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	waitFor(t, b, "the demo campaign enqueued and running, its progress bar moving, and a link to the monitoring UI",
		demoRow+` && `+state("running")+` && `+demoRow+`.querySelector(".state").textContent === "running"`+
			` && `+demoRow+`.querySelector("progress").value > 0`+
			` && document.querySelector('a[href="`+config.PathMonitoring+`"]')`)
	shot(t, b, screenshotPath(t, "-campaigns"))

	click(t, b, "pause")
	waitFor(t, b, "the campaign paused, with Resume", state("paused")+` && `+demoRow+`.querySelector('button[data-verb="resume"]')`)
	shot(t, b, screenshotPath(t, "-campaigns-paused"))
	click(t, b, "resume")
	waitFor(t, b, "the campaign running again", state("running"))

	// Cancel asks first; the dialog names the campaign.
	dctx, dcancel := context.WithCancel(b)
	defer dcancel()
	asked := make(chan string, 1)
	dialogs := chromedp.Events(dctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			asked <- ev.Message
			_, _ = chromedp.Call(dctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	click(t, b, "cancel")
	select {
	case msg := <-asked:
		if !strings.Contains(msg, `"demo"`) {
			t.Errorf("the confirmation %q does not name the campaign", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Cancel asked for no confirmation")
	}
	waitFor(t, b, "the campaign cancelled, with no buttons",
		state("cancelled")+` && !`+demoRow+`.querySelector("button")`)
}

// state is a JavaScript test that the demo campaign's row shows state.
func state(s string) string {
	return demoRow + `.querySelector(".state").dataset.state === "` + s + `"`
}

// click clicks the demo campaign's button for verb.
func click(t *testing.T, b context.Context, verb string) {
	t.Helper()
	sel := `#campaigns tr[data-name="demo"] button[data-verb="` + verb + `"]`
	cctx, cancel := context.WithTimeout(b, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(cctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("click %s: %v", verb, err)
	}
}

// waitFor polls the JavaScript condition cond for 30 s, failing the test
// with the page's text when it never holds.
func waitFor(t *testing.T, b context.Context, what, cond string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(b, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool]("!!("+cond+")")); err != nil {
		text, _ := chromedp.Run(b, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the page never showed %s: %v\npage text:\n%s", what, err, text)
	}
}
