// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/sdk"
)

func TestNoChannelAppendsToLogFileAndWarns(t *testing.T) {
	dir := isolate(t)
	logFile := filepath.Join(dir, "var", "log", "timetiles", "alerts.log") // directory does not exist yet
	n, logs := configured(t, map[string]string{keyLog: logFile})
	for range 2 {
		delivered, err := notify(t, n, testEvent())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(delivered, []string{"log"}) {
			t.Fatalf("delivered %v", delivered)
		}
	}
	entry := "[2026-03-14T03:15:09Z] " + testSubject + "\n" + newAlert(testEvent()).Body + "\n"
	if got := readFile(t, logFile); got != entry+entry {
		t.Errorf("log file:\n%s\nwant twice:\n%s", got, entry)
	}
	for _, want := range []string{"no alert channel is configured", keyWebhookURL, keySMTPHost, keyScript, keyChannels} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("warning lacks %q:\n%s", want, logs)
		}
	}

	// Without BACKUP_ALERT_LOG: the default file, like the old tool.
	n, _ = configured(t, nil)
	if _, err := notify(t, n, testEvent()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, defaultLogFile); got != entry {
		t.Errorf("default log file:\n%s", got)
	}
}

func TestNoChannelAndUnwritableLogFails(t *testing.T) {
	dir := isolate(t)
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n, _ := configured(t, map[string]string{keyLog: filepath.Join(blocker, "alerts.log")})
	delivered, err := notify(t, n, testEvent())
	if err == nil || len(delivered) != 0 || !strings.Contains(err.Error(), "log: ") {
		t.Fatalf("delivered %v, err %v", delivered, err)
	}
}

