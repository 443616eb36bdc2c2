// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	// chromedp (v0.23.1) drives Debian's chromium over the DevTools
	// protocol: the page as a browser renders it (layout, text, SVG), not
	// as a parser reads it. Never a downloaded browser.
	"github.com/chromedp/chromedp"
)

const chromiumBin = "/usr/bin/chromium"

// TestStatusHTMLInBrowser: `status --html` after real runs (three
// backdated to give the chart a time axis, one local-only so the offsite
// lags), opened in headless chromium: the rendered text names every run,
// the SVG chart has a point and a bar per complete local run and is laid
// out at its size, the screenshot shows the chart's colours, and the file
// loads nothing from outside and needs no JavaScript.
func TestStatusHTMLInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumBin); err != nil {
		t.Fatalf("%s is missing: scripts/install-deps.sh installs Debian's chromium", chromiumBin)
	}
	e := newEnv(t, false)
	e.synthetic("200000")
	e.vars["RESTIC_OFFSITE_REPOSITORY"] = filepath.Join(e.dir, "offsite")
	var ids []string
	for _, daysAgo := range []int{3, 2, 1} {
		at := time.Now().Add(-time.Duration(daysAgo) * 24 * time.Hour).UTC().Format(time.RFC3339)
		e.vars["SYNTH_SIZE"] = []string{"", "400000", "300000", "200000"}[daysAgo]
		ids = append(ids, e.backupRunID(t, "--offsite", "--time", at))
	}
	e.vars["SYNTH_SIZE"] = "500000"
	ids = append(ids, e.backupRunID(t)) // local only: the offsite lags

	report := filepath.Join(e.dir, "www", "status.html")
	os.MkdirAll(filepath.Dir(report), 0o755)
	r := e.run("status", "--html", report)
	if r.code != 0 {
		t.Fatalf("status --html: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	// Self-contained: no script, no external reference of any kind.
	if regexp.MustCompile(`(?i)<script|<link|<img|<iframe|@import|url\(|(src|href)=`).Match(raw) {
		t.Fatalf("the report references something outside itself or uses a script:\n%s", raw)
	}

	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumBin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.WindowSize(1200, 900),
		chromedp.UserDataDir(filepath.Join(e.dir, "chromium-profile")),
		// Nothing from the network, whatever the page asked for.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"))
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+report)); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	// Every later step is bounded (the first Run started the browser).
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range append([]string{"Backup status of e2e-host", "OK: every component", "Offsite: 1 complete run(s) missing",
		"Size and bytes added per run", "Last backup: run " + ids[3], "Run lock: free"}, ids...) {
		if !strings.Contains(text, want) {
			t.Errorf("rendered text lacks %q:\n%s", want, text)
		}
	}
	type box struct{ Width, Height float64 }
	type chart struct {
		SVG          box
		Points, Bars int
		Rows         int
		Title        string
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[chart](`(() => {
		const svg = document.querySelector('svg#chart'); const r = svg.getBoundingClientRect();
		return {SVG: {Width: r.width, Height: r.height},
			Points: svg.querySelectorAll('circle.size').length, Bars: svg.querySelectorAll('rect.added').length - 1,
			Rows: document.querySelectorAll('table#runs tbody tr').length, Title: document.title};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if got.SVG.Width != 900 || got.SVG.Height != 320 || got.Points != 4 || got.Bars != 4 || got.Rows != 4 || got.Title != "Backup status of e2e-host" {
		t.Fatalf("rendered page: %+v; want a 900×320 chart with 4 points and 4 bars (plus the legend's), 4 run rows", got)
	}

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("TIMETILES_TEST_ARTIFACTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, "status-report.png"), shot, 0o644)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() < 900 {
		t.Fatalf("screenshot is %v, want 1200 wide and at least the window's 900 high", b)
	}
	// The chart was painted: the size line's blue and the bars' amber.
	if n := countColour(img, 0x1f, 0x5f, 0xbf); n < 200 {
		t.Errorf("%d pixels of the size line's colour in the screenshot", n)
	}
	if n := countColour(img, 0xf5, 0x9e, 0x0b); n < 100 {
		t.Errorf("%d pixels of the bars' colour in the screenshot", n)
	}
}

// countColour counts the pixels within a small distance of an RGB colour
// (antialiasing and the bars' opacity shift it a little).
func countColour(img image.Image, r, g, b uint8) int {
	n := 0
	near := func(a uint32, want uint8) bool { d := int(a>>8) - int(want); return d > -40 && d < 40 }
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, r) && near(pg, g) && near(pb, b) {
				n++
			}
		}
	}
	return n
}
