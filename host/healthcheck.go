// SPDX-License-Identifier: Apache-2.0

package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/host/config"

	// go-retryablehttp (HashiCorp, MPL-2.0), as in notify-alert's webhook:
	// the retry loop with backoff, a rewound body and Retry-After.
	"github.com/hashicorp/go-retryablehttp"
)

// Healthcheck pings a healthchecks.io-compatible check (the hosted service,
// a self-hosted Healthchecks, or anything speaking the same protocol):
// URL/start when a job starts, URL when it succeeded, URL/fail when it
// failed, each a POST whose body is the job's summary. A job that never
// runs (a cron job that stopped firing, a server that is off) sends
// nothing, and the service alerts when the expected ping does not come.
//
// A ping never holds a job up for long and never fails it: each attempt
// times out after HealthcheckAttemptTimeout, at most HealthcheckAttempts are
// made (network errors, 5xx and 429 are retried), all within
// HealthcheckBudget; a failed ping is logged as a warning. The URL (its
// UUID is what lets anyone ping the check) is never logged or printed: the
// log names only its host.
type Healthcheck struct {
	url     *url.URL
	display string
	log     hclog.Logger
	scrub   func(string) string
}

// Ping limits (see Healthcheck).
const (
	HealthcheckAttempts       = 3
	HealthcheckAttemptTimeout = 5 * time.Second
	HealthcheckBudget         = 10 * time.Second
	// HealthcheckMaxBody is the most of a summary sent (healthchecks.io
	// keeps the first 100 kB of a body).
	HealthcheckMaxBody = 10000
)

// NewHealthcheck reads BACKUP_HEALTHCHECK_URL: nil when it is not set, a
// configuration error when it is not an http(s) URL. scrub removes secrets
// from the bodies.
func NewHealthcheck(cfg *config.Config, log hclog.Logger, scrub func(string) string) (*Healthcheck, error) {
	raw := strings.TrimSpace(cfg.Get(config.EnvHealthcheckURL))
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		// Not quoting the value: it is a credential of sorts.
		return nil, config.Configf("%s is not an http(s) URL: use the check's ping URL, e.g. https://hc-ping.com/<uuid>", config.EnvHealthcheckURL)
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if scrub == nil {
		scrub = func(s string) string { return s }
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return &Healthcheck{url: u, display: u.Scheme + "://" + u.Host + "/…", log: log, scrub: scrub}, nil
}

// Start pings URL/start.
func (h *Healthcheck) Start(ctx context.Context, job string) {
	h.ping(ctx, "/start", fmt.Sprintf("timetiles-backup %s started", job))
}

// Done pings URL (ok) or URL/fail with the job's summary.
func (h *Healthcheck) Done(ctx context.Context, ok bool, summary string) {
	suffix := "/fail"
	if ok {
		suffix = ""
	}
	h.ping(ctx, suffix, summary)
}

func (h *Healthcheck) ping(ctx context.Context, suffix, body string) {
	if h == nil {
		return
	}
	body = h.scrub(body)
	if len(body) > HealthcheckMaxBody {
		body = body[:HealthcheckMaxBody] + "\n… (truncated)"
	}
	// Not tied to the job's context: an interrupted job still reports its
	// failure (within the budget).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), HealthcheckBudget)
	defer cancel()
	client := retryablehttp.NewClient()
	client.Logger = nil // it would log the URL
	client.RetryMax = HealthcheckAttempts - 1
	client.RetryWaitMin, client.RetryWaitMax = 250*time.Millisecond, 2*time.Second
	client.ErrorHandler = retryablehttp.PassthroughErrorHandler
	client.HTTPClient.Timeout = HealthcheckAttemptTimeout
	defer client.HTTPClient.CloseIdleConnections()
	u := *h.url // URL/start, URL/fail; a query (?create=1) stays at the end
	u.Path += suffix
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader([]byte(body)))
	if err != nil {
		h.log.Warn("health check ping not sent", "check", h.display, "error", "cannot build the request")
		return
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("User-Agent", "timetiles-backup/"+Version)
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error quotes the URL
		}
		h.log.Warn("health check ping failed (the job itself is not affected)", "check", h.display, "ping", pingName(suffix), "error", err)
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		h.log.Warn("health check ping refused (the job itself is not affected)", "check", h.display, "ping", pingName(suffix), "status", resp.Status)
		return
	}
	h.log.Debug("health check pinged", "check", h.display, "ping", pingName(suffix))
}

func pingName(suffix string) string {
	if suffix == "" {
		return "success"
	}
	return strings.TrimPrefix(suffix, "/")
}
