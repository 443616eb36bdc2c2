// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	// go-mail (wneessen/go-mail, MIT, actively maintained) speaks SMTP with
	// STARTTLS, implicit TLS and SMTP AUTH discovery, and builds RFC 5322
	// messages with proper header encoding. v0.8.1: v0.8.2 needs a newer Go.
	gomail "github.com/wneessen/go-mail"

	"github.com/timetiles/timetiles-backup/sdk"
)

// TLS modes of EMAIL_SMTP_TLS.
const (
	tlsAuto     = "auto"
	tlsStartTLS = "starttls"
	tlsImplicit = "tls"
	tlsNone     = "none"
)

// emailChannel sends the alert by SMTP with TimeTiles' EMAIL_* settings.
type emailChannel struct {
	host    string
	port    int
	user    string
	pass    string
	from    string
	to      []string
	mode    string // starttls (mandatory), opportunistic, tls, none
	tlsConf *tls.Config
	timeout time.Duration
}

func newEmailChannel(cfg sdk.Config, forced bool, log hclog.Logger) (channel, error) {
	host := strings.TrimSpace(cfg.Get(keySMTPHost))
	if host == "" {
		return nil, nil
	}
	to := cfg.Get(keyAlertEmail)
	toKey := keyAlertEmail
	if strings.TrimSpace(to) == "" {
		to, toKey = cfg.Get(keyLetsEncrypt), keyLetsEncrypt
	}
	if strings.TrimSpace(to) == "" {
		if forced {
			return nil, fmt.Errorf("email: no recipient: set %s (or %s)", keyAlertEmail, keyLetsEncrypt)
		}
		// EMAIL_SMTP_HOST alone is TimeTiles' application mail setting:
		// without a recipient, email alerts are simply not configured.
		log.Warn(fmt.Sprintf("%s is set but no alert recipient is: email alerts are off (set %s)", keySMTPHost, keyAlertEmail))
		return nil, nil
	}
	c := &emailChannel{host: host, user: cfg.Get(keySMTPUser), pass: cfg.Get(keySMTPPass)}
	for _, addr := range strings.Split(to, ",") {
		addr = strings.TrimSpace(addr)
		if addr == "" {
			continue
		}
		if _, err := mail.ParseAddress(addr); err != nil {
			return nil, fmt.Errorf("email: %s: %q is not an email address", toKey, addr)
		}
		c.to = append(c.to, addr)
	}

	c.from = strings.TrimSpace(cfg.Get(keyEmailFrom))
	if c.from == "" && strings.Contains(c.user, "@") {
		c.from = c.user
	}
	if c.from == "" {
		return nil, fmt.Errorf("email: no sender: set %s", keyEmailFrom)
	}
	if _, err := mail.ParseAddress(c.from); err != nil {
		return nil, fmt.Errorf("email: %s: %q is not an email address", keyEmailFrom, c.from)
	}

	mode := strings.ToLower(strings.TrimSpace(cfg.GetDefault(keySMTPTLS, tlsAuto)))
	switch mode {
	case tlsAuto, tlsStartTLS, tlsImplicit, tlsNone:
	case "ssl", "smtps":
		mode = tlsImplicit
	default:
		return nil, fmt.Errorf("email: %s: %q is not one of auto, starttls, tls, none", keySMTPTLS, mode)
	}
	defPort := "587"
	if mode == tlsImplicit {
		defPort = "465"
	}
	port, err := strconv.Atoi(strings.TrimSpace(cfg.GetDefault(keySMTPPort, defPort)))
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("email: %s: %q is not a port", keySMTPPort, cfg.Get(keySMTPPort))
	}
	c.port = port
	if mode == tlsAuto {
		switch {
		case port == 465:
			mode = tlsImplicit
		case c.user != "":
			// Credentials never travel unencrypted unless asked with
			// EMAIL_SMTP_TLS=none.
			mode = tlsStartTLS
		default:
			mode = "opportunistic"
		}
	}
	c.mode = mode
	if mode == tlsNone && c.user != "" && !isLoopback(host) {
		log.Warn("EMAIL_SMTP_TLS=none: the SMTP password is sent unencrypted", "host", host)
	}

	c.tlsConf = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if f := strings.TrimSpace(cfg.Get(keySMTPCAFile)); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("email: %s: %w", keySMTPCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("email: %s: %s holds no PEM certificate", keySMTPCAFile, f)
		}
		c.tlsConf.RootCAs = pool
	}
	if c.timeout, err = parseDuration(cfg, keySMTPTimeout, defaultSMTPTimeout); err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *emailChannel) name() string { return chEmail }

func (c *emailChannel) deliver(ctx context.Context, a alert) error {
	m := gomail.NewMsg()
	if err := m.From(c.from); err != nil {
		return fmt.Errorf("sender %q: %w", c.from, err)
	}
	if err := m.To(c.to...); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	m.Subject(a.Subject)
	m.SetDateWithValue(a.Time)
	m.SetMessageID()
	m.SetGenHeader("X-TimeTiles-Alert-Kind", a.Kind)
	if a.Severity != "" {
		m.SetGenHeader("X-TimeTiles-Alert-Severity", a.Severity)
	}
	if a.RunID != "" {
		m.SetGenHeader("X-TimeTiles-Run-ID", a.RunID)
	}
	m.SetBodyString(gomail.TypeTextPlain, a.Body+"\n")

	opts := []gomail.Option{
		gomail.WithPort(c.port),
		gomail.WithTimeout(c.timeout),
		gomail.WithTLSConfig(c.tlsConf),
	}
	switch c.mode {
	case tlsImplicit:
		opts = append(opts, gomail.WithSSL())
	case tlsStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "opportunistic":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case tlsNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if c.user != "" {
		opts = append(opts, gomail.WithUsername(c.user), gomail.WithPassword(c.pass))
		if c.mode == tlsNone {
			// Explicitly unencrypted (a local relay): challenge mechanisms
			// first, then PLAIN/LOGIN, which go-mail otherwise refuses
			// without TLS.
			opts = append(opts, gomail.WithOpportunisticSMTPAuth(
				gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5,
				gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc))
		} else {
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover))
		}
	}
	client, err := gomail.NewClient(c.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("smtp %s:%d (%s): %w", c.host, c.port, c.mode, err)
	}
	return nil
}
