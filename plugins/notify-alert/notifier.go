// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/internal/version"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Configuration keys.
const (
	keyChannels       = "BACKUP_ALERT_CHANNELS"
	keyScript         = "TIMETILES_ALERT_SCRIPT"
	keyScriptTimeout  = "BACKUP_ALERT_SCRIPT_TIMEOUT"
	keySMTPHost       = "EMAIL_SMTP_HOST"
	keySMTPPort       = "EMAIL_SMTP_PORT"
	keySMTPUser       = "EMAIL_SMTP_USER"
	keySMTPPass       = "EMAIL_SMTP_PASS"
	keySMTPTLS        = "EMAIL_SMTP_TLS"
	keySMTPCAFile     = "EMAIL_SMTP_CA_FILE"
	keySMTPTimeout    = "EMAIL_SMTP_TIMEOUT"
	keyEmailFrom      = "EMAIL_FROM"
	keyAlertEmail     = "ALERT_EMAIL"
	keyLetsEncrypt    = "LETSENCRYPT_EMAIL"
	keyWebhookURL     = "BACKUP_ALERT_WEBHOOK_URL"
	keyWebhookTimeout = "BACKUP_ALERT_WEBHOOK_TIMEOUT"
	keyLog            = "BACKUP_ALERT_LOG"
	keyNotifySuccess  = "BACKUP_ALERT_NOTIFY_SUCCESS"
)

// Channel names, in delivery-report order.
const (
	chScript  = "script"
	chEmail   = "email"
	chWebhook = "webhook"
	chLog     = "log"
)

var allChannels = []string{chScript, chEmail, chWebhook, chLog}

// Defaults, variables so that tests can point them elsewhere.
var (
	defaultScript  = "/opt/timetiles/scripts/alert.sh"
	defaultLogFile = "/var/log/timetiles/alerts.log"
)

const (
	defaultScriptTimeout  = 60 * time.Second
	defaultSMTPTimeout    = 30 * time.Second
	defaultWebhookTimeout = 10 * time.Second
)

// channel delivers an alert one way.
type channel interface {
	name() string
	deliver(ctx context.Context, a alert) error
}

// notifier is the Notifier: it fans an event out to the configured channels.
type notifier struct {
	log hclog.Logger

	channels []channel
	// fallback receives the alert when no channel is configured, or when
	// every configured channel failed and the channels were not chosen
	// explicitly with BACKUP_ALERT_CHANNELS.
	fallback *logChannel
	// explicit is true when BACKUP_ALERT_CHANNELS chose the channels.
	explicit bool
	scrub    *scrubber
	// success: deliver success events too (BACKUP_ALERT_NOTIFY_SUCCESS).
	success bool
}

func (n *notifier) logger() hclog.Logger {
	if n.log == nil {
		return sdk.Logger
	}
	return n.log
}

func (n *notifier) Info() sdk.Info {
	return sdk.Info{
		Name:        "notify-alert",
		Version:     version.Version, // the release it ships with (internal/version)
		Description: "Delivers backup alerts by TimeTiles' alert script, SMTP email and/or a JSON webhook (Slack-compatible); falls back to a log file",
		ConfigKeys: []sdk.ConfigKey{
			{Name: keyChannels, Description: "comma list of channels to use (script,email,webhook,log); default: every channel whose settings are present, or log when none is"},
			{Name: keyScript, Description: "alert script, run as SCRIPT \"Subject\" \"Body\" with ALERT_* variables in its environment", Default: defaultScript + " (only when it exists)", Executable: true},
			{Name: keyScriptTimeout, Description: "how long the alert script may run (Go duration or seconds)", Default: defaultScriptTimeout.String()},
			{Name: keySMTPHost, Description: "SMTP server; setting it (with a recipient) enables email"},
			{Name: keySMTPPort, Description: "SMTP port", Default: "587 (465 with EMAIL_SMTP_TLS=tls)"},
			{Name: keySMTPUser, Description: "SMTP user name; when set, the connection must be encrypted unless EMAIL_SMTP_TLS=none"},
			{Name: keySMTPPass, Secret: true, Description: "SMTP password"},
			{Name: keySMTPTLS, Description: "auto (port 465: implicit TLS; otherwise STARTTLS, mandatory when a user is set), starttls, tls (implicit), or none (plain, for a local relay)", Default: "auto"},
			{Name: keySMTPCAFile, Description: "PEM file of CA certificates that sign the SMTP server's certificate (a private CA or a self-signed certificate); default: the system's roots"},
			{Name: keySMTPTimeout, Description: "SMTP connection timeout", Default: defaultSMTPTimeout.String()},
			{Name: keyEmailFrom, Description: "sender address; default: EMAIL_SMTP_USER when it is an address"},
			{Name: keyAlertEmail, Description: "recipient address(es), comma-separated; default: LETSENCRYPT_EMAIL"},
			{Name: keyLetsEncrypt, Description: "recipient when ALERT_EMAIL is not set"},
			{Name: keyWebhookURL, Secret: true, Description: "URL that receives a JSON POST of the alert (Slack-compatible: has a top-level \"text\"); its path may hold a token"},
			{Name: keyWebhookTimeout, Description: "timeout of one webhook attempt (3 attempts on network errors, 5xx and 429)", Default: defaultWebhookTimeout.String()},
			{Name: keyLog, Description: "file the alert is appended to when no channel is configured (its directory is created)", Default: defaultLogFile, WrittenPath: true},
			{Name: keyNotifySuccess, Description: "also deliver successful backups (\"Backup Succeeded\") through the channels: true or false; failures are always delivered", Default: "false"},
		},
		Capabilities: []string{sdk.CapSuccessEvents},
	}
}

