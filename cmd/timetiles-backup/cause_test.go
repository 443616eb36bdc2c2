// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
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
