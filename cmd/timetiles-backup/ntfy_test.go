// SPDX-License-Identifier: Apache-2.0

package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// ntfyPost is one publish a local ntfy stand-in received.
type ntfyPost struct {
	Path, Title, Priority, Tags, Auth, Body string
}

// startNtfy is a real HTTP server on the loopback that records what the
// notify-ntfy plugin publishes (ntfy's header publishing: Title, Priority,
// Tags, the message as the body).
func startNtfy(t *testing.T) (string, func() []ntfyPost) {
	var mu sync.Mutex
	var got []ntfyPost
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, ntfyPost{Path: r.URL.Path, Title: r.Header.Get("Title"), Priority: r.Header.Get("Priority"),
			Tags: r.Header.Get("Tags"), Auth: r.Header.Get("Authorization"), Body: string(b)})
		mu.Unlock()
		io.WriteString(w, `{"event":"message"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []ntfyPost {
		mu.Lock()
		defer mu.Unlock()
		return append([]ntfyPost(nil), got...)
	}
}

// TestNtfyNotifier swaps the notifier with BACKUP_NOTIFIERS=notify-ntfy: a
// failed backup is published to the topic at high priority (and not to
// notify-alert's log); a successful one only once NTFY_NOTIFY_SUCCESS opts
// in, at low priority. Neither the repository password nor the token is in
// what is published (the token travels only as Authorization).
func TestNtfyNotifier(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.synthetic("100000")
	url, posts := startNtfy(t)
	const token = "tk_ntfy-e2e-Token"
	e.vars["BACKUP_NOTIFIERS"] = "notify-ntfy"
	e.vars["NTFY_URL"] = url + "/tt-backups"
	e.vars["NTFY_TOKEN"] = token
	e.vars["SYNTH_FAIL_AFTER"] = "1000"
	mustRun(t, e.run("backup"), 1, "backup (failing source)")
	p := posts()
	if len(p) != 1 {
		t.Fatalf("%d publishes after a failed backup, want 1: %+v", len(p), p)
	}
	f := p[0]
	if f.Path != "/tt-backups" || f.Title != "Backup Failed on e2e-host" || f.Priority != "high" ||
		!strings.Contains(f.Tags, "backup_failed") || !strings.Contains(f.Body, "Backup Failed on e2e-host: ") || f.Auth != "Bearer "+token {
		t.Errorf("failure published as %+v", f)
	}
	for _, q := range p {
		if s := q.Title + q.Tags + q.Body; strings.Contains(s, e.password) || strings.Contains(s, token) {
			t.Errorf("a secret is in what was published: %+v", q)
		}
	}
	if a := e.alerts(); a != "" {
		t.Errorf("notify-alert was not swapped out; its log:\n%s", a)
	}

	// A successful backup: not published by default.
	delete(e.vars, "SYNTH_FAIL_AFTER")
	mustRun(t, e.run("backup"), 0, "backup")
	if n := len(posts()); n != 1 {
		t.Fatalf("a success was published without NTFY_NOTIFY_SUCCESS: %+v", posts()[1:])
	}
	// Opted in: published, at low priority, naming the run.
	e.vars["NTFY_NOTIFY_SUCCESS"] = "true"
	runID := e.backupRunID(t)
	p = posts()
	if len(p) != 2 {
		t.Fatalf("%d publishes after an opted-in success, want 2: %+v", len(p), p)
	}
	s := p[1]
	if s.Title != "Backup Succeeded on e2e-host" || s.Priority != "low" || !strings.Contains(s.Tags, "backup_succeeded") ||
		!strings.Contains(s.Body, "Backup run "+runID+" on e2e-host is complete in the local repository: synthetic ") {
		t.Errorf("success published as %+v", s)
	}
	if strings.Contains(s.Title+s.Tags+s.Body, e.password) {
		t.Errorf("a secret is in the success message: %+v", s)
	}
}

// TestAlertSuccessOptIn: notify-alert delivers "Backup Succeeded" only with
// BACKUP_ALERT_NOTIFY_SUCCESS=true; its failures need no opt-in.
func TestAlertSuccessOptIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.synthetic("100000")
	mustRun(t, e.run("backup"), 0, "backup")
	if a := e.alerts(); a != "" {
		t.Fatalf("a success was alerted without opting in:\n%s", a)
	}
	e.vars["BACKUP_ALERT_NOTIFY_SUCCESS"] = "true"
	mustRun(t, e.run("backup"), 0, "backup")
	if a := e.alerts(); !strings.Contains(a, "[TimeTiles e2e-host] Backup Succeeded") || !strings.Contains(a, "backup_succeeded") {
		t.Fatalf("opted-in success not in notify-alert's log:\n%s", a)
	}
	e.vars["BACKUP_ALERT_NOTIFY_SUCCESS"] = "maybe"
	r := e.run("backup")
	if out := r.stderr + r.stdout; !strings.Contains(out, "BACKUP_ALERT_NOTIFY_SUCCESS=") || !strings.Contains(out, "maybe") || !strings.Contains(out, "use true or false") {
		t.Errorf("a bad BACKUP_ALERT_NOTIFY_SUCCESS is not named: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
