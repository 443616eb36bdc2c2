// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	// go-retryablehttp (HashiCorp, MPL-2.0), as notify-alert's webhook and
	// the host's health check pings: retries on network errors, 5xx and 429
	// with exponential backoff, honouring Retry-After.
	"github.com/hashicorp/go-retryablehttp"

	"github.com/timetiles/timetiles-backup/internal/version"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Configuration keys.
const (
	keyURL           = "NTFY_URL"
	keyToken         = "NTFY_TOKEN"
	keyNotifySuccess = "NTFY_NOTIFY_SUCCESS"
	keyTimeout       = "NTFY_TIMEOUT"
)

const defaultTimeout = 10 * time.Second

// Retry policy, variables so that tests can shorten it.
var (
	attempts   = 3
	backoffMin = 1 * time.Second
	backoffMax = 10 * time.Second
)

// notifier publishes events to one ntfy topic.
type notifier struct {
	url     string
	display string // scheme://host: the topic name is the access control of a public server
	token   string
	success bool
	timeout time.Duration
}

func (n *notifier) Info() sdk.Info {
	return sdk.Info{
		Name:        "notify-ntfy",
		Version:     version.Version,
		Description: "Publishes backup alerts to an ntfy topic (ntfy.sh or self-hosted): failures at high priority, successes when opted in",
		ConfigKeys: []sdk.ConfigKey{
			{Name: keyURL, Secret: true, Description: "topic URL, e.g. https://ntfy.sh/mytopic (on a public server the topic name is the password)"},
			{Name: keyToken, Secret: true, Description: "access token of a protected topic (sent as Authorization: Bearer)"},
			{Name: keyNotifySuccess, Description: "also publish successful backups (low priority): true or false", Default: "false"},
			{Name: keyTimeout, Description: "timeout of one attempt (3 attempts on network errors, 5xx and 429)", Default: defaultTimeout.String()},
		},
		Capabilities: []string{sdk.CapSuccessEvents},
	}
}

func (n *notifier) Configure(_ context.Context, cfg sdk.Config) error {
	raw := strings.TrimSpace(cfg.Get(keyURL))
	if raw == "" {
		return fmt.Errorf("%w: %s is not set: set it to the topic URL, e.g. https://ntfy.sh/mytopic", sdk.ErrInvalidConfig, keyURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// url.Parse errors quote the URL, which holds the topic: say nothing of it.
		return fmt.Errorf("%w: %s is not an http(s) URL: use the topic URL, e.g. https://ntfy.sh/mytopic", sdk.ErrInvalidConfig, keyURL)
	}
	if strings.Trim(u.Path, "/") == "" || strings.Contains(strings.Trim(u.Path, "/"), "/") {
		return fmt.Errorf("%w: %s names no topic: use the server's URL followed by the topic, e.g. https://ntfy.sh/mytopic", sdk.ErrInvalidConfig, keyURL)
	}
	success := false
	if v := strings.TrimSpace(cfg.Get(keyNotifySuccess)); v != "" {
		if success, err = strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%w: %s=%q: use true or false", sdk.ErrInvalidConfig, keyNotifySuccess, v)
		}
	}
	timeout := defaultTimeout
	if v := strings.TrimSpace(cfg.Get(keyTimeout)); v != "" {
		if timeout, err = time.ParseDuration(v); err != nil || timeout <= 0 {
			return fmt.Errorf("%w: %s=%q is not a positive duration (e.g. 10s)", sdk.ErrInvalidConfig, keyTimeout, v)
		}
	}
	*n = notifier{url: raw, display: u.Scheme + "://" + u.Host, token: strings.TrimSpace(cfg.Get(keyToken)), success: success, timeout: timeout}
	return nil
}

// message is what is published: ntfy's Title, Priority and Tags headers and
// the body.
type message struct {
	Title    string
	Priority string
	Tags     []string
	Body     string
}

// newMessage composes an event for ntfy. Failures are high priority (4);
// the test alert default (3); successes low (2). The first tag is an emoji
// short code ntfy shows before the title.
func newMessage(e sdk.Event) message {
	m := message{Title: e.Subject, Priority: "default", Body: strings.TrimRight(e.Body, "\n")}
	if m.Title == "" {
		m.Title = e.Kind
	}
	if e.Hostname != "" {
		m.Title += " on " + e.Hostname
	}
	switch {
	case sdk.IsSuccess(e):
		m.Priority, m.Tags = "low", []string{"white_check_mark"}
	case e.Kind == "test":
		m.Tags = []string{"bell"}
	case e.Severity == "warning":
		m.Priority, m.Tags = "high", []string{"warning"}
	default:
		m.Priority, m.Tags = "high", []string{"rotating_light"}
	}
	m.Tags = append(m.Tags, "timetiles-backup", e.Kind)
	if e.Component != "" {
		m.Tags = append(m.Tags, e.Component)
	}
	var fields []string
	for _, f := range [][2]string{{"component", e.Component}, {"repository", e.Repository}, {"run", e.RunID}} {
		if f[1] != "" {
			fields = append(fields, f[0]+": "+f[1])
		}
	}
	if !e.Time.IsZero() {
		fields = append(fields, "time: "+e.Time.UTC().Format(time.RFC3339))
	}
	if len(fields) > 0 {
		m.Body += "\n\n" + strings.Join(fields, "\n")
	}
	return m
}

func (n *notifier) Notify(ctx context.Context, e sdk.Event) ([]string, error) {
	if n.url == "" {
		return nil, fmt.Errorf("%w: Notify called before Configure", sdk.ErrInvalidConfig)
	}
	if sdk.IsSuccess(e) && !n.success {
		return nil, nil // opt-in: NTFY_NOTIFY_SUCCESS
	}
	m := newMessage(e)
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, n.url, []byte(m.Body))
	if err != nil {
		return nil, fmt.Errorf("ntfy %s: cannot build the request", n.display)
	}
	// Header values are ASCII: anything else goes RFC 2047-encoded, which
	// ntfy decodes.
	req.Header.Set("Title", mime.QEncoding.Encode("utf-8", m.Title))
	req.Header.Set("Priority", m.Priority)
	req.Header.Set("Tags", mime.QEncoding.Encode("utf-8", strings.Join(m.Tags, ",")))
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("User-Agent", "timetiles-backup-notify-ntfy/"+version.Version)
	if n.token != "" {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	c := retryablehttp.NewClient()
	c.Logger = nil
	c.RetryMax = attempts - 1
	c.RetryWaitMin, c.RetryWaitMax = backoffMin, backoffMax
	c.HTTPClient.Timeout = n.timeout
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	resp, err := c.Do(req)
	if err != nil {
		// The error of net/http names the URL, and with it the topic.
		return nil, fmt.Errorf("ntfy %s: %s", n.display, n.scrub(err.Error()))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("ntfy %s answered %s: %s", n.display, resp.Status, n.scrub(strings.TrimSpace(string(body))))
	}
	return []string{"ntfy"}, nil
}

// scrub removes the topic URL and the token from a text.
func (n *notifier) scrub(s string) string {
	for _, v := range []string{n.url, strings.TrimRight(n.url, "/"), n.token} {
		if v != "" {
			s = strings.ReplaceAll(s, v, "***")
		}
	}
	if u, err := url.Parse(n.url); err == nil {
		if topic := strings.Trim(u.Path, "/"); len(topic) >= 3 {
			s = strings.ReplaceAll(s, topic, "***")
		}
	}
	return s
}
