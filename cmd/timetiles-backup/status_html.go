// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
)

// The HTML report of `status --html`: one static file, no external assets
// (styles inline, the chart an inline SVG drawn here), no JavaScript, so it
// can be served by any web server or opened from disk.

// chartPoint is one run in the chart.
type chartPoint struct {
	at          time.Time
	size, added uint64
}

// svgChart draws size (line) and bytes added (bars) of the complete local
// runs over time, on one linear byte axis.
func svgChart(runs []*statusRun) template.HTML {
	var pts []chartPoint
	for _, r := range runs {
		if r.Legacy || r.Safety || r.Repositories[host.Local] != "complete" {
			continue
		}
		pts = append(pts, chartPoint{at: r.at, size: r.SizeBytes, added: r.BytesAdded})
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].at.Before(pts[j].at) })
	const w, h, left, right, top, bottom = 900.0, 320.0, 80.0, 20.0, 20.0, 50.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="chart-title">`, w, h, w, h)
	b.WriteString(`<title id="chart-title">Size and bytes added per complete local run over time</title>`)
	if len(pts) == 0 {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle" class="empty">No complete local run yet</text></svg>`, w/2, h/2)
		return template.HTML(b.String())
	}
	var maxY uint64 = 1
	for _, p := range pts {
		maxY = max(maxY, p.size, p.added)
	}
	yTop := niceCeil(float64(maxY))
	t0, t1 := pts[0].at, pts[len(pts)-1].at
	span := t1.Sub(t0)
	if span <= 0 {
		span = time.Hour
		t0 = t0.Add(-span / 2)
	}
	// The points sit inside the axis by pad, so the first and last bars
	// clear the labels.
	const pad = 24.0
	x := func(t time.Time) float64 { return left + pad + (w-left-right-2*pad)*float64(t.Sub(t0))/float64(span) }
	if len(pts) == 1 {
		x = func(time.Time) float64 { return left + (w-left-right)/2 }
	}
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/yTop) }
	// Axes, grid and labels.
	for i := 0; i <= 4; i++ {
		v := yTop * float64(i) / 4
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, left, y(v), w-right, y(v))
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, left-6, y(v)+4, humanize.IBytes(uint64(v)))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, left, h-bottom, w-right, h-bottom)
	fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x(pts[0].at), h-bottom+18, pts[0].at.Local().Format("2006-01-02 15:04"))
	if len(pts) > 1 {
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, w-right, h-bottom+18, t1.Local().Format("2006-01-02 15:04"))
	}
	// Bars: bytes added.
	bw := math.Max(3, math.Min(24, (w-left-right)/float64(len(pts))*0.5))
	for _, p := range pts {
		top := y(float64(p.added))
		if p.added > 0 {
			top = min(top, h-bottom-1) // a few bytes stay visible
		}
		fmt.Fprintf(&b, `<rect class="added" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s added</title></rect>`,
			x(p.at)-bw/2, top, bw, h-bottom-top, p.at.Local().Format("2006-01-02 15:04"), humanize.IBytes(p.added))
	}
	// Line and points: size.
	var path strings.Builder
	for i, p := range pts {
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, x(p.at), y(float64(p.size)))
	}
	fmt.Fprintf(&b, `<path class="size" d="%s"/>`, strings.TrimSpace(path.String()))
	for _, p := range pts {
		fmt.Fprintf(&b, `<circle class="size" cx="%.1f" cy="%.1f" r="4"><title>%s: %s</title></circle>`,
			x(p.at), y(float64(p.size)), p.at.Local().Format("2006-01-02 15:04"), humanize.IBytes(p.size))
	}
	// Legend.
	ly := h - 14
	fmt.Fprintf(&b, `<line class="size" x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/><text class="legend" x="%.0f" y="%.0f">size</text>`, left, ly-4, left+24, ly-4, left+30, ly)
	fmt.Fprintf(&b, `<rect class="added" x="%.0f" y="%.0f" width="14" height="10"/><text class="legend" x="%.0f" y="%.0f">bytes added</text>`, left+90, ly-11, left+110, ly)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds a byte count up to 1, 2, 4, 5 or 8 times a power of
// ten in its binary unit (KiB, MiB…), so that the axis' quarters read
// well: 500 KiB, 2 MiB, 40 GiB.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	unit := 1.0
	for v/unit >= 1024 {
		unit *= 1024
	}
	x := v / unit
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 4, 5, 8, 10} {
		if m*p >= x {
			return m * p * unit
		}
	}
	return 10 * p * unit
}

var statusTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"bytes": humanize.IBytes,
	"age":   func(s int64) string { return shortDuration(time.Duration(s) * time.Second) },
	"local": func(s string) string { return parseRFC3339(s).Local().Format("2006-01-02 15:04 MST") },
	"join":  strings.Join,
	"deref": func(p *int64) int64 { return *p },
	"title": func(s string) string { return strings.ToUpper(s[:1]) + s[1:] },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="timetiles-backup status">