func TestFailingScriptDoesNotStopWebhook(t *testing.T) {
	dir := isolate(t)
	script := writeScript(t, dir, "alert.sh", "echo 'alert.sh: sendmail missing' >&2\nexit 3\n")
	srv := startWebhook(t)
	logFile := filepath.Join(dir, "alerts.log")
	n, _ := configured(t, map[string]string{
		keyScript: script, keyWebhookURL: srv.URL + "/x/" + "tok-Secret-abcdefgh", keySMTPPass: smtpSecret, keyLog: logFile,
	})
	delivered, err := notify(t, n, testEvent())
	if !slices.Equal(delivered, []string{"webhook"}) {
		t.Errorf("delivered %v, want [webhook]", delivered)
	}
	if srv.hits.Load() != 1 || srv.payload(t, 0)["subject"] != testSubject {
		t.Errorf("webhook got %d requests", srv.hits.Load())
	}
	if err == nil {
		t.Fatal("Notify must report the failed script")
	}
	for _, want := range []string{"1 of 2 channel(s)", "script: ", "exit status 3", "alert.sh: sendmail missing", "delivered by webhook"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	assertNoSecret(t, "error", err.Error(), smtpSecret, "tok-Secret-abcdefgh")
	// A channel delivered: no fallback to the log.
	if _, err := os.Stat(logFile); !os.IsNotExist(err) {
		t.Errorf("log file written although the webhook delivered: %v", err)
	}
}

func TestAllChannelsFailedFallsBackToLog(t *testing.T) {
	dir := isolate(t)
	srv := startWebhook(t, 400)
	logFile := filepath.Join(dir, "alerts.log")
	n, logs := configured(t, map[string]string{keyWebhookURL: srv.URL, keyLog: logFile})
	delivered, err := notify(t, n, testEvent())
	if err == nil || !strings.Contains(err.Error(), "webhook: ") || !strings.Contains(err.Error(), "delivered by log") {
		t.Fatalf("want an error naming the webhook, got %v", err)
	}
	if !slices.Equal(delivered, []string{"log"}) {
		t.Errorf("delivered %v", delivered)
	}
	if !strings.Contains(readFile(t, logFile), testSubject) {
		t.Error("log file lacks the alert")
	}
	if !strings.Contains(logs.String(), "every alert channel failed") {
		t.Errorf("logs:\n%s", logs)
	}

	// Channels chosen explicitly: no fallback.
	logFile2 := filepath.Join(dir, "alerts2.log")
	n, _ = configured(t, map[string]string{keyWebhookURL: srv.URL, keyLog: logFile2, keyChannels: "webhook"})
	if delivered, err := notify(t, n, testEvent()); err == nil || len(delivered) != 0 {
		t.Fatalf("delivered %v, %v", delivered, err)
	}
	if _, err := os.Stat(logFile2); !os.IsNotExist(err) {
		t.Errorf("explicit channels should not fall back to the log: %v", err)
	}
}

func TestChannelsRestrictedAndForced(t *testing.T) {
	dir := isolate(t)
	script, rec := recordingScript(t, dir)
	srv := startWebhook(t)
	logFile := filepath.Join(dir, "alerts.log")
	n, _ := configured(t, map[string]string{
		keyChannels: " Webhook , log,webhook", keyScript: script, keyWebhookURL: srv.URL, keyLog: logFile,
	})
	delivered, err := notify(t, n, testEvent())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(delivered, []string{"webhook", "log"}) {
		t.Errorf("delivered %v", delivered)
	}
	if _, err := os.Stat(rec); !os.IsNotExist(err) {
		t.Error("the script ran although BACKUP_ALERT_CHANNELS left it out")
	}
	if srv.hits.Load() != 1 || !strings.Contains(readFile(t, logFile), testSubject) {
		t.Error("webhook or log did not get the alert")
	}

	// Every channel at once.
	smtp := startSMTP(t, smtpOptions{})
	n, _ = configured(t, map[string]string{
		keyScript: script, keyWebhookURL: srv.URL, keySMTPHost: smtp.Host, keySMTPPort: smtp.Port,
		keyEmailFrom: "b@tt.example.org", keyAlertEmail: "o@tt.example.org",
	})
	delivered, err = notify(t, n, testEvent())
	if err != nil || !slices.Equal(delivered, []string{"script", "email", "webhook"}) {
		t.Fatalf("delivered %v, %v", delivered, err)
	}
	if len(smtp.Mails()) != 1 || srv.hits.Load() != 2 || readFile(t, filepath.Join(rec, "arg1")) != testSubject {
		t.Error("a channel did not get the alert")
	}

	for _, tc := range []struct{ channels, want string }{
		{"sms", `unknown channel "sms"`},
		{"script", keyScript},
		{"webhook", keyWebhookURL},
		{"email", keySMTPHost},
	} {
		err := (&notifier{}).Configure(t.Context(), cfgOf(map[string]string{keyChannels: tc.channels}))
		if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want an invalid-configuration error naming %s, got %v", tc.channels, tc.want, err)
		}
	}
}

func TestDurationSettings(t *testing.T) {
	for v, want := range map[string]string{"90s": "1m30s", "2m": "2m0s", "45": "45s", "1.5": "1.5s"} {
		d, err := parseDuration(cfgOf(map[string]string{"K": v}), "K", 0)
		if err != nil || d.String() != want {
			t.Errorf("%q: %v %v, want %s", v, d, err, want)
		}
	}
	for _, v := range []string{"soon", "-5s", "0"} {
		if _, err := parseDuration(cfgOf(map[string]string{"K": v}), "K", 0); err == nil {
			t.Errorf("%q should be refused", v)
		}
	}
}

func TestScrubberShortAndEncodedSecrets(t *testing.T) {
	s := newScrubber(cfgOf(map[string]string{
		keySMTPPass:   "p",
		keyWebhookURL: "https://hook:s3cr%2Ft-pw@hooks.example.org/services/T1/B2/XyZtoken123?k=abc",
	}))
	got := s.clean("auth for user:p failed via tcp; POST https://hook:s3cr%2Ft-pw@hooks.example.org/services/T1/B2/XyZtoken123?k=abc; token XyZtoken123; pw s3cr/t-pw")
	want := "auth for user:*** failed via tcp; POST ***; token ***; pw ***"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
