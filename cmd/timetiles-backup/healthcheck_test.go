// SPDX-License-Identifier: Apache-2.0

package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
)

type ping struct{ method, path, body string }

// pingServer is a real HTTP server on loopback standing in for
// healthchecks.io: it records every request and answers status.
type pingServer struct {
	*httptest.Server
	mu     sync.Mutex
	pings  []ping
	status int
}

func newPingServer(t *testing.T, status int) *pingServer {
	s := &pingServer{status: status}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.pings = append(s.pings, ping{r.Method, r.URL.Path, string(b)})
		s.mu.Unlock()
		w.WriteHeader(s.status)
		_, _ = io.WriteString(w, "OK")
	}))
	t.Cleanup(s.Close)
	return s
}

// take returns the pings received since the last call.
func (s *pingServer) take() []ping {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pings
	s.pings = nil
	return p
}

// The dead-man's switch: backup, prune and verify each ping URL/start when
// they start and URL (success) or URL/fail (failure) when they end, in that
// order, POSTing the command's summary; the body names the run and carries
// neither the repository password nor the check URL. Dry runs and usage
// errors ping nothing.
func TestHealthcheckPings(t *testing.T) {
	t.Parallel()
	srv := newPingServer(t, http.StatusOK)
	const check = "/ping/0b5c4e7a-2f1d-4c3e-9a8b-hc-secret-uuid"
	e := newEnv(t, false)
	e.synthetic("300000")
	e.vars[config.EnvHealthcheckURL] = srv.URL + check

	expect := func(what string, r result, ok bool, bodyHas string) {
		t.Helper()
		got := srv.take()
		end := check
		if !ok {
			end = check + "/fail"
		}
		if len(got) != 2 || got[0].path != check+"/start" || got[1].path != end || got[0].method != http.MethodPost || got[1].method != http.MethodPost {
			t.Fatalf("%s: pings %+v, want POST %s/start then POST %s\nstderr:\n%s", what, got, check, end, r.stderr)
		}
		body := got[1].body
		if !strings.Contains(body, bodyHas) {
			t.Errorf("%s: end ping body lacks %q:\n%s", what, bodyHas, body)
		}
		for _, secret := range []string{e.password, "hc-secret-uuid"} {
			if strings.Contains(body, secret) || strings.Contains(got[0].body, secret) || strings.Contains(r.stdout+r.stderr, "hc-secret-uuid") {
				t.Errorf("%s: a secret (%q) leaked into a ping body or the output", what, secret)
			}
		}
	}

	r := mustRun(t, e.run("backup"), 0, "backup")
	runID := strings.Fields(strings.SplitN(r.stdout, "\n", 2)[0])[2] // "Backup run <id>"
	expect("backup", r, true, "Backup run "+runID)
	r = mustRun(t, e.run("backup", "prune"), 0, "backup prune")
	expect("prune", r, true, "keeping 1")
	r = mustRun(t, e.run("backup", "verify"), 0, "backup verify")
	expect("verify", r, true, "Verify passed.")

	r = mustRun(t, e.run("backup", "--dry-run"), 0, "backup --dry-run")
	mustRun(t, e.run("backup", "prune", "--dry-run"), 0, "backup prune --dry-run")
	mustRun(t, e.run("backup", "--no-such-flag"), 2, "backup --no-such-flag")
	if got := srv.take(); len(got) != 0 {
		t.Errorf("dry runs and usage errors pinged: %+v", got)
	}

	// Failures: the source fails; then the password is wrong.
	e.vars["SYNTH_FAIL_AFTER"] = "1000"
	r = mustRun(t, e.run("backup"), 1, "failing backup")
	expect("failing backup", r, false, "exit 1 (failed)")
	delete(e.vars, "SYNTH_FAIL_AFTER")
	e.vars["RESTIC_PASSWORD"] = "Wrong-Pass-31337"
	r = e.run("backup", "prune")
	if r.code == 0 {
		t.Fatalf("prune with a wrong password succeeded")
	}
	expect("failing prune", r, false, "Error:")
	r = e.run("backup", "verify")
	if r.code == 0 {
		t.Fatalf("verify with a wrong password succeeded")
	}
	expect("failing verify", r, false, "Error:")
}

// A health check service that answers 500 is retried a few times and then
// given up: the backup's outcome and exit code are untouched, and the
// failure is logged without the URL.
func TestHealthcheckUnavailableDoesNotFailTheJob(t *testing.T) {
	t.Parallel()
	srv := newPingServer(t, http.StatusInternalServerError)
	e := newEnv(t, false)
	e.synthetic("100000")
	e.vars[config.EnvHealthcheckURL] = srv.URL + "/secret-uuid-xyz"
	r := mustRun(t, e.run("backup"), 0, "backup with the health check service failing")
	got := srv.take()
	if len(got) != 2*host.HealthcheckAttempts {
		t.Errorf("%d requests, want %d (start and success, %d attempts each)", len(got), 2*host.HealthcheckAttempts, host.HealthcheckAttempts)
	}
	if !strings.Contains(r.stderr, "health check ping refused") || strings.Contains(r.stderr, "secret-uuid-xyz") {
		t.Errorf("want a warning without the URL:\n%s", r.stderr)
	}
	if n := completeRuns(runsOf(t, e.restic())); n != 1 {
		t.Errorf("%d complete runs, want 1", n)
	}
}
