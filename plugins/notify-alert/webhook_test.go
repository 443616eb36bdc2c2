// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// webhookServer answers with statuses in turn (the last one repeats) and
// records what it received.
type webhookServer struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
	paths    []string
	hits     atomic.Int32
	statuses []int
}

func startWebhook(t *testing.T, statuses ...int) *webhookServer {
	t.Helper()
	w := &webhookServer{statuses: statuses}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		i := int(w.hits.Add(1)) - 1
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.bodies = append(w.bodies, b)
		w.headers = append(w.headers, r.Header.Clone())
		w.paths = append(w.paths, r.URL.RequestURI())
		w.mu.Unlock()
		status := http.StatusOK
		if len(w.statuses) > 0 {
			status = w.statuses[min(i, len(w.statuses)-1)]
		}
		rw.WriteHeader(status)
		if status >= 300 {
			// A careless server that echoes the request URI.
			_, _ = io.WriteString(rw, "error for "+r.URL.RequestURI())
		} else {
			_, _ = io.WriteString(rw, "ok")
		}
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhookServer) payload(t *testing.T, i int) map[string]string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var p map[string]string
	if err := json.Unmarshal(w.bodies[i], &p); err != nil {
		t.Fatalf("webhook body is not JSON: %v\n%s", err, w.bodies[i])
	}
	return p
}

func TestWebhookPostsStructuredJSON(t *testing.T) {
	isolate(t)
	srv := startWebhook(t)
	n, _ := configured(t, map[string]string{keyWebhookURL: srv.URL + "/hooks/backup"})
	delivered, err := notify(t, n, testEvent())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(delivered, []string{"webhook"}) || srv.hits.Load() != 1 {
		t.Fatalf("delivered %v after %d requests", delivered, srv.hits.Load())
	}
	if ct := srv.headers[0].Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if srv.paths[0] != "/hooks/backup" {
		t.Errorf("path %q", srv.paths[0])
	}
	body := newAlert(testEvent()).Body
	p := srv.payload(t, 0)
	for k, want := range map[string]string{
		"text":    testSubject + ": " + body,
		"subject": testSubject, "body": body, "message": "pg_dump exited with status 1 while backing up the database.",
		"kind": "backup_failed", "severity": "error", "component": "db", "run_id": "run-20260314-031500",
		"repository": "local", "error": "pg_dump: error: connection to server failed", "hostname": "tt-prod-1",
		"time": "2026-03-14T03:15:09Z",
	} {
		if p[k] != want {
			t.Errorf("%s = %q, want %q", k, p[k], want)
		}
	}
}

func TestWebhookRetriesServerErrors(t *testing.T) {
	isolate(t)
	srv := startWebhook(t, 500, 200)
	n, _ := configured(t, map[string]string{keyWebhookURL: srv.URL})
	delivered, err := notify(t, n, testEvent())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(delivered, []string{"webhook"}) || srv.hits.Load() != 2 {
		t.Fatalf("delivered %v after %d requests, want 2", delivered, srv.hits.Load())
	}
	// The retried request carries the same body.
	if p0, p1 := srv.payload(t, 0), srv.payload(t, 1); p0["text"] != p1["text"] || p1["run_id"] != "run-20260314-031500" {
		t.Errorf("retry body differs: %v vs %v", p0, p1)
	}
}

func TestWebhookGivesUpAndDoesNotRetryClientErrors(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		statuses []int
		hits     int32
		want     string
	}{
		{[]int{503}, 3, "HTTP 503 Service Unavailable"},
		{[]int{429, 429, 502}, 3, "HTTP 502 Bad Gateway"},
		{[]int{429, 200}, 2, ""},
		{[]int{400}, 1, "HTTP 400 Bad Request"},
		{[]int{404}, 1, "HTTP 404 Not Found"},
		{[]int{302}, 1, "HTTP 302 Found"},
	} {
		srv := startWebhook(t, tc.statuses...)
		n, _ := configured(t, map[string]string{keyWebhookURL: srv.URL, keyChannels: "webhook"})
		delivered, err := notify(t, n, testEvent())
		if got := srv.hits.Load(); got != tc.hits {
			t.Errorf("%v: %d requests, want %d", tc.statuses, got, tc.hits)
		}
		if tc.want == "" {
			if err != nil || !slices.Equal(delivered, []string{"webhook"}) {
				t.Errorf("%v: delivered %v, %v", tc.statuses, delivered, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "webhook: ") || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), plural(int(tc.hits), "attempt")) {
			t.Errorf("%v: want an error naming webhook and %q, got %v", tc.statuses, tc.want, err)
		}
		if len(delivered) != 0 {
			t.Errorf("%v: delivered %v", tc.statuses, delivered)
		}
	}
}

func TestWebhookTimeout(t *testing.T) {
	isolate(t)
	var hits atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select { // hang
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	n, _ := configured(t, map[string]string{keyWebhookURL: srv.URL, keyWebhookTimeout: "300ms", keyChannels: "webhook"})
	start := time.Now()
	_, err := notify(t, n, testEvent())
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Fatalf("want a timeout error, got %v", err)
	}
	// Three attempts of 300ms each (timeouts are network errors: retried).
	if hits.Load() != 3 || took < 900*time.Millisecond || took > 5*time.Second {
		t.Errorf("%d attempts in %s", hits.Load(), took)
	}
}

func TestWebhookSecretsScrubbed(t *testing.T) {
	isolate(t)
	const userSecret, pathSecret, querySecret = "pw-Secret-1Zk8", "tok-Secret-9Hq3xv", "q-Secret-5Mn2"
	srv := startWebhook(t, 500)
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	// A port nobody listens on, for connection errors.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()

	for _, host := range []string{hostPort, closedAddr} {
		u := "http://hook:" + userSecret + "@" + host + "/services/T0123/B0456/" + pathSecret + "?token=" + querySecret
		n, logs := configured(t, map[string]string{keyWebhookURL: u, keyChannels: "webhook", keyLog: t.TempDir() + "/a.log"})
		_, err := notify(t, n, testEvent())
		if err == nil || !strings.Contains(err.Error(), "webhook: http://"+host) {
			t.Fatalf("want a webhook error naming the host, got %v", err)
		}
		assertNoSecret(t, "error", err.Error(), userSecret, pathSecret, querySecret)
		assertNoSecret(t, "logs", logs.String(), userSecret, pathSecret, querySecret)
	}
	// The server got the credentials and the token (it needs them).
	if srv.paths[0] != "/services/T0123/B0456/"+pathSecret+"?token="+querySecret {
		t.Errorf("path %q", srv.paths[0])
	}
	if user, pass, ok := basicAuth(srv.headers[0]); !ok || user != "hook" || pass != userSecret {
		t.Errorf("basic auth %q %q %v", user, pass, ok)
	}

	// An invalid URL is refused without quoting it.
	err = (&notifier{}).Configure(t.Context(), cfgOf(map[string]string{keyWebhookURL: "ftp://x:" + userSecret + "@h/"}))
	if err == nil {
		t.Fatal("an ftp webhook URL should be refused")
	}
	assertNoSecret(t, "error", err.Error(), userSecret)
}

func basicAuth(h http.Header) (string, string, bool) {
	r := &http.Request{Header: h}
	return r.BasicAuth()
}
