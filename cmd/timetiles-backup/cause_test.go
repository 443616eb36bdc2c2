// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/sdk"
)

// TestRestoreShowsTheRealCauseOnce: when pg_restore fails, or the role may
// not create the database, the operator reads PostgreSQL's own message
// first; restic's broken pipe is not shown as the cause and "stream
// aborted" is not repeated.
func TestRestoreShowsTheRealCauseOnce(t *testing.T) {
	e := newEnv(t, true)
	if r := e.run("backup", "db"); r.code != 0 {
		t.Fatalf("backup: %s", r.stderr)
	}
	// A role that may connect but owns nothing and may not create databases.
	e.pg.Psql(t, "timetiles", "CREATE ROLE restorer LOGIN NOCREATEDB")
	e.vars["BACKUP_DATABASE_URL"] = fmt.Sprintf("postgres://restorer@127.0.0.1:%d/timetiles?sslmode=disable", e.pg.Port)

	for _, tc := range []struct {
		what string
		args []string
		want string
	}{
		{"pg_restore fails", []string{"restore", "latest", "--component", "db", "--yes", "--no-safety-backup"}, "must be owner of"},
		{"may not create the database", []string{"restore", "latest", "--component", "db", "--yes", "--to-database", "inspect"}, "permission denied to create database"},
	} {
		r := e.run(tc.args...)
		t.Logf("%s: exit %d\n%s", tc.what, r.code, r.stderr)
		errLine := ""
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.HasPrefix(l, "Error: ") {
				errLine = l
				break
			}
		}
		if r.code != 1 || !strings.Contains(errLine, tc.want) {
			t.Errorf("%s: exit %d, want 1 and the error line to name %q:\n%s", tc.what, r.code, tc.want, r.stderr)
		}
		if i, j := strings.Index(errLine, tc.want), strings.Index(errLine, "restic"); j >= 0 && j < i {
			t.Errorf("%s: restic comes before the cause:\n%s", tc.what, errLine)
		}
		// A failed restore leaves no restic lock behind.
		if locks, err := e.restic().Locks(context.Background()); err != nil || len(locks) != 0 {
			t.Errorf("%s: restic locks after the failed restore: %+v %v", tc.what, locks, err)
		}
		for _, bad := range []string{"broken pipe", "stream aborted: stream aborted"} {
			if strings.Contains(r.stderr, bad) {
				t.Errorf("%s: the output shows %q:\n%s", tc.what, bad, r.stderr)
			}
		}
	}
}

// A backup whose uploads directory is missing names that cause once: not
// followed by the abort it caused in the target ("stream aborted").
func TestBackupShowsTheRealCauseOnce(t *testing.T) {
	e := newEnv(t, false)
	alerts := e.alertScript()
	missing := filepath.Join(e.dir, "no-such-uploads")
	e.vars["UPLOAD_HOST_DIR"] = missing
	r := e.run("backup", "uploads")
	t.Logf("exit %d\n%s", r.code, r.stderr)
	var errLines []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "Error: ") {
			errLines = append(errLines, l)
		}
	}
	if r.code == 0 || len(errLines) != 1 || !strings.Contains(errLines[0], missing) {
		t.Fatalf("exit %d, want a failure and one error line naming %s:\n%s", r.code, missing, r.stderr)
	}
	if strings.Contains(r.stderr, sdk.ErrAborted.Error()) {
		t.Errorf("the output repeats %q after the cause:\n%s", sdk.ErrAborted, r.stderr)
	}
	if a := alerts(); len(a) != 1 || !strings.Contains(a[0].Body, missing) || strings.Contains(a[0].Body, sdk.ErrAborted.Error()) {
		t.Errorf("alerts %+v, want one naming %s without %q", a, missing, sdk.ErrAborted)
	}
	if s := e.snapshots(); len(s) != 0 {
		t.Errorf("%d snapshots after the failed backup", len(s))
	}
}
