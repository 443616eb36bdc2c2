// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/bench"
)

// p6more adds to P6 (the nightly run of unchanged data) the first run —
// every side into fresh, empty repositories, repository creation included
// — the bytes each uploads to S3, and the offsite catch-up's cost: a
// `backup db --offsite` that also copies one run the offsite missed,
// against one that has nothing to copy.
func p6more(w *world) []row {
	s3dir := filepath.Join(w.dir, "s3", "ttbench")
	n := 0
	var lrepo, oprefix string
	var firstUps []int64
	lastWasOff := false
	fresh := func() {
		if lastWasOff { // what the --offsite first run uploaded
			firstUps = append(firstUps, dirSize(filepath.Join(s3dir, oprefix)))
		}
		lastWasOff = false
		if lrepo != "" {
			os.RemoveAll(lrepo)
			os.RemoveAll(filepath.Join(s3dir, oprefix))
		}
		n++
		lrepo = filepath.Join(w.dir, fmt.Sprintf("p6-first-%d", n))
		oprefix = fmt.Sprintf("first-%d", n)
	}
	orepo := func() string { return strings.TrimSuffix(w.s3Repo, "offsite") + oprefix }
	local := side{name: "ours: backup db (local), first run", prep: fresh, cmd: func() *exec.Cmd {
		return w.cli([]string{"RESTIC_REPOSITORY=" + lrepo}, "backup", "db")
	}}
	s3 := side{name: "ours: backup db (S3 only), first run", prep: fresh, cmd: func() *exec.Cmd {
		return w.cli([]string{"RESTIC_REPOSITORY=" + orepo()}, "backup", "db")
	}}
	off := side{name: "ours: backup db --offsite, first run", prep: func() { fresh(); lastWasOff = true }, cmd: func() *exec.Cmd {
		return w.cli([]string{"RESTIC_REPOSITORY=" + lrepo, "RESTIC_OFFSITE_REPOSITORY=" + orepo()}, "backup", "db", "--offsite")
	}}
	res := w.measure(*flagReps, local, s3, off)
	l, s, a := statsOf(res[0], w.dumpBytes), statsOf(res[1], w.dumpBytes), statsOf(res[2], w.dumpBytes)
	if lastWasOff {
		firstUps = append(firstUps, dirSize(filepath.Join(s3dir, oprefix)))
	}
	firstUp := medianInt(firstUps)
	slower, which := l, "local"
	if s.wall > l.wall {
		slower, which = s, "S3"
	}
	r := a.wall / slower.wall
	rows := []row{ratioRow("P6", "first run (empty repositories): backup db --offsite ÷ slower single-repo backup ("+which+")", a, slower, r, "informational", r <= 1.15)}
	rows[0].met = nil
	rows[0].base = fmt.Sprintf("local %s; S3 %s", l, s)
	rows[0].note = fmt.Sprintf("S3 bytes uploaded by the first --offsite run (median): %s", fmtSize(firstUp))

	// Catch-up: a fresh pair of repositories; before each
	// timed catch-up run a local-only run dated a day earlier than the
	// last (retention keeps one run a day) is made, which the offsite
	// lacks. The other side is the same command with nothing to copy.
	fresh() // a pair made by backup --offsite: the offsite chunks like the local repository
	env := []string{"RESTIC_REPOSITORY=" + lrepo, "RESTIC_OFFSITE_REPOSITORY=" + orepo()}
	if out, err := w.cli(env, "backup", "db", "--offsite").CombinedOutput(); err != nil {
		w.tb.Fatalf("P6 catch-up: first run: %v\n%s", err, out)
	}
	days := 0
	var upCatch, upNight []int64
	missRun := func() {
		days++
		at := time.Now().AddDate(0, 0, -days).Format("2006-01-02 15:04:05")
		if out, err := w.cli(env, "backup", "db", "--time", at).CombinedOutput(); err != nil {
			w.tb.Fatalf("P6 catch-up: local-only run: %v\n%s", err, out)
		}
	}
	var before int64
	mark := func() { before = dirSize(filepath.Join(s3dir, oprefix)) }
	catch := side{name: "ours: backup db --offsite copying 1 missed run", prep: func() {
		if before != 0 {
			upNight = append(upNight, dirSize(filepath.Join(s3dir, oprefix))-before)
		}
		missRun()
		mark()
	}, cmd: func() *exec.Cmd { return w.cli(env, "backup", "db", "--offsite") }}
	night := side{name: "ours: backup db --offsite, nothing to copy", prep: func() {
		upCatch = append(upCatch, dirSize(filepath.Join(s3dir, oprefix))-before)
		mark()
	}, cmd: func() *exec.Cmd { return w.cli(env, "backup", "db", "--offsite") }}
	cres := w.measure(min(*flagReps, 5), catch, night)
	upNight = append(upNight, dirSize(filepath.Join(s3dir, oprefix))-before)
	c, nn := statsOf(cres[0], w.dumpBytes), statsOf(cres[1], w.dumpBytes)
	rows = append(rows, row{id: "P6", measure: "catch-up: backup db --offsite that copies 1 missed run − one with nothing to copy",
		ours: c.String(), base: nn.String(), value: fmt.Sprintf("%+.2f s, %+.2f CPU-s", c.wall-nn.wall, c.cpu-nn.cpu), target: "informational",
		note: fmt.Sprintf("S3 bytes uploaded: with catch-up %s, nightly %s (medians)", fmtSize(medianInt(upCatch)), fmtSize(medianInt(upNight)))})
	return rows
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func medianInt(v []int64) int64 {
	var f []float64
	for _, x := range v {
		f = append(f, float64(x))
	}
	if len(f) == 0 {
		return 0
	}
	return int64(bench.Median(f))
}
