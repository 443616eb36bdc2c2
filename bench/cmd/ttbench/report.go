// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"log"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/bench"
)

// side is one contestant of a pair.
type side struct {
	name string
	cmd  func() *exec.Cmd
	opts bench.RunOptions
	// prep runs untimed before every run (e.g. recreate a scratch database).
	prep func()
}

// measure runs every side once untimed (warm-up: page cache, restic's
// cache, a parent snapshot), then reps times, rotating the order each
// repetition so that no side always runs first or after the same one.
func (w *world) measure(reps int, sides ...side) [][]bench.Sample {
	res := make([][]bench.Sample, len(sides))
	once := func(s side) bench.Sample {
		if s.prep != nil {
			s.prep()
		}
		sm, err := bench.Run(s.cmd(), s.opts)
		if err != nil {
			w.tb.Fatalf("%s: %v", s.name, err)
		}
		return sm
	}
	for _, s := range sides {
		// The warm-up is sampled from /proc (every 50 ms; the timed runs
		// are not): where each side's CPU goes, process by process.
		ws := s
		if ws.opts.SampleEvery == 0 {
			ws.opts.SampleEvery = 50 * time.Millisecond
		}
		sm := once(ws)
		log.Printf("  warm-up %-28s %6.2f s  CPU %6.2f s", s.name, sm.Wall.Seconds(), sm.CPU.Seconds())
		if len(sm.Procs) > 0 {
			b := cpuBreakdown(sm.Procs)
			log.Printf("    CPU by process: %s", b)
			breakdowns = append(breakdowns, fmt.Sprintf("%s (%.2f s wall): %s", s.name, sm.Wall.Seconds(), b))
		}
	}
	for r := 0; r < reps; r++ {
		for k := range sides {
			i := (k + r) % len(sides)
			sm := once(sides[i])
			res[i] = append(res[i], sm)
			log.Printf("  rep %d %-30s %6.2f s  CPU %6.2f s", r+1, sides[i].name, sm.Wall.Seconds(), sm.CPU.Seconds())
		}
	}
	return res
}

// breakdowns are the CPU-by-process lines of every warm-up run, for the
// report.
var breakdowns []string

// cpuBreakdown sums sampled CPU by process name, largest first.
func cpuBreakdown(procs map[int]bench.Proc) string {
	by := map[string]time.Duration{}
	for _, p := range procs {
		by[p.Name] += p.CPU
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return by[names[i]] > by[names[j]] })
	var parts []string
	for _, n := range names {
		if by[n] >= 10*time.Millisecond {
			parts = append(parts, fmt.Sprintf("%s %.2f s", n, by[n].Seconds()))
		}
	}
	return strings.Join(parts, ", ")
}

// stats are a side's medians.
type stats struct {
	wall, cpu float64 // seconds
	bytes     int64
	n         int
}

func statsOf(ss []bench.Sample, bytes int64) stats {
	var wall, cpu []float64
	for _, s := range ss {
		wall = append(wall, s.Wall.Seconds())
		cpu = append(cpu, s.CPU.Seconds())
	}
	return stats{wall: bench.Median(wall), cpu: bench.Median(cpu), bytes: bytes, n: len(ss)}
}

func durStats(ds []time.Duration, cpus []time.Duration, bytes int64) stats {
	var wall, cpu []float64
	for i := range ds {
		wall = append(wall, ds[i].Seconds())
		if i < len(cpus) {
			cpu = append(cpu, cpus[i].Seconds())
		}
	}
	return stats{wall: bench.Median(wall), cpu: bench.Median(cpu), bytes: bytes, n: len(ds)}
}

func (s stats) mbps() float64 { return float64(s.bytes) / 1e6 / s.wall }

func (s stats) cpuPerGiB() float64 { return s.cpu / (float64(s.bytes) / bench.GiB) }

// String is "12.34 s · 85 MB/s · 7.10 CPU-s/GiB".
func (s stats) String() string {
	if s.bytes <= 0 {
		return fmt.Sprintf("%.3f s · CPU %.3f s", s.wall, s.cpu)
	}
	return fmt.Sprintf("%.2f s · %.0f MB/s · %.2f CPU-s/GiB", s.wall, s.mbps(), s.cpuPerGiB())
}

// row is one line of the report.
type row struct {
	id, measure string
	ours, base  string
	value       string
	target      string
	met         *bool // nil: informational
	note        string
}

func yes(b bool) *bool { return &b }

func (r row) verdict() string {
	switch {
	case r.met == nil:
		return ""
	case *r.met:
		return "met"
	default:
		return "MISSED"
	}
}

type report struct {
	started, finished time.Time
	args              []string
	machine, dataset  string
	loadEnd           string
	rows              []row
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### ttbench %s\n\n", r.started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- command: `go run ./bench/cmd/ttbench %s`\n", strings.Join(r.args, " "))
	fmt.Fprintf(&b, "- machine: %s; load average at end %s\n", r.machine, r.loadEnd)
	fmt.Fprintf(&b, "- dataset: %s\n", r.dataset)
	fmt.Fprintf(&b, "- duration: %s; medians of %d interleaved repetitions after one warm-up each\n\n", r.finished.Sub(r.started).Round(time.Second), *flagReps)
	b.WriteString("| # | measure | ours (median) | baseline (median) | value | target | |\n|---|---|---|---|---|---|---|\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", x.id, x.measure, x.ours, x.base, x.value, x.target, x.verdict())
	}
	var notes []string
	for _, x := range r.rows {
		if x.note != "" {
			notes = append(notes, fmt.Sprintf("- %s %s: %s", x.id, x.measure, x.note))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	if len(breakdowns) > 0 {
		b.WriteString("\nCPU by process, sampled from /proc every 50 ms during each side's untimed warm-up run (a process that lives less than a sample may be missed):\n\n")
		for _, l := range breakdowns {
			b.WriteString("- " + l + "\n")
		}
	}
	return b.String()
}
