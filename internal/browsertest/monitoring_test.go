package browsertest

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/internal/demo"
)

// chromium returns the browser's path, skipping the test when there is
// none, or failing it under CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; CI must install it: apt-get install -y chromium")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium)")
	return ""
}

// browser starts a headless Chromium with a fresh profile that reaches only
// loopback addresses: every other host name fails to resolve (asynqmon's
// page asks Google for its fonts).
func browser(t *testing.T, execPath string) context.Context {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(execPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// screenshotPath is where a screenshot goes: LSQD_SCREENSHOT, with suffix
// before its extension, or the test's temporary directory.
func screenshotPath(t *testing.T, suffix string) string {
	p := os.Getenv("LSQD_SCREENSHOT")
	if p == "" {
		return filepath.Join(t.TempDir(), "monitoring"+suffix+".png")
	}
	ext := filepath.Ext(p)
	return strings.TrimSuffix(p, ext) + suffix + ext
}

// The monitoring UI of a running demo renders in a browser and lists the
// project's queues; the dead letters read as notifications.
func TestMonitoringUI_InABrowser(t *testing.T) {
	execPath := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := demo.Start(ctx, demo.Options{Size: 20, Transactional: 2, Addr: "127.0.0.1:0", Out: io.Discard, Log: io.Discard})
	if err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	t.Cleanup(d.Close)
	sum, err := d.Run(ctx)
	if err != nil || sum.Err() != nil {
		t.Fatalf("demo run: %v, %v", err, sum.Err())
	}
	base := "http://" + d.Addr() + config.PathMonitoring

	b := browser(t, execPath)
	if err := chromedp.Do(b, chromedp.Navigate(base)); err != nil {
		t.Fatalf("open %s: %v", base, err)
	}
	wctx, wcancel := context.WithTimeout(b, 30*time.Second)
	defer wcancel()
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](
		`document.body.innerText.includes("transactional") && document.body.innerText.includes("bulk")`)); err != nil {
		text, _ := chromedp.Run(b, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the page never listed the queues transactional and bulk: %v\npage text:\n%s", err, text)
	}
	shot(t, b, screenshotPath(t, ""))

	// The bulk queue's dead letters, each shown as a notification.
	archived := base + "queues/bulk?status=archived"
	if err := chromedp.Do(b, chromedp.Navigate(archived)); err != nil {
		t.Fatalf("open %s: %v", archived, err)
	}
	wctx2, wcancel2 := context.WithTimeout(b, 30*time.Second)
	defer wcancel2()
	if _, err := chromedp.Run(wctx2, chromedp.Poll[bool](
		`document.body.innerText.includes('"kind": "') && document.body.innerText.includes('"recipient": "')`)); err != nil {
		text, _ := chromedp.Run(b, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the dead letters never showed as notifications: %v\npage text:\n%s", err, text)
	}
	shot(t, b, screenshotPath(t, "-dead-letters"))
}

// shot saves a full-page PNG screenshot of the browser's page to path.
func shot(t *testing.T, b context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save the screenshot: %v", err)
	}
	t.Logf("screenshot: %s", path)
}
