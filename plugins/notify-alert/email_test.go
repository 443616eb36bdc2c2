// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/sdk"
)

func assertMail(t *testing.T, m receivedMail, from string, to []string) parsedMail {
	t.Helper()
	if m.From != from {
		t.Errorf("MAIL FROM %q, want %q", m.From, from)
	}
	if !slices.Equal(m.To, to) {
		t.Errorf("RCPT TO %v, want %v", m.To, to)
	}
	p := parseMail(t, m.Data)
	if p.Subject != testSubject {
		t.Errorf("Subject %q, want %q", p.Subject, testSubject)
	}
	if strings.TrimRight(p.Body, "\n") != strings.TrimRight(newAlert(testEvent()).Body, "\n") {
		t.Errorf("body:\n%s", p.Body)
	}
	if got := p.Header.Get("X-Timetiles-Alert-Kind"); got != "backup_failed" {
		t.Errorf("X-TimeTiles-Alert-Kind %q", got)
	}
	if !strings.Contains(p.Header.Get("From"), from) {
		t.Errorf("From header %q", p.Header.Get("From"))
	}
	return p
}

// A local relay without TLS or authentication; the recipient falls back to
// LETSENCRYPT_EMAIL.
func TestEmailLocalRelay(t *testing.T) {
	isolate(t)
	srv := startSMTP(t, smtpOptions{})
	n, _ := configured(t, map[string]string{
		keySMTPHost: srv.Host, keySMTPPort: srv.Port, keyEmailFrom: "backup@tt.example.org",
		keyLetsEncrypt: "admin@tt.example.org",
	})
	delivered, err := notify(t, n, testEvent())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(delivered, []string{"email"}) {
		t.Errorf("delivered %v", delivered)
	}
	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails received", len(mails))
	}
	assertMail(t, mails[0], "backup@tt.example.org", []string{"admin@tt.example.org"})
	if mails[0].TLS {
		t.Error("the relay offers no STARTTLS: the mail should have gone in plain")
	}
}

// STARTTLS with a self-signed certificate trusted through
// EMAIL_SMTP_CA_FILE, and SMTP AUTH.
func TestEmailStartTLSWithAuth(t *testing.T) {
	dir := isolate(t)
	tlsConf, caFile := selfSignedCert(t, dir)
	srv := startSMTP(t, smtpOptions{tls: tlsConf, user: "mailer", pass: smtpSecret})
	values := map[string]string{
		keySMTPHost: srv.Host, keySMTPPort: srv.Port, keySMTPUser: "mailer", keySMTPPass: smtpSecret,
		keyEmailFrom: "backup@tt.example.org", keyAlertEmail: "ops@tt.example.org, oncall@tt.example.org",
		keyLetsEncrypt: "ignored@tt.example.org", keySMTPCAFile: caFile,
	}
	n, logs := configured(t, values)
	if _, err := notify(t, n, testEvent()); err != nil {
		t.Fatal(err)
	}
	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails received", len(mails))
	}
	assertMail(t, mails[0], "backup@tt.example.org", []string{"ops@tt.example.org", "oncall@tt.example.org"})
	if !mails[0].TLS || mails[0].AuthUser != "mailer" {
		t.Errorf("TLS %v, authenticated as %q", mails[0].TLS, mails[0].AuthUser)
	}

	t.Run("wrong password", func(t *testing.T) {
		v := clone(values)
		v[keySMTPPass] = "wrong-" + smtpSecret
		n, logs := configured(t, v)
		_, err := notify(t, n, testEvent())
		if err == nil || !strings.Contains(err.Error(), "email: ") {
			t.Fatalf("want an email failure, got %v", err)
		}
		assertNoSecret(t, "error", err.Error(), smtpSecret)
		assertNoSecret(t, "logs", logs.String(), smtpSecret)
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		v := clone(values)
		delete(v, keySMTPCAFile)
		n, _ := configured(t, v)
		_, err := notify(t, n, testEvent())
		if err == nil || !strings.Contains(err.Error(), "email: ") || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("want a certificate failure, got %v", err)
		}
		if got := len(srv.Mails()); got != 1 {
			t.Errorf("%d mails: nothing should be sent over an unverified connection", got)
		}
	})
	assertNoSecret(t, "logs", logs.String(), smtpSecret)
}

