// SPDX-License-Identifier: Apache-2.0

package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/version"
	"github.com/timetiles/timetiles-backup/sdk"
)

func TestAlertBodyHasFieldsBlock(t *testing.T) {
	a := newAlert(testEvent())
	want := `pg_dump exited with status 1 while backing up the database.

Kind:       backup_failed
Severity:   error
Component:  db
Run ID:     run-20260314-031500
Repository: local
Error:      pg_dump: error: connection to server failed
Host:       tt-prod-1
Time:       2026-03-14T03:15:09Z
`
	if a.Body != want {
		t.Errorf("body:\n%s\nwant:\n%s", a.Body, want)
	}
	if a.Subject != testSubject {
		t.Errorf("subject %q, want %q", a.Subject, testSubject)
	}
}

func TestSubjectFromKind(t *testing.T) {
	for kind, want := range map[string]string{
		"backup_failed":  "[TimeTiles h1] Backup Failed",
		"restore_failed": "[TimeTiles h1] Restore Failed",
		"verify_failed":  "[TimeTiles h1] Backup Verify Failed",
		"offsite_failed": "[TimeTiles h1] Offsite Backup Failed",
		"test":           "[TimeTiles h1] Test Alert",
		"prune_failed":   "[TimeTiles h1] Backup Alert: prune_failed",
		"":               "[TimeTiles h1] Backup Alert",
	} {
		if got := newAlert(sdk.Event{Kind: kind, Hostname: "h1"}).Subject; got != want {
			t.Errorf("kind %q: subject %q, want %q", kind, got, want)
		}
	}
	// An explicit subject wins over the kind, and a newline cannot inject
	// mail headers.
	got := newAlert(sdk.Event{Kind: "backup_failed", Subject: "Disk full\nBcc: x@example.org", Hostname: "h1"}).Subject
	if got != "[TimeTiles h1] Disk full Bcc: x@example.org" {
		t.Errorf("subject %q", got)
	}
	// Already prefixed subjects are not prefixed twice.
	if got := newAlert(sdk.Event{Subject: "[TimeTiles h1] Backup Failed", Hostname: "h1"}).Subject; got != "[TimeTiles h1] Backup Failed" {
		t.Errorf("subject %q", got)
	}
}

func TestAlertDefaults(t *testing.T) {
	old := hostname
	hostname = func() (string, error) { return "from-os", nil }
	defer func() { hostname = old }()

	before := time.Now().UTC().Truncate(time.Second)
	a := newAlert(sdk.Event{Kind: "verify_failed", Time: time.Unix(0, 0)})
	if a.Hostname != "from-os" || a.Subject != "[TimeTiles from-os] Backup Verify Failed" {
		t.Errorf("host %q subject %q", a.Hostname, a.Subject)
	}
	if a.Time.Before(before) {
		t.Errorf("a zero time should become now, got %s", a.Time)
	}
	if a.Severity != "error" {
		t.Errorf("severity of a *_failed kind: %q, want error", a.Severity)
	}
	if s := newAlert(sdk.Event{Kind: "test"}).Severity; s != "info" {
		t.Errorf("severity of test: %q, want info", s)
	}
	// Time and Host are in the block even without a body.
	if !strings.HasPrefix(a.Body, "Kind:       verify_failed\nSeverity:   error\nHost:       from-os\nTime:       ") {
		t.Errorf("body:\n%s", a.Body)
	}
}

func TestURLCredentialsMaskedInEvent(t *testing.T) {
	a := newAlert(sdk.Event{Kind: "offsite_failed", Hostname: "h",
		Repository: "rest:https://backup:" + dbSecret + "@offsite.example.org:8000/tt",
		Error:      "Fatal: unable to open repo at s3:https://AKIA:" + dbSecret + "@s3.example.org/b"})
	assertNoSecret(t, "alert body", a.Body, dbSecret)
	if !strings.Contains(a.Body, "rest:https://backup:***@offsite.example.org:8000/tt") {
		t.Errorf("repository should stay readable:\n%s", a.Body)
	}
}

func TestInfoListsConfigKeys(t *testing.T) {
	info := (&notifier{}).Info()
	if info.Name != "notify-alert" || info.Version != version.Version {
		t.Errorf("info %q %q", info.Name, info.Version)
	}
	var names, secrets []string
	for _, k := range info.ConfigKeys {
		names = append(names, k.Name)
		if k.Secret {
			secrets = append(secrets, k.Name)
		}
		if k.Description == "" {
			t.Errorf("%s has no description", k.Name)
		}
	}
	for _, k := range []string{keyChannels, keyScript, keyScriptTimeout, keySMTPHost, keySMTPPort, keySMTPUser, keySMTPPass,
		keySMTPTLS, keySMTPCAFile, keySMTPTimeout, keyEmailFrom, keyAlertEmail, keyLetsEncrypt, keyWebhookURL,
		keyWebhookTimeout, keyLog} {
		if !slices.Contains(names, k) {
			t.Errorf("ConfigKeys lacks %s", k)
		}
	}
	slices.Sort(secrets)
	if !slices.Equal(secrets, []string{keyWebhookURL, keySMTPPass}) {
		t.Errorf("secret keys %v", secrets)
	}
}
