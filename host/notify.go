// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Event kinds and the subjects TimeTiles' shell tool used.
const (
	EventBackupFailed  = "backup_failed"
	EventRestoreFailed = "restore_failed"
	EventVerifyFailed  = "verify_failed"
	EventOffsiteFailed = "offsite_failed"
	EventTest          = "test"
	// EventBackupSucceeded goes only to notifiers that declare
	// sdk.CapSuccessEvents; each delivers it only when opted in.
	EventBackupSucceeded = "backup_succeeded"
)

var subjects = map[string]string{
	EventBackupFailed:    "Backup Failed",
	EventRestoreFailed:   "Restore Failed",
	EventVerifyFailed:    "Backup Verify Failed",
	EventOffsiteFailed:   "Offsite Backup Failed",
	EventTest:            "Test Alert",
	EventBackupSucceeded: "Backup Succeeded",
}

// NewEvent builds an event with the host's fields filled in. The error text
// is scrubbed of every configured secret.
func (r *Runner) NewEvent(kind, component, runID string, err error) sdk.Event {
	sev := "error"
	if kind == EventOffsiteFailed {
		sev = "warning"
	} else if kind == EventTest || kind == EventBackupSucceeded {
		sev = "info"
	}
	e := sdk.Event{Kind: kind, Severity: sev, Subject: subjects[kind], Component: component, RunID: runID,
		Hostname: r.Hostname(), Time: time.Now()}
	if err != nil {
		e.Error = r.Scrub(err.Error())
		e.Body = fmt.Sprintf("%s on %s: %s", e.Subject, e.Hostname, e.Error)
	} else {
		e.Body = fmt.Sprintf("%s from timetiles-backup on %s.", e.Subject, e.Hostname)
	}
	if kind == EventOffsiteFailed {
		e.Repository = Offsite
	} else {
		e.Repository = Local
	}
	return e
}

// Scrub removes configured secrets from a text: the values of keys whose
// names denote secrets, and of keys a started plugin declared secret.
func (r *Runner) Scrub(s string) string {
	return config.Scrub(s, r.Cfg.Secrets(func(k string) bool { return config.IsSecretKey(k) || r.Manager.DeclaredSecret(k) }))
}

// ScrubError returns err with configured secrets removed from its text; it
// still matches what err matched with errors.Is and errors.As.
func (r *Runner) ScrubError(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: r.Scrub(err.Error()), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// NotifierResult is one notifier plugin's outcome for an event.
type NotifierResult struct {
	Notifier string
	// Delivered lists the plugin's channels that delivered the event.
	Delivered []string
	// Err is set when the plugin could not be started or a channel failed
	// (scrubbed of secrets).
	Err error
}

// Notifiers returns the notifier plugins BACKUP_NOTIFIERS names (default
// notify-alert; "none" disables alerts). Any plugin named
// timetiles-backup-notify-<name> that the discovery finds can be listed: a
// third-party notifier needs no change here.
func (r *Runner) Notifiers() []string {
	spec := r.Cfg.GetDefault("BACKUP_NOTIFIERS", config.DefaultNotifiers)
	if strings.TrimSpace(spec) == "none" {
		return nil
	}
	var out []string
	for _, name := range strings.Split(spec, ",") {
		if name = strings.TrimSpace(name); name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// NotifyEach delivers an event through every configured notifier plugin and
// reports each one. Failures are logged; they never fail a command.
func (r *Runner) NotifyEach(ctx context.Context, e sdk.Event) []NotifierResult {
	return r.notifyEach(ctx, e, false)
}

// NotifySuccess delivers a success event (EventBackupSucceeded) through the
// configured notifiers that declare sdk.CapSuccessEvents; each delivers it
// only when its operator opted in (e.g. NTFY_NOTIFY_SUCCESS=true). Others
// are not sent it. Like Notify, it never fails the command.
func (r *Runner) NotifySuccess(ctx context.Context, e sdk.Event) []NotifierResult {
	return r.notifyEach(ctx, e, true)
}

func (r *Runner) notifyEach(ctx context.Context, e sdk.Event, success bool) []NotifierResult {
	// An alert must go out even when the command was interrupted.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var out []NotifierResult
	for _, name := range r.Notifiers() {
		res := NotifierResult{Notifier: name}
		p, err := r.Start(ctx, name, "")
		if err != nil {
			r.Log.Error("cannot start notifier; the alert is not delivered", "notifier", name, "error", r.Scrub(err.Error()), "subject", e.Subject)
			res.Err = r.ScrubError(err)
			out = append(out, res)
			continue
		}
		if success && !p.Has(sdk.CapSuccessEvents) {
			continue
		}
		res.Delivered, err = p.Notifier().Notify(ctx, e)
		if err != nil {
			r.Log.Error("notifier failed", "notifier", name, "error", r.Scrub(err.Error()), "subject", e.Subject)
			res.Err = r.ScrubError(err)
		}
		out = append(out, res)
	}
	return out
}

// Notify delivers an event through every configured notifier plugin
// (BACKUP_NOTIFIERS, default notify-alert). It never fails the command: a
// notifier that cannot be started or fails is logged, and the returned
// error is informational.
func (r *Runner) Notify(ctx context.Context, e sdk.Event) ([]string, error) {
	var delivered []string
	var errs []error
	for _, res := range r.NotifyEach(ctx, e) {
		for _, d := range res.Delivered {
			delivered = append(delivered, res.Notifier+":"+d)
		}
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", res.Notifier, res.Err))
		}
	}
	return delivered, errors.Join(errs...)
}

// IsPermission reports whether err is an expected permission denial (for
// instance a write-only offsite key): never alerted on.
func IsPermission(err error) bool { return errors.Is(err, sdk.ErrPermissionDenied) }
