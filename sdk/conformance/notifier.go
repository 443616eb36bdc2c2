// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// NotifierFixture describes a Notifier plugin under test. Set exactly one
// of Binary and New.
type NotifierFixture struct {
	// Binary is a built plugin, named timetiles-backup-notify-<name>.
	Binary string
	// New returns a fresh in-process implementation.
	New func() sdk.Notifier

	// Config returns the configuration of a working notifier.
	Config func(t *testing.T) map[string]string
	// Delivered checks that e reached its destination (the recording
	// script ran, the test server got the request). It is what makes
	// "delivered" more than the plugin's word.
	Delivered func(t *testing.T, e sdk.Event)
	// FailingConfig returns a configuration that Configure accepts but
	// under which delivery fails (an alert script that exits 1, a server
	// that answers 500).
	FailingConfig func(t *testing.T) map[string]string
	// SuccessConfig, optional, for a notifier that declares
	// sdk.CapSuccessEvents: Config plus the operator's opt-in to success
	// notifications. Config itself must leave them off (the default).
	SuccessConfig func(t *testing.T) map[string]string
}

// Events the kit delivers: one per severity.
func testEvents() []sdk.Event {
	now := time.Now().Truncate(time.Second)
	return []sdk.Event{
		{Kind: "backup_failed", Severity: "error", Subject: "Backup Failed", Body: "Backup Failed on conformance-host: pg_dump exited 1",
			Component: "db", RunID: "run-conformance-1", Repository: "local", Error: "pg_dump exited 1", Hostname: "conformance-host", Time: now},
		{Kind: "offsite_failed", Severity: "warning", Subject: "Offsite Backup Failed", Body: "Offsite Backup Failed on conformance-host: connection refused",
			RunID: "run-conformance-2", Repository: "offsite", Error: "connection refused", Hostname: "conformance-host", Time: now},
		{Kind: "test", Severity: "info", Subject: "Test Alert", Body: "Test Alert from timetiles-backup on conformance-host.",
			Hostname: "conformance-host", Time: now},
	}
}

// successEvent is what the host sends notifiers that declare
// sdk.CapSuccessEvents after a successful backup.
func successEvent() sdk.Event {
	return sdk.Event{Kind: "backup_succeeded", Severity: "info", Subject: "Backup Succeeded",
		Body:      "Backup run run-conformance-3 on conformance-host is complete in the local repository: db 1.0 MiB (12 KiB new).",
		Component: "db", RunID: "run-conformance-3", Repository: "local", Hostname: "conformance-host", Time: time.Now().Truncate(time.Second)}
}

// RunNotifier runs the Notifier checks as subtests of t.
func RunNotifier(t *testing.T, f NotifierFixture) {
	t.Helper()
	subj := subject{kind: sdk.KindNotifier, binary: f.Binary}
	if f.New != nil {
		subj.newFn = func() sdk.Plugin { return f.New() }
	}
	subj.validate(t)
	if f.Config == nil || f.Delivered == nil || f.FailingConfig == nil {
		t.Fatal("conformance: NotifierFixture needs Config, Delivered and FailingConfig")
	}

	t.Run("Info", func(t *testing.T) {
		in := subj.launch(t, GRPC)
		checkInfo(t, in)
		checkDeclared(t, in.info, f.Config(t))
		checkDeclared(t, in.info, f.FailingConfig(t))
	})

	t.Run("Check", func(t *testing.T) {
		in := subj.start(t, GRPC, "", f.Config(t))
		if fs, ok := runCheck(t, in); ok && hasError(fs) {
			t.Errorf("contract: under the fixture's working Config, Check reports an error")
		}
	})

	t.Run("Deliver", func(t *testing.T) {
		in := subj.start(t, GRPC, "", f.Config(t))
		for _, e := range testEvents() {
			delivered, err := in.c.Notify(ctxTimeout(t), convert.EventToPB(e))
			if err != nil {
				t.Fatalf("Notify(%s): %v", e.Kind, err)
			}
			if len(delivered) == 0 {
				t.Errorf("Notify(%s) succeeded but names no channel that delivered it", e.Kind)
			}
			f.Delivered(t, e)
		}
	})

	t.Run("SuccessEvents", func(t *testing.T) {
		in := subj.start(t, GRPC, "", f.Config(t))
		if !in.has(sdk.CapSuccessEvents) {
			t.Log("the plugin does not declare " + sdk.CapSuccessEvents + ": the host never sends it a success event")
			return
		}
		e := successEvent()
		delivered, err := in.c.Notify(ctxTimeout(t), convert.EventToPB(e))
		if err != nil || len(delivered) != 0 {
			t.Errorf("contract: success notifications are opt-in, off by default: without the opt-in Notify(%s) must deliver nothing and succeed; got %v, %v", e.Kind, delivered, err)
		}
		if f.SuccessConfig == nil {
			t.Log("no SuccessConfig: the opted-in delivery is not checked")
			return
		}
		in = subj.start(t, GRPC, "", f.SuccessConfig(t))
		delivered, err = in.c.Notify(ctxTimeout(t), convert.EventToPB(e))
		if err != nil || len(delivered) == 0 {
			t.Fatalf("opted in (SuccessConfig), Notify(%s) delivered by %v: %v", e.Kind, delivered, err)
		}
		f.Delivered(t, e)
		// Failures need no opt-in: they are delivered under SuccessConfig too.
		if delivered, err := in.c.Notify(ctxTimeout(t), convert.EventToPB(testEvents()[0])); err != nil || len(delivered) == 0 {
			t.Errorf("under SuccessConfig, a failure was delivered by %v: %v", delivered, err)
		}
	})

	t.Run("Failure", func(t *testing.T) {
		in := subj.start(t, GRPC, "", f.FailingConfig(t))
		delivered, err := in.c.Notify(ctxTimeout(t), convert.EventToPB(testEvents()[0]))
		if err == nil {
			t.Fatalf("contract: a failed delivery must be reported, not swallowed; Notify with FailingConfig succeeded (delivered by %v)", delivered)
		}
		if err.Error() == "" {
			t.Errorf("the delivery error says nothing")
		}
		t.Logf("failure reported: %v (delivered by %v)", err, delivered)
	})
}
