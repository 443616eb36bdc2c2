// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/sdk"
)

// TestCheck: the notifier reports each configured channel and where it
// delivers, never a secret, and sends nothing; with no channel it warns
// (alerts would only reach the log file) and says how to configure one.
func TestCheck(t *testing.T) {
	dir := isolate(t)
	script := writeScript(t, dir, "alert.sh", "touch '"+filepath.Join(dir, "ran")+"'\n")
	n, _ := configured(t, map[string]string{
		keyScript: script, keySMTPHost: "smtp.example.org", keyAlertEmail: "ops@example.org", keySMTPUser: "u@example.org",
		keySMTPPass: "smtp-secret-pw", keyWebhookURL: "https://hooks.example.org/services/hook-token-123",
	})
	fs, err := n.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]sdk.Finding{}
	for _, f := range fs {
		t.Logf("%s", f)
		got[f.Name] = f
		assertNoSecret(t, "finding", f.String(), "smtp-secret-pw", "hook-token-123")
	}
	for name, want := range map[string]string{
		chScript:  script + " (executable)",
		chEmail:   "SMTP smtp.example.org:587 (starttls) to ops@example.org",
		chWebhook: "JSON POST to https://hooks.example.org",
	} {
		if f := got[name]; f.Severity != sdk.SeverityOK || f.Detail != want {
			t.Errorf("finding %q = %s, want ok: %s", name, f, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Errorf("Check ran the alert script")
	}

	n, _ = configured(t, map[string]string{})
	fs, err = n.Check(context.Background())
	if err != nil || len(fs) != 1 || fs[0].Severity != sdk.SeverityWarning ||
		!strings.Contains(fs[0].Problem, "no alert channel is configured: a failed backup is only appended to "+defaultLogFile) ||
		!strings.Contains(fs[0].Fix, "set EMAIL_SMTP_HOST and ALERT_EMAIL") {
		t.Errorf("Check without a channel = %v, %v; want one warning with the fix", fs, err)
	}
}