func (n *notifier) Configure(_ context.Context, cfg sdk.Config) error {
	n.scrub = newScrubber(cfg)
	err := n.configure(cfg)
	if err != nil {
		return fmt.Errorf("%w: %s", sdk.ErrInvalidConfig, n.scrub.clean(err.Error()))
	}
	return nil
}

func (n *notifier) configure(cfg sdk.Config) error {
	n.channels = nil
	n.explicit = false
	n.success = false
	if v := strings.TrimSpace(cfg.Get(keyNotifySuccess)); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s=%q: use true or false", keyNotifySuccess, v)
		}
		n.success = b
	}
	n.fallback = &logChannel{path: cfg.GetDefault(keyLog, defaultLogFile)}

	var want []string
	if v := strings.TrimSpace(cfg.Get(keyChannels)); v != "" {
		for _, c := range strings.Split(v, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			if c == "" || slices.Contains(want, c) {
				continue
			}
			if !slices.Contains(allChannels, c) {
				return fmt.Errorf("%s: unknown channel %q (choose from %s)", keyChannels, c, strings.Join(allChannels, ", "))
			}
			want = append(want, c)
		}
		n.explicit = len(want) > 0
	}
	forced := func(c string) bool { return slices.Contains(want, c) }

	var errs []error
	add := func(c string, build func() (channel, error)) {
		if n.explicit && !forced(c) {
			return
		}
		ch, err := build()
		switch {
		case err != nil:
			errs = append(errs, err)
		case ch != nil:
			n.channels = append(n.channels, ch)
		case forced(c):
			errs = append(errs, fmt.Errorf("%s lists %s, but %s", keyChannels, c, missingSettings[c]))
		}
	}
	add(chScript, func() (channel, error) { return newScriptChannel(cfg, n.logger()) })
	add(chEmail, func() (channel, error) { return newEmailChannel(cfg, forced(chEmail), n.logger()) })
	add(chWebhook, func() (channel, error) { return newWebhookChannel(cfg, n.logger()) })
	if forced(chLog) {
		n.channels = append(n.channels, n.fallback)
	}
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, err.Error())
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// missingSettings says what enables a channel.
var missingSettings = map[string]string{
	chScript:  fmt.Sprintf("no alert script: set %s (or install %s)", keyScript, defaultScript),
	chEmail:   fmt.Sprintf("email is not configured: set %s and %s (or %s)", keySMTPHost, keyAlertEmail, keyLetsEncrypt),
	chWebhook: fmt.Sprintf("no webhook: set %s", keyWebhookURL),
}

// result is the outcome of one channel.
type result struct {
	name string
	err  error
}

