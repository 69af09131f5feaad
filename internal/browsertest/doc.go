// Package browsertest holds end-to-end checks that drive a real browser:
// headless Chromium, from Go through the DevTools protocol (chromedp),
// against the UI that `notifyd demo` serves. It has no code of its own; see
// its tests. They skip when Chromium is missing, except under CI=true,
// where they fail with a message to install it.
package browsertest
