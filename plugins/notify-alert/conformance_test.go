// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/sdk"
	"github.com/timetiles/timetiles-backup/sdk/conformance"
)

// The built plugin passes the third-party conformance kit: every event is
// delivered to a real alert script (which records its arguments), and a
// script that fails is reported, not swallowed.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin := conformance.Build(t, ".", "notify-alert")
	dir := t.TempDir()
	record := filepath.Join(dir, "alerts.txt")
	script := writeScript(t, dir, "record.sh", `printf '%s\n%s\n--\n' "$1" "$2" >> '`+record+"'\n")
	failing := writeScript(t, dir, "fail.sh", "echo 'relay refused' >&2\nexit 1\n")
	conformance.RunNotifier(t, conformance.NotifierFixture{
		Binary: bin,
		Config: func(*testing.T) map[string]string {
			return map[string]string{keyChannels: chScript, keyScript: script}
		},
		Delivered: func(t *testing.T, e sdk.Event) {
			b, err := os.ReadFile(record)
			if err != nil {
				t.Fatal(err)
			}
			a := newAlert(e)
			if !strings.Contains(string(b), a.Subject+"\n"+a.Body+"\n--\n") {
				t.Errorf("the alert script did not receive %q:\n%s", a.Subject, b)
			}
		},
		FailingConfig: func(*testing.T) map[string]string {
			return map[string]string{keyChannels: chScript, keyScript: failing}
		},
		SuccessConfig: func(*testing.T) map[string]string {
			return map[string]string{keyChannels: chScript, keyScript: script, keyNotifySuccess: "true"}
		},
	})
}
