// SPDX-License-Identifier: Apache-2.0

package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestPluginLogLines: what a plugin logs reaches the operator under the
// plugin's short name, its integer fields as integers (go-plugin's own
// parsing made every number a float64: bytes="8.890163e+06"), without
// go-plugin's bookkeeping fields.
func TestPluginLogLines(t *testing.T) {
	e := newEnv(t, true)
	r := e.run("backup", "db")
	if r.code != 0 {
		t.Fatalf("backup db: %d\n%s", r.code, r.stderr)
	}
	line := regexp.MustCompile(`(?m)^\S+ \[INFO\] +source-postgres: database dumped: .*$`).FindString(r.stderr)
	if line == "" {
		t.Fatalf("no short-named source-postgres line:\n%s", r.stderr)
	}
	t.Logf("%s", line)
	if !regexp.MustCompile(` bytes=[1-9][0-9]{4,}( |$)`).MatchString(line) {
		t.Errorf("bytes is not an integer: %s", line)
	}
	for _, bad := range []string{"e+0", "@module", "timestamp=", "timetiles-backup.source-postgres", "timetiles-backup-source-postgres"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("plugin log lines carry %q:\n%s", bad, r.stderr)
		}
	}
}
