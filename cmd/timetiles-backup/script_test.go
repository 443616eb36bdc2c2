// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// TestScripts runs the CLI behaviour scripts in testdata/script (testscript
// format, github.com/rogpeppe/go-internal): the real binaries, plugins and
// restic; every script has its own $WORK directory.
//
// Variables: $BIN (binaries and plugins; also first in PATH and the plugin
// directory), BACKUP_RESTIC_BIN (pinned restic, in the environment so it
// wins over env files), HOME=$WORK, PGTEST_PORT (a PostgreSQL 15 cluster
// on 127.0.0.1 that user postgres reaches without a password, shared by
// the scripts).
//
// Extra commands:
//
//	code N PROG [ARGS...]   run PROG, require exit code N (stdout/stderr kept)
//	mode FILE PERM          require FILE's permission bits, e.g. 0600
//	snapshots REPO PW N     require N snapshots in restic repository REPO
//	linesdiffer A B N       A and B have as many lines and N of them differ
func TestScripts(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	bin := testenv.BuildBinaries(t)
	resticBin := testenv.Tool(t, "restic")
	pg := testenv.StartPostgres(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("BIN", bin)
			e.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			e.Setenv("TIMETILES_BACKUP_PLUGIN_DIR", bin)
			e.Setenv("BACKUP_RESTIC_BIN", resticBin)
			e.Setenv("HOME", e.WorkDir)
			e.Setenv("TMPDIR", os.TempDir())
			e.Setenv("PGBIN", pgBin)
			e.Setenv("PGTEST_PORT", strconv.Itoa(pg.Port))
			// Run locks of its own: the default, /var/lib/timetiles-backup,
			// is the machine's, and scripts running at once (here or in
			// another test process) with a repository named "repo" would
			// hold each other's lock.
			e.Setenv("BACKUP_STATE_DIR", filepath.Join(e.WorkDir, "state"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"code":        cmdCode,
			"mode":        cmdMode,
			"snapshots":   cmdSnapshots,
			"linesdiffer": cmdLinesDiffer,
		},
		RequireExplicitExec: true,
	})
}

func cmdCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: code N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("code: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

func cmdMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mode FILE PERM")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	if err != nil {
		ts.Fatalf("mode: %v", err)
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := uint64(fi.Mode().Perm()); (got == want) == neg {
		ts.Fatalf("%s has mode %04o (want %s%04o)", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

func cmdSnapshots(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: snapshots REPO PASSWORD N")
	}
	want, _ := strconv.Atoi(args[2])
	repo := ts.MkAbs(args[0])
	got := 0
	if _, err := os.Stat(filepath.Join(repo, "config")); err == nil {
		r := &restic.Repo{Binary: ts.Getenv("BACKUP_RESTIC_BIN"), Repository: repo, Password: args[1]}
		snaps, err := r.Snapshots(context.Background(), restic.SnapshotFilter{})
		ts.Check(err)
		got = len(snaps)
		var tags []string
		for _, s := range snaps {
			tags = append(tags, strings.Join(s.Tags, ","))
		}
		ts.Logf("snapshots: %s", strings.Join(tags, " | "))
	}
	if got != want {
		ts.Fatalf("%s holds %d snapshots, want %d", args[0], got, want)
	}
}

func cmdLinesDiffer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: linesdiffer A B N")
	}
	a := strings.Split(ts.ReadFile(args[0]), "\n")
	b := strings.Split(ts.ReadFile(args[1]), "\n")
	if len(a) != len(b) {
		ts.Fatalf("%s has %d lines, %s %d", args[0], len(a), args[1], len(b))
	}
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	if strconv.Itoa(n) != args[2] {
		ts.Fatalf("%d lines differ, want %s", n, args[2])
	}
}
