// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	// go-retryablehttp (HashiCorp, MPL-2.0) does the retry loop: rewinds the
	// body, backs off exponentially and honours Retry-After.
	"github.com/hashicorp/go-retryablehttp"

	"github.com/timetiles/timetiles-backup/sdk"
)

// Webhook retry policy: 3 attempts, waiting webhookBackoffMin, then twice
// that, never more than webhookBackoffMax (also for Retry-After). Variables
// so that tests can shorten them.
var (
	webhookAttempts   = 3
	webhookBackoffMin = 1 * time.Second
	webhookBackoffMax = 10 * time.Second
)

// webhookChannel POSTs the alert as JSON.
type webhookChannel struct {
	url     string
	display string // scheme://host, for messages: the path may hold a token
	timeout time.Duration
	log     hclog.Logger
}

// webhookPayload is the JSON body. Text makes it a valid Slack (and
// Mattermost, Rocket.Chat, Discord-via-/slack) incoming-webhook message; the
// other fields are for receivers that read the structured event.
type webhookPayload struct {
	Text       string `json:"text"`
	Subject    string `json:"subject"`
	Body       string `json:"body"`
	Message    string `json:"message"`
	Kind       string `json:"kind"`
	Severity   string `json:"severity"`
	Component  string `json:"component"`
	RunID      string `json:"run_id"`
	Repository string `json:"repository"`
	Error      string `json:"error"`
	Hostname   string `json:"hostname"`
	Time       string `json:"time"`
}

func newWebhookChannel(cfg sdk.Config, log hclog.Logger) (channel, error) {
	raw := strings.TrimSpace(cfg.Get(keyWebhookURL))
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// url.Parse errors quote the URL: say nothing of it.
		return nil, fmt.Errorf("%s is not an http(s) URL", keyWebhookURL)
	}
	timeout, err := parseDuration(cfg, keyWebhookTimeout, defaultWebhookTimeout)
	if err != nil {
		return nil, err
	}
	return &webhookChannel{url: raw, display: u.Scheme + "://" + u.Host, timeout: timeout, log: log}, nil
}

func (c *webhookChannel) name() string { return chWebhook }

func (c *webhookChannel) deliver(ctx context.Context, a alert) error {
	payload, err := json.Marshal(webhookPayload{
		Text:       a.Subject + ": " + a.Body,
		Subject:    a.Subject,
		Body:       a.Body,
		Message:    a.Text,
		Kind:       a.Kind,
		Severity:   a.Severity,
		Component:  a.Component,
		RunID:      a.RunID,
		Repository: a.Repository,
		Error:      a.Error,
		Hostname:   a.Hostname,
		Time:       a.Time.Format(time.RFC3339),
	})
	if err != nil {
		return err
	}

	client := retryablehttp.NewClient()
	// Its logger would print the URL, token and all.
	client.Logger = nil
	client.RetryMax = webhookAttempts - 1
	client.RetryWaitMin, client.RetryWaitMax = webhookBackoffMin, webhookBackoffMax
	client.Backoff = func(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
		return min(retryablehttp.DefaultBackoff(lo, hi, n, resp), hi)
	}
	client.CheckRetry = retryPolicy
	client.ErrorHandler = retryablehttp.PassthroughErrorHandler
	attempts := 0
	client.RequestLogHook = func(_ retryablehttp.Logger, _ *http.Request, n int) {
		attempts = n + 1
		if n > 0 {
			c.log.Debug("retrying webhook", "url", c.display, "attempt", n+1)
		}
	}
	client.HTTPClient.Timeout = c.timeout // each attempt
	// A webhook answers; it does not redirect a POST elsewhere.
	client.HTTPClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	defer client.HTTPClient.CloseIdleConnections()

	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, c.url, payload)
	if err != nil {
		return fmt.Errorf("%s: cannot build the request", c.display)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "timetiles-backup-notify-alert/0.1.0")

	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %s (%s)", c.display, describeHTTPError(err, c.timeout), plural(attempts, "attempt"))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := fmt.Sprintf("%s: HTTP %s", c.display, resp.Status)
		if s := strings.TrimSpace(strings.ToValidUTF8(string(snippet), "?")); s != "" {
			msg += ": " + s
		}
		msg += " (" + plural(attempts, "attempt") + ")"
		return errors.New(msg)
	}
	return nil
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// retryPolicy retries network errors (as go-retryablehttp judges them: not
// bad certificates, schemes or redirects), 5xx and 429; nothing else.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	return retryable(resp.StatusCode), nil
}

// describeHTTPError says what went wrong without the URL, which *url.Error
// would quote in full.
func describeHTTPError(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("no answer within %s", timeout)
		}
		err = ue.Err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "stopped: " + err.Error()
	}
	return err.Error()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
