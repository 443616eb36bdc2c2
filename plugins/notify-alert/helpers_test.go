package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Secret values that must never show in errors, logs or a script's view.
const (
	smtpSecret = "smtp-Secret-7Qx9"
	dbSecret   = "db-Secret-4Kd2"
)

var testTime = time.Date(2026, 3, 14, 3, 15, 9, 0, time.UTC)

func testEvent() sdk.Event {
	return sdk.Event{
		Kind:       "backup_failed",
		Severity:   "error",
		Body:       "pg_dump exited with status 1 while backing up the database.",
		Component:  "db",
		RunID:      "run-20260314-031500",
		Repository: "local",
		Error:      "pg_dump: error: connection to server failed",
		Hostname:   "tt-prod-1",
		Time:       testTime,
	}
}

const testSubject = "[TimeTiles tt-prod-1] Backup Failed"

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// isolate points the default script and log file into a temporary
// directory (where neither exists) and shortens the webhook backoff.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	oldScript, oldLog := defaultScript, defaultLogFile
	oldMin, oldMax := webhookBackoffMin, webhookBackoffMax
	defaultScript = filepath.Join(dir, "no-such-alert.sh")
	defaultLogFile = filepath.Join(dir, "default-log", "alerts.log")
	webhookBackoffMin, webhookBackoffMax = 20*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() {
		defaultScript, defaultLogFile = oldScript, oldLog
		webhookBackoffMin, webhookBackoffMax = oldMin, oldMax
	})
	return dir
}

// configured returns a notifier configured with values, and its log.
func configured(t *testing.T, values map[string]string) (*notifier, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	n := &notifier{log: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})}
	if err := n.Configure(context.Background(), sdk.Config{Values: values, APIVersion: sdk.APIVersion}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return n, logs
}

func notify(t *testing.T, n *notifier, e sdk.Event) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return n.Notify(ctx, e)
}

func assertNoSecret(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s contains the secret %q:\n%s", what, s, text)
		}
	}
}

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// recordingScript writes a script that records its argc, arguments and
// NUL-separated environment into rec/.
func recordingScript(t *testing.T, dir string) (script, rec string) {
	t.Helper()
	rec = filepath.Join(dir, "rec")
	script = writeScript(t, dir, "alert.sh", `rec='`+rec+`'
mkdir -p "$rec"
printf '%s' "$#" > "$rec/argc"
printf '%s' "$1" > "$rec/arg1"
printf '%s' "$2" > "$rec/arg2"
env -0 > "$rec/env"
echo "alert sent"
`)
	return script, rec
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readEnv(t *testing.T, p string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, kv := range strings.Split(readFile(t, p), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// --- a real SMTP server on 127.0.0.1 (internal/testenv.StartSMTP) ---

type receivedMail = testenv.SMTPMail

type smtpOptions struct {
	tls               *tls.Config // offer STARTTLS (or implicit TLS)
	implicit          bool
	allowInsecureAuth bool
	user, pass        string
}

func startSMTP(t *testing.T, o smtpOptions) *testenv.SMTPServer {
	return testenv.StartSMTP(t, testenv.SMTPOptions{TLS: o.tls, Implicit: o.implicit, AllowInsecureAuth: o.allowInsecureAuth, User: o.user, Pass: o.pass})
}

// parsedMail is a received message's subject, text body and headers.
type parsedMail struct {
	Subject string
	Body    string
	Header  mail.Header
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse mail: %v\n%s", err, data)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(m.Body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return parsedMail{Subject: subj, Body: strings.ReplaceAll(string(b), "\r\n", "\n"), Header: m.Header}
}

// selfSignedCert makes a certificate for 127.0.0.1 and localhost, and
// writes it as PEM (for EMAIL_SMTP_CA_FILE).
func selfSignedCert(t *testing.T, dir string) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "notify-alert test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "smtp-ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}}, caFile
}

func cfgOf(values map[string]string) sdk.Config {
	return sdk.Config{Values: values, APIVersion: sdk.APIVersion}
}
