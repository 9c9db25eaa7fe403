package web

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chrome is one headless Chromium driving the dashboard, with the steps
// TestBrowser uses: each step has a deadline, and a failed one leaves a
// screenshot named after it.
type chrome struct {
	t   *testing.T
	ctx context.Context
	out string // where screenshots go

	mu       sync.Mutex
	jsErrors []string
}

// newChrome starts Chromium, or skips as TestBrowser does.
func newChrome(t *testing.T) *chrome {
	t.Helper()
	ci := os.Getenv("CI") == "true"
	if testing.Short() && !ci {
		t.Skip("browser test skipped with -short")
	}
	chromium := chromiumPath()
	if chromium == "" {
		if ci {
			t.Fatal("chromium is not installed: CI must run the browser test (apt-get install chromium)")
		}
		t.Skip("chromium is not installed; install it to run the browser test")
	}
	profile, err := os.MkdirTemp("", "rampart-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Chromium's helpers may still write for a moment after it exits.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
	)
	// The flow may wait up to a TOTP period for a fresh code, twice.
	deadline, cancelDeadline := context.WithTimeout(t.Context(), 240*time.Second)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(deadline, opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); cancelDeadline() })
	c := &chrome{t: t, ctx: ctx, out: artifactsDir(t)}
	if err := chromedp.Listen(ctx, func(ev any) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			c.jsErrors = append(c.jsErrors, "exception: "+(&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError && ev.Entry.Source != log.EntrySourceNetwork {
				c.jsErrors = append(c.jsErrors, string(ev.Entry.Source)+": "+ev.Entry.Text)
			}
		}
	}); err != nil {
		t.Fatalf("starting chromium %s: %v", chromium, err)
	}
	return c
}

func (c *chrome) failed(what string, err error) {
	c.t.Helper()
	name := "FAILED-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, c.t.Name()) + "-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(what)) + ".png"
	shotCtx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(shotCtx, chromedp.Location())
	if png, serr := chromedp.Run(shotCtx, chromedp.CaptureScreenshot()); serr == nil {
		_ = os.WriteFile(filepath.Join(c.out, name), png, 0o644)
	}
	c.t.Fatalf("%s: %v (page %s; screenshot %s)", what, err, loc, filepath.Join(c.out, name))
}

// settled waits for htmx to finish and two frames to be painted.
var settled = chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
	_, err := chromedp.Evaluate[bool](`new Promise(resolve => {
		const busy = () => document.readyState !== "complete" ||
			document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added");
		const check = () => busy() ? setTimeout(check, 20) :
			requestAnimationFrame(() => requestAnimationFrame(() => resolve(true)));
		check();
	})`, chromedp.EvalAwaitPromise)(ctx, t)
	return chromedp.Void{}, err
})

const chromeStepTimeout = 30 * time.Second

func (c *chrome) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	sctx, cancel := context.WithTimeout(c.ctx, chromeStepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, append(actions, settled)...); err != nil {
		c.failed(what, err)
	}
}

// clickAndLoad clicks and waits for the page that the click loads.
func (c *chrome) clickAndLoad(what, sel string) {
	c.t.Helper()
	sctx, cancel := context.WithTimeout(c.ctx, chromeStepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, settled, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		c.failed(what, err)
	}
	if _, err := chromedp.Run(sctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		c.failed(what, err)
	}
	if err := chromedp.Do(sctx, settled); err != nil {
		c.failed(what, err)
	}
}

// js evaluates an expression; %q takes the next argument as JSON.
func (c *chrome) js(expr string, args ...any) string {
	c.t.Helper()
	for _, a := range args {
		b, _ := json.Marshal(a)
		expr = strings.Replace(expr, "%q", string(b), 1)
	}
	v, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		c.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return strings.TrimSpace(v)
}

func (c *chrome) text(sel string) string {
	c.t.Helper()
	return c.js(`(document.querySelector(%q)||{textContent:"<missing>"}).textContent`, sel)
}

func (c *chrome) location() string {
	c.t.Helper()
	loc, err := chromedp.Run(c.ctx, chromedp.Location())
	if err != nil {
		c.t.Fatal(err)
	}
	return loc
}

// screenshot saves a full-page PNG, or only the viewport (what a person
// sees while a modal is open).
func (c *chrome) screenshot(name string, viewportOnly ...bool) {
	c.t.Helper()
	shot := chromedp.FullScreenshot(100)
	if len(viewportOnly) > 0 && viewportOnly[0] {
		shot = chromedp.CaptureScreenshot()
	}
	png, err := chromedp.Run(c.ctx, shot)
	if err != nil {
		c.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(c.out, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("screenshot: %s", p)
}

func (c *chrome) checkNoJSErrors() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.jsErrors {
		c.t.Errorf("browser error: %s", e)
	}
}

// waitFor polls a JavaScript condition until it holds, up to within.
func (c *chrome) waitFor(what, cond string, within time.Duration) {
	c.t.Helper()
	sctx, cancel := context.WithTimeout(c.ctx, within+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(within))); err != nil {
		c.failed(what, err)
	}
}

// scrollTo brings the element sel to the top of the viewport.
func (c *chrome) scrollTo(sel string) {
	c.t.Helper()
	c.js(`document.querySelector(%q).scrollIntoView({block: "start"}), ""`, sel)
}

// login logs in through the forms at base: the password, then the code
// emailed to email (read from e's outbox).
func (c *chrome) login(e *env, base, email, password string) {
	c.t.Helper()
	c.step("open login", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
	c.step("fill login", chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), password))
	c.clickAndLoad("submit login", `#login-form button[type=submit]`)
	c.step("type the emailed code", chromedp.WaitVisible(chromedp.ID("code")), chromedp.SendKeys(chromedp.ID("code"), e.mail.Code(c.t, email)))
	c.clickAndLoad("submit code", `#verify-submit`)
}