// With a user set, STARTTLS is mandatory: credentials are never sent over a
// plain connection, unless EMAIL_SMTP_TLS=none says so.
func TestEmailAuthNeedsTLSUnlessNone(t *testing.T) {
	isolate(t)
	srv := startSMTP(t, smtpOptions{allowInsecureAuth: true, user: "mailer", pass: smtpSecret})
	values := map[string]string{
		keySMTPHost: srv.Host, keySMTPPort: srv.Port, keySMTPUser: "backup@tt.example.org", keySMTPPass: smtpSecret,
		keyAlertEmail: "ops@tt.example.org",
	}
	n, _ := configured(t, values)
	_, err := notify(t, n, testEvent())
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("want a STARTTLS failure, got %v", err)
	}
	assertNoSecret(t, "error", err.Error(), smtpSecret)
	if srv.AuthAttempts() != 0 || len(srv.Mails()) != 0 {
		t.Fatalf("credentials went over a plain connection (%d AUTH) or mail was sent", srv.AuthAttempts())
	}

	// The user is "mailer" on the server; EMAIL_FROM defaults to the user
	// when that is an address, so use a distinct user here.
	values[keySMTPUser] = "mailer"
	values[keyEmailFrom] = "backup@tt.example.org"
	values[keySMTPTLS] = "none"
	n, _ = configured(t, values)
	if _, err := notify(t, n, testEvent()); err != nil {
		t.Fatal(err)
	}
	mails := srv.Mails()
	if len(mails) != 1 || mails[0].AuthUser != "mailer" || mails[0].TLS {
		t.Fatalf("mails %+v", mails)
	}
	assertMail(t, mails[0], "backup@tt.example.org", []string{"ops@tt.example.org"})
}

func TestEmailFromDefaultsToUserAddress(t *testing.T) {
	dir := isolate(t)
	tlsConf, caFile := selfSignedCert(t, dir)
	srv := startSMTP(t, smtpOptions{tls: tlsConf, user: "alerts@tt.example.org", pass: smtpSecret})
	n, _ := configured(t, map[string]string{
		keySMTPHost: srv.Host, keySMTPPort: srv.Port, keySMTPUser: "alerts@tt.example.org", keySMTPPass: smtpSecret,
		keyAlertEmail: "ops@tt.example.org", keySMTPCAFile: caFile, keySMTPTLS: "starttls",
	})
	if _, err := notify(t, n, testEvent()); err != nil {
		t.Fatal(err)
	}
	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	assertMail(t, mails[0], "alerts@tt.example.org", []string{"ops@tt.example.org"})
}

// Implicit TLS (SMTPS, what port 465 speaks).
func TestEmailImplicitTLS(t *testing.T) {
	dir := isolate(t)
	tlsConf, caFile := selfSignedCert(t, dir)
	srv := startSMTP(t, smtpOptions{tls: tlsConf, implicit: true, user: "mailer", pass: smtpSecret})
	n, _ := configured(t, map[string]string{
		keySMTPHost: srv.Host, keySMTPPort: srv.Port, keySMTPTLS: "tls", keySMTPUser: "mailer", keySMTPPass: smtpSecret,
		keyEmailFrom: "backup@tt.example.org", keyAlertEmail: "ops@tt.example.org", keySMTPCAFile: caFile,
	})
	if _, err := notify(t, n, testEvent()); err != nil {
		t.Fatal(err)
	}
	mails := srv.Mails()
	if len(mails) != 1 || !mails[0].TLS {
		t.Fatalf("mails %+v", mails)
	}
	assertMail(t, mails[0], "backup@tt.example.org", []string{"ops@tt.example.org"})
}

func TestEmailConfiguration(t *testing.T) {
	dir := isolate(t)
	base := map[string]string{keySMTPHost: "127.0.0.1", keyEmailFrom: "b@x.org", keyAlertEmail: "o@x.org"}
	for name, tc := range map[string]struct {
		values map[string]string
		want   string
	}{
		"bad TLS mode":      {map[string]string{keySMTPTLS: "maybe"}, keySMTPTLS},
		"bad port":          {map[string]string{keySMTPPort: "smtp"}, keySMTPPort},
		"bad recipient":     {map[string]string{keyAlertEmail: "not an address"}, keyAlertEmail},
		"no sender":         {map[string]string{keyEmailFrom: ""}, keyEmailFrom},
		"missing CA file":   {map[string]string{keySMTPCAFile: dir + "/none.pem"}, keySMTPCAFile},
		"forced, no rcpt":   {map[string]string{keyAlertEmail: "", keyChannels: "email"}, keyAlertEmail},
		"forced, no server": {map[string]string{keySMTPHost: "", keyChannels: "email"}, keySMTPHost},
	} {
		t.Run(name, func(t *testing.T) {
			v := clone(base)
			for k, x := range tc.values {
				v[k] = x
			}
			err := (&notifier{}).Configure(t.Context(), cfgOf(v))
			if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an invalid-configuration error naming %s, got %v", tc.want, err)
			}
		})
	}

	// EMAIL_SMTP_HOST alone (TimeTiles' app mail) does not enable email
	// alerts: it warns and the alert goes to the log.
	n, logs := configured(t, map[string]string{keySMTPHost: "127.0.0.1"})
	if delivered, err := notify(t, n, testEvent()); err != nil || !slices.Equal(delivered, []string{"log"}) {
		t.Fatalf("delivered %v, %v", delivered, err)
	}
	if !strings.Contains(logs.String(), keyAlertEmail) {
		t.Errorf("want a warning naming %s:\n%s", keyAlertEmail, logs)
	}
}

func clone(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
