// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
	"github.com/timetiles/timetiles-backup/sdk/conformance"
)

// published is one POST the fake ntfy server received.
type published struct {
	Path, Title, Priority, Tags, Auth, Body string
}

// ntfyServer is a real HTTP server on the loopback standing in for ntfy:
// it records every publish; the topic "denied" answers 403 as ntfy does
// for a protected topic without a valid token.
type ntfyServer struct {
	*httptest.Server
	mu  sync.Mutex
	got []published
}

func startNtfy(t *testing.T) *ntfyServer {
	s := &ntfyServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost {
			http.Error(w, "method", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path == "/denied" {
			http.Error(w, `{"code":40301,"http":403,"error":"forbidden"}`, http.StatusForbidden)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, published{Path: r.URL.Path, Title: r.Header.Get("Title"), Priority: r.Header.Get("Priority"),
			Tags: r.Header.Get("Tags"), Auth: r.Header.Get("Authorization"), Body: string(b)})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"x","event":"message"}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *ntfyServer) messages() []published {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]published(nil), s.got...)
}

// The built plugin passes the conformance kit: every event is published to
// a real HTTP server with ntfy's headers; a refused publish is reported.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin := conformance.Build(t, ".", "notify-ntfy")
	srv := startNtfy(t)
	conformance.RunNotifier(t, conformance.NotifierFixture{
		Binary: bin,
		Config: func(*testing.T) map[string]string {
			return map[string]string{keyURL: srv.URL + "/backups", keyToken: "tk_conformance"}
		},
		Delivered: func(t *testing.T, e sdk.Event) {
			msgs := srv.messages()
			if len(msgs) == 0 {
				t.Fatalf("the server received nothing for %s", e.Kind)
			}
			m := msgs[len(msgs)-1]
			want := map[string]string{"test": "default", "offsite_failed": "high", "backup_failed": "high", "backup_succeeded": "low"}[e.Kind]
			if m.Path != "/backups" || m.Title != e.Subject+" on "+e.Hostname || m.Priority != want ||
				!strings.Contains(m.Tags, e.Kind) || !strings.HasPrefix(m.Body, e.Body) || m.Auth != "Bearer tk_conformance" {
				t.Errorf("published for %s: %+v (want priority %s)", e.Kind, m, want)
			}
			if strings.Contains(m.Title+m.Tags+m.Body, "tk_conformance") {
				t.Errorf("the token is in what was published: %+v", m)
			}
		},
		FailingConfig: func(*testing.T) map[string]string {
			return map[string]string{keyURL: srv.URL + "/denied"}
		},
		SuccessConfig: func(*testing.T) map[string]string {
			return map[string]string{keyURL: srv.URL + "/backups", keyToken: "tk_conformance", keyNotifySuccess: "true"}
		},
	})
}

// Success events are published only when NTFY_NOTIFY_SUCCESS opts in, at
// low priority; failures always, at high priority.
func TestSuccessOptIn(t *testing.T) {
	srv := startNtfy(t)
	ok := sdk.Event{Kind: "backup_succeeded", Severity: "info", Subject: "Backup Succeeded", Body: "Backup run r1 on h is complete.", Hostname: "h", RunID: "r1", Time: time.Now()}
	fail := sdk.Event{Kind: "backup_failed", Severity: "error", Subject: "Backup Failed", Body: "Backup Failed on h: boom", Hostname: "h", Component: "db"}
	for _, tc := range []struct {
		optIn string
		want  []string // priorities published
	}{{"", []string{"high"}}, {"false", []string{"high"}}, {"true", []string{"low", "high"}}} {
		n := &notifier{}
		before := len(srv.messages())
		if err := n.Configure(context.Background(), sdk.Config{Values: map[string]string{keyURL: srv.URL + "/t", keyNotifySuccess: tc.optIn}}); err != nil {
			t.Fatal(err)
		}
		d, err := n.Notify(context.Background(), ok)
		if err != nil || (tc.optIn == "true") != (len(d) == 1) {
			t.Errorf("%s=%q: success delivered by %v, %v", keyNotifySuccess, tc.optIn, d, err)
		}
		if d, err := n.Notify(context.Background(), fail); err != nil || len(d) != 1 {
			t.Errorf("failure: %v %v", d, err)
		}
		var got []string
		for _, m := range srv.messages()[before:] {
			got = append(got, m.Priority)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s=%q: published priorities %v, want %v", keyNotifySuccess, tc.optIn, got, tc.want)
		}
	}
}

// Bad settings are refused naming the key and the fix, never the topic.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		vals map[string]string
		want string
	}{
		{map[string]string{}, "NTFY_URL is not set"},
		{map[string]string{keyURL: "ntfy.sh/secret-topic-name"}, "NTFY_URL is not an http(s) URL"},
		{map[string]string{keyURL: "https://ntfy.sh/"}, "NTFY_URL names no topic"},
		{map[string]string{keyURL: "https://ntfy.sh/secret-topic-name", keyNotifySuccess: "yes please"}, `NTFY_NOTIFY_SUCCESS="yes please": use true or false`},
		{map[string]string{keyURL: "https://ntfy.sh/secret-topic-name", keyTimeout: "-1s"}, "NTFY_TIMEOUT"},
	} {
		err := (&notifier{}).Configure(context.Background(), sdk.Config{Values: tc.vals})
		if err == nil || !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret-topic-name") {
			t.Errorf("%v: %v, want %q", tc.vals, err, tc.want)
		}
	}
}

// A server that is down: the error names the server, not the topic.
func TestUnreachable(t *testing.T) {
	srv := startNtfy(t)
	u := srv.URL
	srv.Close()
	backoffMin, backoffMax = time.Millisecond, time.Millisecond
	n := &notifier{}
	if err := n.Configure(context.Background(), sdk.Config{Values: map[string]string{keyURL: u + "/secret-topic-name"}}); err != nil {
		t.Fatal(err)
	}
	_, err := n.Notify(context.Background(), sdk.Event{Kind: "backup_failed", Subject: "Backup Failed"})
	if err == nil || !strings.Contains(err.Error(), "ntfy "+u) || strings.Contains(err.Error(), "secret-topic-name") {
		t.Errorf("error %v", err)
	}
}
