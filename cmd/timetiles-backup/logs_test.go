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

// TestConfigErrorSaidOnce: a plugin that refuses its configuration is
// reported as a configuration error once (the host's "configuration error"
// and the plugin's "invalid configuration" said the same thing twice),
// naming the variable and the fix; exit 2.
func TestConfigErrorSaidOnce(t *testing.T) {
	e := newEnv(t, false)
	delete(e.vars, "UPLOAD_HOST_DIR")
	e.vars["BACKUP_UPLOADS_VOLUME"] = "bad/name"
	r := e.run("backup", "uploads")
	if r.code != 2 {
		t.Fatalf("backup with a bad volume name: exit %d, want 2\n%s", r.code, r.stderr)
	}
	line := regexp.MustCompile(`(?m)^Error: .*$`).FindString(r.stderr)
	t.Logf("%s", line)
	if n := strings.Count(line, "configuration error") + strings.Count(line, "invalid configuration"); n != 1 {
		t.Errorf("the error says it is a configuration error %d times: %s", n, line)
	}
	if !strings.Contains(line, `BACKUP_UPLOADS_VOLUME="bad/name"`) || !strings.Contains(line, "docker volume ls") {
		t.Errorf("the error does not name the variable and the fix: %s", line)
	}
}
