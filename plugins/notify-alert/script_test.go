// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestScriptGetsSubjectBodyAndFields(t *testing.T) {
	dir := isolate(t)
	t.Setenv("DB_PASSWORD", dbSecret) // in the plugin's environment: must not reach the script
	script, rec := recordingScript(t, dir)
	n, logs := configured(t, map[string]string{
		keyScript: script,
		// Email settings are present but not chosen: the password must not
		// reach the script either.
		keyChannels: "script", keySMTPHost: "127.0.0.1", keySMTPPass: smtpSecret, keyAlertEmail: "ops@example.org",
	})
	delivered, err := notify(t, n, testEvent())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(delivered, []string{"script"}) {
		t.Errorf("delivered %v", delivered)
	}
	if got := readFile(t, filepath.Join(rec, "argc")); got != "2" {
		t.Errorf("argc %s, want 2", got)
	}
	if got := readFile(t, filepath.Join(rec, "arg1")); got != testSubject {
		t.Errorf("subject argument %q", got)
	}
	body := readFile(t, filepath.Join(rec, "arg2"))
	if body != newAlert(testEvent()).Body {
		t.Errorf("body argument:\n%s", body)
	}
	for _, want := range []string{"pg_dump exited with status 1", "Run ID:     run-20260314-031500", "Time:       2026-03-14T03:15:09Z"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q", want)
		}
	}
	env := readEnv(t, filepath.Join(rec, "env"))
	for k, want := range map[string]string{
		"ALERT_KIND": "backup_failed", "ALERT_SEVERITY": "error", "ALERT_RUN_ID": "run-20260314-031500",
		"ALERT_COMPONENT": "db", "ALERT_HOSTNAME": "tt-prod-1", "ALERT_REPOSITORY": "local",
		"ALERT_ERROR": "pg_dump: error: connection to server failed", "ALERT_TIME": "2026-03-14T03:15:09Z",
		"ALERT_SUBJECT": testSubject, "ALERT_BODY": body,
		"ALERT_MESSAGE": "pg_dump exited with status 1 while backing up the database.",
	} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	if env["PATH"] == "" {
		t.Error("the script should get a PATH")
	}
	if _, ok := env["DB_PASSWORD"]; ok {
		t.Error("the plugin's environment leaked into the script")
	}
	all := readFile(t, filepath.Join(rec, "env")) + body
	assertNoSecret(t, "script argv/env", all, dbSecret, smtpSecret)
	assertNoSecret(t, "logs", logs.String(), smtpSecret)
}

