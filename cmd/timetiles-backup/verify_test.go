// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parseVerify(t *testing.T, r result) verifyJSON {
	t.Helper()
	var v verifyJSON
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("verify --json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	return v
}

// backup verify: restic check plus the latest run read back and compared
// with its manifest, a restore test into a scratch database that is dropped
// again; a failing restore test and a corrupted pack file each exit 1 and
// alert "Backup Verify Failed".
func TestVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	mustRun(t, e.run("backup"), 0, "backup")

	r := mustRun(t, e.run("backup", "verify", "--restore-test", "--json"), 0, "verify --restore-test")
	v := parseVerify(t, r)
	if !v.Success || v.ReadDataSubset != "5%" || len(v.Repositories) != 1 {
		t.Fatalf("verify: %+v", v)
	}
	rep := v.Repositories[0]
	if rep.Check == "" || len(rep.Components) != 2 {
		t.Fatalf("local repository: %+v", rep)
	}
	for _, c := range rep.Components {
		if !c.OK || c.Bytes == 0 || c.Bytes != c.ExpectedBytes || (!c.Directory && (c.Checksum == "" || c.Checksum != c.ExpectedChecksum)) {
			t.Errorf("component read back: %+v", c)
		}
	}
	if len(v.RestoreTests) != 1 || !v.RestoreTests[0].OK || v.RestoreTests[0].Component != "db" ||
		!strings.HasPrefix(v.RestoreTests[0].Database, "timetiles_verify_") {
		t.Fatalf("restore tests: %+v", v.RestoreTests)
	}
	scratch := func() string {
		return e.pg.Psql(t, "postgres", "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'timetiles_verify_%'")
	}
	if s := scratch(); s != "" {
		t.Errorf("scratch databases left behind: %s", s)
	}
	if a := e.alerts(); a != "" {
		t.Errorf("alert for a passing verify:\n%s", a)
	}

	// A sanity query that fails makes the restore test fail; the scratch
	// database is dropped anyway.
	e.vars["BACKUP_PG_VERIFY_QUERY"] = "SELECT count(*) FROM no_such_table"
	r = mustRun(t, e.run("backup", "verify", "--restore-test", "--read-data-subset", "none"), 1, "verify with a failing restore test")
	if !strings.Contains(r.stdout, "no_such_table") || !strings.Contains(r.stderr, "Error: verify failed: restore test of db (snapshot ") {
		t.Errorf("the failure does not say what failed:\n%s\n%s", r.stdout, r.stderr)
	}
	if s := scratch(); s != "" {
		t.Errorf("scratch database left behind after a failed restore test: %s", s)
	}
	if n := strings.Count(e.alerts(), "] Backup Verify Failed"); n != 1 {
		t.Errorf("%d verify alerts, want 1:\n%s", n, e.alerts())
	}
	delete(e.vars, "BACKUP_PG_VERIFY_QUERY")

	// Bad sample sizes are configuration errors.
	r = mustRun(t, e.run("backup", "verify", "--read-data-subset", "lots"), 2, "verify --read-data-subset lots")
	if !strings.Contains(r.stderr, "--read-data-subset") {
		t.Errorf("error does not name the flag:\n%s", r.stderr)
	}
	e.vars["BACKUP_VERIFY_READ_DATA_SUBSET"] = "half"
	r = mustRun(t, e.run("backup", "verify"), 2, "verify with BACKUP_VERIFY_READ_DATA_SUBSET=half")
	if !strings.Contains(r.stderr, "BACKUP_VERIFY_READ_DATA_SUBSET") {
		t.Errorf("error does not name the variable:\n%s", r.stderr)
	}
	delete(e.vars, "BACKUP_VERIFY_READ_DATA_SUBSET")

	// Corrupt the largest pack file (the database dump's data).
	var largest string
	var size int64
	filepath.WalkDir(filepath.Join(e.repo, "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil && fi.Size() > size {
				largest, size = p, fi.Size()
			}
		}
		return nil
	})
	if largest == "" {
		t.Fatal("no pack files")
	}
	b, err := os.ReadFile(largest)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 3; i < len(b)/3+64; i++ {
		b[i] ^= 0xff
	}
	os.Chmod(largest, 0o644)
	if err := os.WriteFile(largest, b, 0o644); err != nil {
		t.Fatal(err)
	}

	// The read-back alone (no data sample) notices.
	r = mustRun(t, e.run("backup", "verify", "--read-data-subset", "none", "--json"), 1, "verify of a corrupted repository, no sample")
	if v := parseVerify(t, r); v.Success || len(v.Errors) == 0 {
		t.Errorf("verify reported success: %s", r.stdout)
	}
	// restic check reading all data notices too.
	r = mustRun(t, e.run("backup", "verify", "--read-data-subset", "100%", "--json"), 1, "verify of a corrupted repository")
	v = parseVerify(t, r)
	if v.Success || v.Repositories[0].CheckError == "" {
		t.Errorf("restic check did not report the corruption: %+v", v.Repositories[0])
	}
	// Alerts: the failed restore test, the invalid variable (a
	// configuration error; a mistyped flag is not alerted), the two
	// corruption findings.
	if n := strings.Count(e.alerts(), "] Backup Verify Failed"); n != 4 {
		t.Errorf("%d verify alerts, want 4:\n%s", n, e.alerts())
	}
}
