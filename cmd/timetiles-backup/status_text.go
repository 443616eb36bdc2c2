// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/timetiles/timetiles-backup/host/metrics"
)

// status: the report as text for people, and what it adds to the metrics
// file (--json prints the report itself: status.go).

// ago formats the time since t, rounded for reading.
func ago(now, t time.Time) string { return shortDuration(now.Sub(t)) }

// shortDuration: "45s", "12m", "3h20m", "2d4h".
func shortDuration(d time.Duration) string {
	neg := ""
	if d < 0 {
		neg, d = "-", -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%s%ds", neg, int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%s%dm", neg, int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		m := int(d.Minutes()) - 60*h
		if m == 0 {
			return fmt.Sprintf("%s%dh", neg, h)
		}
		return fmt.Sprintf("%s%dh%02dm", neg, h, m)
	}
	days := int(d.Hours()) / 24
	return fmt.Sprintf("%s%dd%dh", neg, days, int(d.Hours())-24*days)
}

// text is the human-readable report; its first line is the verdict, as
// monitoring checks show it.
func (rep *statusReport) text() string {
	var b strings.Builder
	now := parseRFC3339(rep.GeneratedAt)
	if rep.Healthy {
		fmt.Fprintf(&b, "OK: backups are fresh (every component's newest complete run is younger than %s)\n",
			shortDuration(time.Duration(rep.MaxAgeSeconds)*time.Second))
	} else {
		fmt.Fprintf(&b, "PROBLEM: %s\n", strings.Join(rep.Problems, "; "))
	}
	fmt.Fprintf(&b, "\nHost %s, %s\n", rep.Host, now.Local().Format("2006-01-02 15:04:05 MST"))
	for _, sr := range rep.Repositories {
		fmt.Fprintf(&b, "\n%s repository", strings.ToUpper(sr.Name[:1])+sr.Name[1:])
		if !sr.Available {
			// A cause the verdict line already gives (the local
			// repository's) is said once; an offsite one is a warning,
			// given here.
			if slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.HasSuffix(p, sr.Error) }) {
				b.WriteString(": not readable (the problem above)\n")
			} else {
				fmt.Fprintf(&b, ": not readable: %s\n", sr.Error)
			}
		} else {
			if sr.CompleteRuns == 1 {
				b.WriteString(" (1 complete run)\n")
			} else {
				fmt.Fprintf(&b, " (%d complete runs)\n", sr.CompleteRuns)
			}
			var tb strings.Builder
			tw := tabwriter.NewWriter(&tb, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  COMPONENT\tNEWEST COMPLETE RUN\tAGE\tSIZE\tADDED\t")
			for _, sc := range sr.Components {
				if sc.Newest == nil {
					fmt.Fprintf(tw, "  %s\tnone\t-\t-\t-\tSTALE\n", sc.Component)
					continue
				}
				flag := ""
				if sc.Stale {
					flag = "STALE"
				}
				n := sc.Newest
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", sc.Component, n.RunID, shortDuration(time.Duration(n.AgeSeconds)*time.Second),
					humanize.IBytes(n.SizeBytes), humanize.IBytes(n.BytesAdded), flag)
			}
			tw.Flush()
			for _, l := range strings.SplitAfter(tb.String(), "\n") {
				b.WriteString(strings.TrimRight(l, " \n"))
				if strings.HasSuffix(l, "\n") {
					b.WriteString("\n")
				}
			}
		}
		if v := sr.LastVerify; v != nil {
			res := "passed"
			if !v.OK {
				res = "FAILED: " + v.Error
			}
			fmt.Fprintf(&b, "  last verify: %s ago (%s), %s\n", shortDuration(time.Duration(v.AgeSeconds)*time.Second),
				parseRFC3339(v.Time).Local().Format("2006-01-02 15:04"), res)
		} else {
			b.WriteString("  last verify: never recorded\n")
		}
	}
	if l := rep.OffsiteLag; l != nil {
		if len(l.MissingRuns) == 0 {
			b.WriteString("\nOffsite: up to date (every complete local run kept by retention is there)\n")
		} else {
			fmt.Fprintf(&b, "\nOffsite: %d complete run(s) missing, %s behind: %s\n", len(l.MissingRuns),
				shortDuration(time.Duration(l.LagSeconds)*time.Second), strings.Join(l.MissingRuns, ", "))
		}
	}
	b.WriteString("\n")
	if lb := rep.LastBackup; lb != nil {
		res := "succeeded"
		if !lb.Success {
			res = fmt.Sprintf("FAILED (exit %d): %s", lb.ExitStatus, lb.Error)
		} else if lb.Offsite && !lb.OffsiteSuccess {
			res = "succeeded locally, offsite FAILED"
		}
		run := ""
		if lb.RunID != "" {
			run = " run " + lb.RunID + ","
		}
		fmt.Fprintf(&b, "Last backup:%s %s ago, took %s, %s\n", run, shortDuration(time.Duration(lb.AgeSeconds)*time.Second),
			shortDuration(time.Duration(lb.DurationSeconds)*time.Second), res)
	} else {
		b.WriteString("Last backup: never recorded here\n")
	}
	if t := rep.LastRestoreTest; t != nil {
		res := fmt.Sprintf("passed (%s, %.1f s)", t.Components, t.DurationSeconds)
		if !t.OK {
			res = "FAILED: " + t.Error
		}
		fmt.Fprintf(&b, "Last restore drill: %s ago, %s\n", shortDuration(time.Duration(t.AgeSeconds)*time.Second), res)
	} else {
		b.WriteString("Last restore drill: never recorded (timetiles-backup backup verify --restore-test)\n")
	}
	if len(rep.Schedule) == 0 {
		b.WriteString("Schedule: no job installed (timetiles-backup backup auto)\n")
	} else {
		b.WriteString("Schedule:\n")
		for _, j := range rep.Schedule {
			next := "next run unknown: " + j.NextRunError
			if j.NextRun != nil {
				next = fmt.Sprintf("next %s (in %s)", parseRFC3339(*j.NextRun).Local().Format("2006-01-02 15:04 MST"),
					shortDuration(time.Duration(*j.NextRunSeconds)*time.Second))
			}
			fmt.Fprintf(&b, "  %s %q: %s — %s (%s)\n", j.Kind, j.Schedule, strings.Join(j.Commands, " && "), next, j.File)
		}
	}
	if l := rep.Lock; l != nil {
		fmt.Fprintf(&b, "Run lock: held by pid %d (%s), %q, for %s\n", l.PID, l.Host, l.Command, shortDuration(time.Duration(l.AgeSeconds)*time.Second))
	} else {
		b.WriteString("Run lock: free\n")
	}
	if len(rep.Warnings) > 0 {
		b.WriteString("\nWarnings:\n")
		for _, w := range rep.Warnings {
			b.WriteString("  - " + w + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// metrics is what status adds to the metrics file.
func (rep *statusReport) metrics() metrics.StatusMetrics {
	m := metrics.StatusMetrics{Time: parseRFC3339(rep.GeneratedAt), Healthy: rep.Healthy, Newest: map[[2]string]time.Time{}}
	for _, sr := range rep.Repositories {
		for _, sc := range sr.Components {
			if sc.Newest != nil {
				m.Newest[[2]string{sr.Name, sc.Component}] = parseRFC3339(sc.Newest.Time)
			}
		}
	}
	if l := rep.OffsiteLag; l != nil {
		n := len(l.MissingRuns)
		secs := float64(l.LagSeconds)
		m.OffsiteMissing, m.OffsiteLag = &n, &secs
	}
	return m
}
