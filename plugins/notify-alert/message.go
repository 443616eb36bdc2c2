// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

// subjects are the old tool's subjects by event kind.
var subjects = map[string]string{
	"backup_failed":  "Backup Failed",
	"restore_failed": "Restore Failed",
	"verify_failed":  "Backup Verify Failed",
	"offsite_failed": "Offsite Backup Failed",
	"test":           "Test Alert",
	// Sent only when BACKUP_ALERT_NOTIFY_SUCCESS=true (sdk.CapSuccessEvents).
	"backup_succeeded": "Backup Succeeded",
}

// alert is an event made ready for delivery: subject and body composed,
// defaults filled in, credentials in URLs masked.
type alert struct {
	Subject string
	// Body is the event's body followed by the block of structured fields.
	Body string
	// Text is the event's own body, without the fields block.
	Text       string
	Kind       string
	Severity   string
	Component  string
	RunID      string
	Repository string
	Error      string
	Hostname   string
	Time       time.Time
}

// hostname is os.Hostname, replaceable in tests.
var hostname = os.Hostname

// newAlert fills in what the event leaves out and composes subject and body.
func newAlert(e sdk.Event) alert {
	a := alert{
		Kind:       e.Kind,
		Severity:   e.Severity,
		Component:  maskURLCredentials(e.Component),
		RunID:      e.RunID,
		Repository: maskURLCredentials(e.Repository),
		Error:      maskURLCredentials(e.Error),
		Hostname:   e.Hostname,
		Time:       e.Time,
		Text:       maskURLCredentials(strings.TrimRight(e.Body, "\n")),
	}
	if a.Hostname == "" {
		if h, err := hostname(); err == nil {
			a.Hostname = h
		}
	}
	if a.Hostname == "" {
		a.Hostname = "unknown-host"
	}
	// A zero time that crossed the wire arrives as the Unix epoch or year 1.
	if a.Time.IsZero() || a.Time.Unix() <= 0 {
		a.Time = time.Now()
	}
	a.Time = a.Time.UTC().Truncate(time.Second)
	if a.Severity == "" {
		switch {
		case strings.HasSuffix(a.Kind, "_failed"):
			a.Severity = "error"
		case a.Kind == "test", strings.HasSuffix(a.Kind, "_succeeded"):
			a.Severity = "info"
		}
	}
	a.Subject = subject(maskURLCredentials(e.Subject), a.Kind, a.Hostname)
	a.Body = a.Text
	if a.Body != "" {
		a.Body += "\n\n"
	}
	a.Body += a.fieldsBlock()
	return a
}

// subject is the event's subject, or the old tool's subject for the kind,
// prefixed with "[TimeTiles <host>]".
func subject(s, kind, host string) string {
	s = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " "))
	if s == "" {
		s = subjects[kind]
	}
	if s == "" && kind != "" {
		s = "Backup Alert: " + kind
	}
	if s == "" {
		s = "Backup Alert"
	}
	if strings.HasPrefix(s, "[TimeTiles") {
		return s
	}
	return fmt.Sprintf("[TimeTiles %s] %s", host, s)
}

// fieldsBlock lists the structured fields that are set, one a line.
func (a alert) fieldsBlock() string {
	var b strings.Builder
	line := func(name, v string) {
		if v == "" {
			return
		}
		// Continuation lines of a multi-line value are indented under it.
		v = strings.ReplaceAll(strings.TrimRight(v, "\n"), "\n", "\n"+strings.Repeat(" ", 12))
		fmt.Fprintf(&b, "%-11s %s\n", name+":", v)
	}
	line("Kind", a.Kind)
	line("Severity", a.Severity)
	line("Component", a.Component)
	line("Run ID", a.RunID)
	line("Repository", a.Repository)
	line("Error", a.Error)
	line("Host", a.Hostname)
	line("Time", a.Time.Format(time.RFC3339))
	return b.String()
}

// env is the alert as ALERT_* environment variables for the script.
func (a alert) env() []string {
	return []string{
		"ALERT_SUBJECT=" + a.Subject,
		"ALERT_BODY=" + a.Body,
		"ALERT_MESSAGE=" + a.Text,
		"ALERT_KIND=" + a.Kind,
		"ALERT_SEVERITY=" + a.Severity,
		"ALERT_COMPONENT=" + a.Component,
		"ALERT_RUN_ID=" + a.RunID,
		"ALERT_REPOSITORY=" + a.Repository,
		"ALERT_ERROR=" + a.Error,
		"ALERT_HOSTNAME=" + a.Hostname,
		"ALERT_TIME=" + a.Time.Format(time.RFC3339),
	}
}

// urlCredentials matches the password of a URL's userinfo
// (scheme://user:password@host).
var urlCredentials = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@`)

// maskURLCredentials hides passwords written into URLs, e.g. a repository
// such as rest:https://user:secret@host/ that reached an event.
func maskURLCredentials(s string) string {
	return urlCredentials.ReplaceAllString(s, "$1:***@")
}