<title>Backup status of {{.Host}}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 960px; color: #1d2330; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #d5d9e0; }
.verdict { padding: .6em 1em; border-radius: 6px; font-weight: 600; }
.ok { background: #e3f5e6; color: #17602a; }
.bad { background: #fde6e4; color: #8c1d12; }
.warn { color: #8a5a00; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #e6e9ee; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.stale, .failed, .missing, .incomplete { color: #b42318; font-weight: 600; }
.muted { color: #667085; }
svg .grid { stroke: #e6e9ee; }
svg .axis { stroke: #667085; }
svg .tick, svg .legend, svg .empty { font-size: 12px; fill: #475467; }
svg path.size, svg line.size { fill: none; stroke: #1f5fbf; stroke-width: 2.5; }
svg circle.size { fill: #1f5fbf; }
svg rect.added { fill: #f59e0b; }
</style>
</head>
<body>
<h1>Backup status of {{.Host}}</h1>
<p class="muted">Generated {{local .GeneratedAt}} by timetiles-backup status; BACKUP_MAX_AGE {{age .MaxAgeSeconds}}.</p>
{{if .Healthy}}<p id="verdict" class="verdict ok">OK: every component's newest complete run is younger than {{age .MaxAgeSeconds}} and the last backup succeeded.</p>
{{else}}<div id="verdict" class="verdict bad">PROBLEM:<ul>{{range .Problems}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
{{if .Warnings}}<ul id="warnings" class="warn">{{range .Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}

<h2>Repositories</h2>
<table id="repositories">
<thead><tr><th>Repository</th><th>Component</th><th>Newest complete run</th><th class="num">Age</th><th class="num">Size</th><th class="num">Added</th><th>Last verify</th></tr></thead>
<tbody>
{{range $r := .Repositories}}{{if not $r.Available}}<tr><td>{{$r.Name}}</td><td colspan="6" class="failed">not readable: {{$r.Error}}</td></tr>
{{else}}{{range $c := $r.Components}}<tr><td>{{$r.Name}}</td><td>{{$c.Component}}</td>{{with $c.Newest}}<td>{{.RunID}}</td><td class="num{{if $c.Stale}} stale{{end}}">{{age .AgeSeconds}}</td><td class="num">{{bytes .SizeBytes}}</td><td class="num">{{bytes .BytesAdded}}</td>{{else}}<td class="stale">none</td><td></td><td></td><td></td>{{end}}<td>{{with $r.LastVerify}}{{if .OK}}passed{{else}}<span class="failed">FAILED</span>{{end}}, {{age .AgeSeconds}} ago{{else}}<span class="muted">never</span>{{end}}</td></tr>
{{end}}{{end}}{{end}}</tbody>
</table>
{{with .OffsiteLag}}<p id="offsite-lag">Offsite: {{if .MissingRuns}}<span class="missing">{{len .MissingRuns}} complete run(s) missing, {{age .LagSeconds}} behind</span> ({{join .MissingRuns ", "}}){{else}}up to date{{end}}</p>{{end}}

<h2>Last backup, restore drill, schedule, lock</h2>
<ul id="facts">
<li>Last backup: {{with .LastBackup}}{{if .RunID}}run {{.RunID}}, {{end}}{{age .AgeSeconds}} ago ({{local .Time}}), took {{age .DurationSeconds}}: {{if .Success}}succeeded{{if and .Offsite (not .OffsiteSuccess)}}, offsite <span class="failed">FAILED</span>{{end}}{{else}}<span class="failed">FAILED (exit {{.ExitStatus}})</span> {{.Error}}{{end}}{{else}}<span class="muted">never recorded</span>{{end}}</li>
<li>Last restore drill: {{with .LastRestoreTest}}{{age .AgeSeconds}} ago: {{if .OK}}passed ({{.Components}}, {{printf "%.1f" .DurationSeconds}} s){{else}}<span class="failed">FAILED</span> {{.Error}}{{end}}{{else}}<span class="muted">never recorded</span>{{end}}</li>
{{range .Schedule}}<li>Scheduled ({{.Kind}}, {{.File}}): <code>{{.Schedule}}</code> runs {{join .Commands " && "}}; {{if .NextRun}}next {{local .NextRun}} (in {{age (deref .NextRunSeconds)}}){{else}}next run unknown: {{.NextRunError}}{{end}}</li>
{{else}}<li class="warn">No scheduled job installed (timetiles-backup backup auto).</li>
{{end}}<li>Run lock: {{with .Lock}}held by pid {{.PID}} ({{.Host}}), <code>{{.Command}}</code>, for {{age .AgeSeconds}}{{else}}free{{end}}</li>
</ul>

<h2>Size and bytes added per run</h2>
{{.Chart}}

<h2>Runs</h2>
<table id="runs">
<thead><tr><th>Run</th><th>Time</th>{{range .RepoNames}}<th>{{title .}}</th>{{end}}<th class="num">Size</th><th class="num">Added</th><th>Components</th></tr></thead>
<tbody>
{{range $run := .Runs}}<tr><td>{{$run.RunID}}{{if $run.Safety}} <span class="muted">(safety)</span>{{end}}{{if $run.Legacy}} <span class="muted">(legacy)</span>{{end}}</td><td>{{local $run.Time}}</td>{{range $.RepoNames}}{{$s := index $run.Repositories .}}<td class="{{$s}}">{{$s}}</td>{{end}}<td class="num">{{bytes $run.SizeBytes}}</td><td class="num">{{bytes $run.BytesAdded}}</td><td>{{range $i, $c := $run.Components}}{{if $i}}, {{end}}{{$c.Component}}{{end}}</td></tr>
{{else}}<tr><td colspan="7" class="muted">No backup runs yet.</td></tr>
{{end}}</tbody>
</table>
</body>
</html>
`))

// writeStatusHTML writes the report atomically (a web server never serves
// half a file).
func writeStatusHTML(path string, rep *statusReport) error {
	var names []string
	for _, r := range rep.Repositories {
		if r.Available {
			names = append(names, r.Name)
		}
	}
	data := struct {
		*statusReport
		Chart     template.HTML
		RepoNames []string
	}{rep, svgChart(rep.Runs), names}
	var buf bytes.Buffer
	if err := statusTmpl.Execute(&buf, data); err != nil {
		return err
	}
	return config.WriteFileAtomic(path, buf.Bytes(), 0o644)
}