func (n *notifier) Notify(ctx context.Context, e sdk.Event) ([]string, error) {
	if n.fallback == nil {
		return nil, fmt.Errorf("%w: Notify called before Configure", sdk.ErrInvalidConfig)
	}
	if sdk.IsSuccess(e) && !n.success {
		return nil, nil // opt-in: BACKUP_ALERT_NOTIFY_SUCCESS
	}
	a := newAlert(e)
	log := n.logger()

	if len(n.channels) == 0 {
		log.Warn("no alert channel is configured: the alert is only appended to "+n.fallback.path,
			"subject", a.Subject,
			"configure", fmt.Sprintf("set %s (email: also %s, %s), %s, or %s (or install %s); %s chooses channels explicitly",
				keySMTPHost, keyAlertEmail, keyEmailFrom, keyWebhookURL, keyScript, defaultScript, keyChannels))
		if err := n.fallback.deliver(ctx, a); err != nil {
			return nil, fmt.Errorf("alert not delivered: no channel is configured and log: %s", n.scrub.clean(err.Error()))
		}
		return []string{chLog}, nil
	}

	// Channels deliver concurrently, so that one that hangs until its
	// timeout does not hold back the others.
	results := make([]result, len(n.channels))
	var wg sync.WaitGroup
	for i, ch := range n.channels {
		wg.Go(func() {
			results[i] = result{name: ch.name(), err: ch.deliver(ctx, a)}
		})
	}
	wg.Wait()

	var delivered, failed []string
	for _, r := range results {
		if r.err == nil {
			delivered = append(delivered, r.name)
			log.Debug("alert delivered", "channel", r.name, "subject", a.Subject)
			continue
		}
		msg := n.scrub.clean(r.err.Error())
		failed = append(failed, r.name+": "+msg)
		log.Error("alert channel failed", "channel", r.name, "subject", a.Subject, "error", msg)
	}
	if len(failed) == 0 {
		return delivered, nil
	}
	// Keep the alert somewhere when every channel the operator did not
	// choose explicitly failed.
	if len(delivered) == 0 && !n.explicit {
		if err := n.fallback.deliver(ctx, a); err != nil {
			failed = append(failed, "log (fallback): "+n.scrub.clean(err.Error()))
		} else {
			delivered = append(delivered, chLog)
			log.Warn("every alert channel failed: the alert was appended to "+n.fallback.path, "subject", a.Subject)
		}
	}
	msg := fmt.Sprintf("alert delivery failed on %d of %d channel(s): %s", len(failed), len(n.channels), strings.Join(failed, "; "))
	if len(delivered) > 0 {
		msg += " (delivered by " + strings.Join(delivered, ", ") + ")"
	}
	return delivered, errors.New(msg)
}

// scrubber removes secret values from text bound for errors and logs.
type scrubber struct {
	secrets []string
	// short secrets are removed only where they stand as a whole word: a
	// password "p" must not turn "tcp" into "tc***".
	short []*regexp.Regexp
}

// minSubstringSecret is the length from which a secret is removed wherever
// it occurs, even inside a word.
const minSubstringSecret = 6

func newScrubber(cfg sdk.Config) *scrubber {
	s := &scrubber{}
	s.add(cfg.Get(keySMTPPass))
	if raw := strings.TrimSpace(cfg.Get(keyWebhookURL)); raw != "" {
		s.add(raw)
		if u, err := url.Parse(raw); err == nil {
			if p, ok := u.User.Password(); ok {
				s.add(p)
			}
			if u.User != nil {
				s.add(u.User.String())
			}
			// Tokens often travel in the path (Slack: /services/T/B/TOKEN)
			// or the query: hide both, piece by piece.
			for _, seg := range strings.Split(strings.Trim(u.EscapedPath(), "/"), "/") {
				if len(seg) >= 8 {
					s.add(seg)
				}
			}
			if len(u.Path) > 1 {
				s.add(u.EscapedPath())
				s.add(u.Path)
			}
			if u.RawQuery != "" {
				s.add(u.RawQuery)
				for _, vs := range u.Query() {
					for _, v := range vs {
						s.add(v)
					}
				}
			}
		}
	}
	// Longest first, so that a secret containing another is removed whole.
	slices.SortFunc(s.secrets, func(a, b string) int { return len(b) - len(a) })
	var long []string
	for _, v := range s.secrets {
		if len(v) >= minSubstringSecret {
			long = append(long, v)
			continue
		}
		s.short = append(s.short, regexp.MustCompile(`(^|[^A-Za-z0-9])`+regexp.QuoteMeta(v)+`([^A-Za-z0-9]|$)`))
	}
	s.secrets = long
	return s
}

func (s *scrubber) add(v string) {
	if v == "" {
		return
	}
	for _, x := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
		if !slices.Contains(s.secrets, x) {
			s.secrets = append(s.secrets, x)
		}
	}
}

func (s *scrubber) clean(text string) string {
	if s == nil {
		return text
	}
	for _, v := range s.secrets {
		text = strings.ReplaceAll(text, v, "***")
	}
	for _, re := range s.short {
		text = re.ReplaceAllString(text, "${1}***${2}")
	}
	return maskURLCredentials(text)
}

// parseDuration reads a Go duration ("90s", "2m") or a number of seconds.
func parseDuration(cfg sdk.Config, key string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(cfg.Get(key))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, serr := strconv.ParseFloat(v, 64)
		if serr != nil {
			return 0, fmt.Errorf("%s: %q is not a duration (e.g. 30s or 30)", key, v)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s: %q must be positive", key, v)
	}
	return d, nil
}
