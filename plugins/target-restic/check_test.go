// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// TestCheck: the target checks itself with the real restic — the restic
// it runs, a repository not created yet (Check creates nothing), one that
// opens with the password, and one that does not, with the fix — and a
// restic below the floor is refused naming the binary and the fix.
func TestCheck(t *testing.T) {
	bin := testenv.Tool(t, "restic")
	repo := filepath.Join(t.TempDir(), "repo")
	check := func(t *testing.T, pw string) map[string]sdk.Finding {
		t.Helper()
		tg, err := configure(t, "local", map[string]string{"BACKUP_RESTIC_BIN": bin, "RESTIC_PASSWORD": pw, "RESTIC_REPOSITORY": repo})
		if err != nil {
			t.Fatal(err)
		}
		fs, err := tg.Check(context.Background())
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		out := map[string]sdk.Finding{}
		for _, f := range fs {
			t.Logf("%s", f)
			out[f.Name] = f
		}
		if f := out["restic"]; f.Severity != sdk.SeverityOK || !strings.HasPrefix(f.Detail, "restic 0.18.1 ("+bin+")") {
			t.Errorf("restic finding %s, want ok naming restic 0.18.1 at %s", f, bin)
		}
		return out
	}

	t.Run("NotCreatedYet", func(t *testing.T) {
		f := check(t, "pw1")["repository"]
		if f.Severity != sdk.SeverityOK || !strings.Contains(f.Detail, repo+" is reachable; no repository there yet") {
			t.Errorf("repository finding %s, want ok: no repository yet", f)
		}
		if _, err := os.Stat(repo); !os.IsNotExist(err) {
			t.Errorf("Check created something at %s: %v", repo, err)
		}
	})
	tg, err := configure(t, "local", map[string]string{"BACKUP_RESTIC_BIN": bin, "RESTIC_PASSWORD": "pw1", "RESTIC_REPOSITORY": repo})
	if err != nil {
		t.Fatal(err)
	}
	if created, err := tg.Init(context.Background()); err != nil || !created {
		t.Fatalf("Init: %v, %v", created, err)
	}
	t.Run("Opens", func(t *testing.T) {
		f := check(t, "pw1")["repository"]
		if f.Severity != sdk.SeverityOK || f.Detail != repo+" exists and opens with the password" {
			t.Errorf("repository finding %s, want ok: opens", f)
		}
	})
	t.Run("WrongPassword", func(t *testing.T) {
		f := check(t, "pw2")["repository"]
		if f.Severity != sdk.SeverityError || !strings.Contains(f.Problem, "RESTIC_PASSWORD does not open "+repo) ||
			!strings.Contains(f.Fix, "set the password this repository was created with") {
			t.Errorf("repository finding %s, want the wrong password and its fix", f)
		}
		if strings.Contains(f.Problem+f.Fix, "pw2") {
			t.Errorf("the finding shows the password: %s", f)
		}
	})
	t.Run("ResticTooOld", func(t *testing.T) {
		fake := filepath.Join(t.TempDir(), "old-restic")
		if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'restic 0.14.0 compiled with go1.19 on linux/amd64'\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := configure(t, "local", map[string]string{"RESTIC_PASSWORD": "x", "BACKUP_RESTIC_BIN": fake})
		if err == nil || !strings.Contains(err.Error(), fake+": restic 0.14.0 is too old") || !strings.Contains(err.Error(), "install restic ≥ 0.16.0") {
			t.Errorf("Configure with restic 0.14.0: %v; want the binary, the version and the fix", err)
		}
	})
}