func TestScriptFailureNamesExitStatusAndStderr(t *testing.T) {
	dir := isolate(t)
	script := writeScript(t, dir, "alert.sh", "echo 'mail: cannot reach relay.example.org' >&2\nexit 3\n")
	n, logs := configured(t, map[string]string{keyScript: script})
	delivered, err := notify(t, n, testEvent())
	if err == nil {
		t.Fatal("a failing script must fail Notify")
	}
	for _, want := range []string{"script: ", "exit status 3", "mail: cannot reach relay.example.org"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	// The only configured channel failed: the alert is kept in the log.
	if !slices.Equal(delivered, []string{"log"}) {
		t.Errorf("delivered %v, want the log fallback", delivered)
	}
	if !strings.Contains(readFile(t, defaultLogFile), testSubject) {
		t.Error("fallback log lacks the alert")
	}
	if !strings.Contains(logs.String(), "exit status 3") {
		t.Errorf("the failure should be logged:\n%s", logs)
	}
}

func TestScriptStderrIsBounded(t *testing.T) {
	dir := isolate(t)
	script := writeScript(t, dir, "alert.sh", "head -c 200000 /dev/zero | tr '\\0' x >&2\necho 'final reason' >&2\nexit 1\n")
	n, _ := configured(t, map[string]string{keyScript: script, keyChannels: "script"})
	_, err := notify(t, n, testEvent())
	if err == nil {
		t.Fatal("want an error")
	}
	if len(err.Error()) > maxScriptOutput+500 {
		t.Errorf("error is %d bytes long", len(err.Error()))
	}
	if !strings.Contains(err.Error(), "final reason") || !strings.Contains(err.Error(), "earlier bytes cut") {
		t.Errorf("error should keep the end of stderr and say it was cut: %.300s…", err)
	}
}

func TestScriptTimeoutKillsScriptAndChildren(t *testing.T) {
	dir := isolate(t)
	pidFile := filepath.Join(dir, "child.pid")
	script := writeScript(t, dir, "alert.sh", "sleep 60 &\necho $! > '"+pidFile+"'\necho waiting >&2\nwait\n")
	// The timeout leaves the script ample time to start on a loaded
	// machine; the script would run 60 s without it.
	n, _ := configured(t, map[string]string{keyScript: script, keyScriptTimeout: "5s", keyChannels: "script"})
	start := time.Now()
	_, err := notify(t, n, testEvent())
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("Notify took %s with a 5s script timeout", took)
	}
	if err == nil || !strings.Contains(err.Error(), "timed out after 5s") || !strings.Contains(err.Error(), "waiting") {
		t.Fatalf("want a timeout error naming the script's stderr, got %v", err)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	if perr != nil {
		t.Fatal(perr)
	}
	// The script's child (sleep 60) was killed with it: gone long before
	// its 60 s.
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); strings.Contains(string(stat), ") Z ") {
			break // a zombie waiting for its reaper is dead
		}
		if time.Now().After(deadline) {
			t.Fatalf("the script's child %d still runs after the timeout", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDefaultScriptUsedOnlyWhenInstalled(t *testing.T) {
	dir := isolate(t)
	// Not installed: no script channel, the alert goes to the log.
	n, _ := configured(t, nil)
	if delivered, err := notify(t, n, testEvent()); err != nil || !slices.Equal(delivered, []string{"log"}) {
		t.Fatalf("delivered %v, %v", delivered, err)
	}

	// Installed, but without its executable bit: it still runs (with sh).
	script, rec := recordingScript(t, dir)
	if err := os.Chmod(script, 0o644); err != nil {
		t.Fatal(err)
	}
	defaultScript = script
	n, logs := configured(t, nil)
	delivered, err := notify(t, n, testEvent())
	if err != nil || !slices.Equal(delivered, []string{"script"}) {
		t.Fatalf("delivered %v, %v", delivered, err)
	}
	if got := readFile(t, filepath.Join(rec, "arg1")); got != testSubject {
		t.Errorf("subject argument %q", got)
	}
	if !strings.Contains(logs.String(), "not executable") {
		t.Errorf("a warning about the missing executable bit was expected:\n%s", logs)
	}
}

func TestExplicitScriptMustExist(t *testing.T) {
	dir := isolate(t)
	n := &notifier{}
	err := n.Configure(t.Context(), cfgOf(map[string]string{keyScript: filepath.Join(dir, "missing.sh")}))
	if err == nil || !strings.Contains(err.Error(), keyScript) || !strings.Contains(err.Error(), "missing.sh") {
		t.Fatalf("want a configuration error naming the missing script, got %v", err)
	}
}

func TestScriptStoppedWithContext(t *testing.T) {
	dir := isolate(t)
	started := filepath.Join(dir, "started")
	script := writeScript(t, dir, "alert.sh", "touch '"+started+"'\nsleep 60\n")
	n, _ := configured(t, map[string]string{keyScript: script, keyChannels: "script"})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { // cancelled once the script runs
		for _, err := os.Stat(started); err != nil && ctx.Err() == nil; _, err = os.Stat(started) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	_, err := n.Notify(ctx, testEvent())
	if err == nil || !strings.Contains(err.Error(), "stopped") || time.Since(start) > 30*time.Second {
		t.Fatalf("want the script stopped with the call, got %v after %s", err, time.Since(start))
	}
}
