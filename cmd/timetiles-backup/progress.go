// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"io"
	"os"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hashicorp/go-hclog"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/timetiles/timetiles-backup/host"
)

// Progress of long work. On a terminal: a bar per component and repository
// drawn with vbauerster/mpb (several bars at once, byte counters, average
// speed and ETA decorators, lines printed above the bars). Elsewhere (cron,
// a log file): a timestamped log line per component and repository at most
// every plainInterval. The figures come from the target plugins
// (TargetService.Progress), because in the fd and directory data paths the
// bytes never pass through the host.

// plainInterval spaces the progress lines of a non-interactive run.
const plainInterval = 15 * time.Second

// switchWriter lets the progress bars take over stderr while they are
// drawn, so that log lines appear above them instead of through them.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	return w.Write(p)
}

func (s *switchWriter) set(w io.Writer) io.Writer {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.w
	s.w = w
	return old
}

type progressView struct {
	mu        sync.Mutex
	log       hclog.Logger
	bars      map[string]*mpb.Bar
	order     []string
	p         *mpb.Progress
	sw        *switchWriter
	restore   io.Writer
	estimates map[string]uint64
	totals    map[string]uint64
	comp      map[string]string
	done      map[string]bool
	lastLine  map[string]time.Time
	start     map[string]time.Time
}

// stderrIsTerminal reports whether progress bars can be drawn.
func stderrIsTerminal() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

// newProgress prepares the progress display of a backup run. With bars,
// the previous run's component sizes serve as the expected totals of
// streams (a stream's length is known only at its end).
func newProgress(ctx context.Context, m *Meta, r *host.Runner, bars bool) *progressView {
	v := &progressView{log: r.Log, bars: map[string]*mpb.Bar{}, lastLine: map[string]time.Time{}, start: map[string]time.Time{},
		estimates: map[string]uint64{}, totals: map[string]uint64{}, comp: map[string]string{}, done: map[string]bool{}}
	sw, ok := m.Stderr.(*switchWriter)
	if !bars || !ok {
		return v
	}
	if runs, _, err := r.ListRuns(ctx, host.Local); err == nil {
		for _, run := range runs {
			if !run.Complete {
				continue
			}
			for c, s := range run.Components {
				if _, seen := v.estimates[c]; !seen && s.Size > 0 {
					v.estimates[c] = s.Size
				}
			}
		}
	}
	v.sw = sw
	v.p = mpb.New(mpb.WithOutput(sw.w), mpb.WithWidth(40), mpb.WithRefreshRate(200*time.Millisecond))
	v.restore = sw.set(v.p)
	return v
}

// update takes one report (from a plugin's goroutine).
func (v *progressView) update(ev host.ProgressEvent) {
	v.mu.Lock()
	defer v.mu.Unlock()
	key := ev.Component + " → " + ev.Sink
	if v.done[key] {
		return // a report that arrived after the stream's final figures
	}
	if _, ok := v.start[key]; !ok {
		v.start[key] = time.Now()
	}
	if ev.Done {
		v.done[key] = true
	}
	if v.p == nil {
		if ev.Done {
			return // the run report that follows gives the final figures
		}
		if time.Since(v.lastLine[key]) < plainInterval {
			return
		}
		v.lastLine[key] = time.Now()
		args := []any{"component", ev.Component, "target", ev.Sink, "bytes", humanize.IBytes(ev.BytesDone)}
		if el := time.Since(v.start[key]); el > time.Second {
			args = append(args, "rate", humanize.IBytes(uint64(float64(ev.BytesDone)/el.Seconds()))+"/s")
		}
		if ev.TotalBytes > 0 {
			args = append(args, "of", humanize.IBytes(ev.TotalBytes))
		}
		v.log.Info("progress", args...)
		return
	}
	b, ok := v.bars[key]
	if !ok {
		total, name := ev.TotalBytes, key
		if total == 0 && v.estimates[ev.Component] > 0 {
			total, name = v.estimates[ev.Component], key+" (~last run)"
		}
		b = v.p.AddBar(int64(total),
			mpb.PrependDecorators(decor.Name(name, decor.WC{W: 30, C: decor.DindentRight}),
				decor.CountersKibiByte("% .1f / % .1f", decor.WC{W: 24})),
			mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WC{W: 14}),
				decor.Name("  ETA "), decor.AverageETA(decor.ET_STYLE_GO, decor.WC{W: 6})),
		)
		// The stream's end completes the bar, not its estimated total.
		b.EnableTriggerComplete()
		v.bars[key], v.comp[key], v.totals[key] = b, ev.Component, total
		v.order = append(v.order, key)
	}
	if ev.Done {
		b.SetCurrent(int64(ev.BytesDone))
		b.SetTotal(int64(ev.BytesDone), true)
		return
	}
	switch {
	case ev.TotalBytes > 0 && ev.TotalBytes != v.totals[key]:
		v.totals[key] = ev.TotalBytes
		b.SetTotal(int64(ev.TotalBytes), false)
	case ev.BytesDone >= v.totals[key]:
		// Past the estimate (or none): keep a little room ahead.
		v.totals[key] = ev.BytesDone + ev.BytesDone/20 + 1
		b.SetTotal(int64(v.totals[key]), false)
	}
	b.SetCurrent(int64(ev.BytesDone))
}

// finish ends the bars of streams that did not complete (a failed run)
// and gives stderr back.
func (v *progressView) finish() {
	v.mu.Lock()
	p := v.p
	for _, k := range v.order {
		if !v.done[k] {
			v.bars[k].Abort(false)
		}
	}
	v.mu.Unlock()
	if p != nil {
		p.Wait()
		v.sw.set(v.restore)
	}
}
