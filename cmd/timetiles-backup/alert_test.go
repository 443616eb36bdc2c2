// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// recordedAlert is one call of the alert script: SCRIPT "Subject" "Body".
type recordedAlert struct{ Subject, Body string }

// alertScript installs an alert script (TimeTiles' send_alert contract)
// that records its arguments, and returns a reader of what it received.
func (e *env) alertScript() func() []recordedAlert {
	e.t.Helper()
	rec := filepath.Join(e.dir, "alerts-received")
	script := filepath.Join(e.dir, "alert.sh")
	body := "#!/bin/sh\n{ printf '%s\\n' \"$1\"; printf '%s\\n' \"$2\"; printf '\\036\\n'; } >> " + rec + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		e.t.Fatal(err)
	}
	e.vars["TIMETILES_ALERT_SCRIPT"] = script
	return func() []recordedAlert {
		b, _ := os.ReadFile(rec)
		var out []recordedAlert
		for _, r := range strings.Split(string(b), "\x1e\n") {
			if subj, body, ok := strings.Cut(r, "\n"); ok {
				out = append(out, recordedAlert{Subject: subj, Body: strings.TrimSuffix(body, "\n")})
			}
		}
		return out
	}
}

// thirdPartyNotifier builds a notifier plugin from source outside the
// module's plugins (as a third party would, against the public SDK) into a
// directory of its own, and returns that directory. It appends every event
// as JSON to RECORD_FILE; RECORD_FAIL makes it fail.
func thirdPartyNotifier(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte(`package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/timetiles/timetiles-backup/sdk"
)

type rec struct {
	file string
	fail bool
}

func (r *rec) Info() sdk.Info {
	return sdk.Info{Name: "notify-record", Version: "1.0.0", Description: "records events",
		ConfigKeys: []sdk.ConfigKey{{Name: "RECORD_FILE"}, {Name: "RECORD_FAIL"}}}
}

func (r *rec) Configure(_ context.Context, c sdk.Config) error {
	r.file, r.fail = c.Get("RECORD_FILE"), c.Get("RECORD_FAIL") != ""
	return nil
}

func (r *rec) Notify(_ context.Context, e sdk.Event) ([]string, error) {
	if r.fail {
		return nil, errors.New("record channel refused the event")
	}
	f, err := os.OpenFile(r.file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, _ := json.Marshal(e)
	_, err = f.Write(append(b, '\n'))
	return []string{"record"}, err
}

func main() { sdk.ServeNotifier(&rec{}) }
`), 0o644)
	pdir := filepath.Join(dir, "plugins")
	os.Mkdir(pdir, 0o755)
	build := exec.Command("go", "build", "-o", filepath.Join(pdir, "timetiles-backup-notify-record"), src)
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the third-party notifier: %v\n%s", err, out)
	}
	return pdir
}

func readRecorded(t *testing.T, path string) []sdk.Event {
	t.Helper()
	b, _ := os.ReadFile(path)
	var out []sdk.Event
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var e sdk.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("recorded event %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// webhookServer is an HTTP endpoint that keeps the JSON bodies it receives.
type webhookServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
}

func startWebhook(t *testing.T) *webhookServer {
	w := &webhookServer{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		w.mu.Lock()
		w.bodies = append(w.bodies, m)
		w.mu.Unlock()
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhookServer) received() []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]map[string]any(nil), w.bodies...)
}

// `alert test` reaches every channel of the bundled notifier (script,
// SMTP email, webhook) and a third-party notifier plugin named in
// BACKUP_NOTIFIERS, which needed no change of the core; each is reported.
func TestAlertTestEveryChannelAndThirdPartyNotifier(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, false)
	alerts := e.alertScript()
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	hook := startWebhook(t)
	pdir := thirdPartyNotifier(t)
	recFile := filepath.Join(e.dir, "record.jsonl")
	e.vars["EMAIL_SMTP_HOST"], e.vars["EMAIL_SMTP_PORT"], e.vars["EMAIL_SMTP_TLS"] = smtp.Host, smtp.Port, "none"
	e.vars["EMAIL_FROM"], e.vars["ALERT_EMAIL"] = "backup@tt.example.org", "ops@tt.example.org"
	e.vars["BACKUP_ALERT_WEBHOOK_URL"] = hook.URL + "/hook"
	e.vars["BACKUP_NOTIFIERS"] = "notify-alert, notify-record"
	e.vars["RECORD_FILE"] = recFile

	r := e.run("alert", "test", "--plugin-dir", pdir)
	if r.code != 0 {
		t.Fatalf("alert test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"ok      notify-alert: script", "ok      notify-alert: email", "ok      notify-alert: webhook", "ok      notify-record: record"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	if a := alerts(); len(a) != 1 || !strings.Contains(a[0].Subject, "Test Alert") {
		t.Errorf("script received %+v", a)
	}
	if m := smtp.Mails(); len(m) != 1 || !bytes.Contains(m[0].Data, []byte("Test Alert")) || m[0].To[0] != "ops@tt.example.org" {
		t.Errorf("SMTP server received %d mails", len(m))
	}
	if b := hook.received(); len(b) != 1 || !strings.Contains(fmt.Sprint(b[0]["text"]), "Test Alert") {
		t.Errorf("webhook received %v", b)
	}
	if ev := readRecorded(t, recFile); len(ev) != 1 || ev[0].Kind != "test" || ev[0].Hostname != "e2e-host" || ev[0].Severity != "info" {
		t.Errorf("third-party notifier recorded %+v", ev)
	}

	// One notifier failing: reported, exit 1, the others still deliver.
	e.vars["RECORD_FAIL"] = "1"
	r = e.run("alert", "test", "--plugin-dir", pdir)
	if r.code != 1 || !strings.Contains(r.stdout, "FAILED  notify-record: record channel refused the event") ||
		!strings.Contains(r.stdout, "ok      notify-alert: webhook") {
		t.Errorf("with a failing notifier: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A notifier that is not installed, and none at all.
	e.vars["BACKUP_NOTIFIERS"] = "notify-missing"
	if r = e.run("alert", "test"); r.code != 1 || !strings.Contains(r.stdout, `FAILED  notify-missing:`) || !strings.Contains(r.stdout, `plugin "notify-missing" not found`) {
		t.Errorf("missing notifier: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	e.vars["BACKUP_NOTIFIERS"] = "none"
	if r = e.run("alert", "test"); r.code != 1 || !strings.Contains(r.stderr, "No notifier is configured") {
		t.Errorf("no notifier: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// Early failures (bad configuration, missing password, a plugin that will
// not start, an unreadable env file) alert; usage errors do not.
func TestEarlyFailuresAlert(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	e := newEnv(t, false)
	alerts := e.alertScript()
	pdir := thirdPartyNotifier(t)
	recFile := filepath.Join(e.dir, "record.jsonl")
	e.vars["BACKUP_NOTIFIERS"] = "notify-alert,notify-record"
	e.vars["RECORD_FILE"] = recFile
	n := 0
	expect := func(what string, r result, code int, subject, text string) {
		t.Helper()
		if r.code != code {
			t.Errorf("%s: exit %d, want %d\n%s", what, r.code, code, r.stderr)
		}
		a := alerts()
		if len(a) != n+1 || !strings.Contains(a[n].Subject, subject) || !strings.Contains(a[n].Body, text) {
			t.Errorf("%s: alerts %+v, want #%d %q with %q", what, a, n+1, subject, text)
		}
		n = len(a)
		if strings.Contains(fmt.Sprint(a), e.password) {
			t.Errorf("%s: the password reached the alert", what)
		}
	}

	// Missing password: a configuration error (2) that alerts, through both
	// notifiers.
	delete(e.vars, "RESTIC_PASSWORD")
	expect("missing password", e.run("backup", "--plugin-dir", pdir), 2, "Backup Failed", "RESTIC_PASSWORD is empty")
	if ev := readRecorded(t, recFile); len(ev) != 1 || ev[0].Kind != "backup_failed" || !strings.Contains(ev[0].Error, "RESTIC_PASSWORD is empty") {
		t.Errorf("third-party notifier got %+v", ev)
	}
	expect("verify, missing password", e.run("backup", "verify"), 2, "Backup Verify Failed", "RESTIC_PASSWORD is empty")
	e.vars["RESTIC_PASSWORD"] = e.password

	// A plugin that will not start.
	broken := t.TempDir()
	os.WriteFile(filepath.Join(broken, "timetiles-backup-source-broken"), []byte("#!/bin/sh\necho 'broken plugin' >&2\nexit 1\n"), 0o755)
	e.vars["BACKUP_SOURCES"] = "files=source-broken"
	expect("plugin will not start", e.run("backup", "--plugin-dir", broken), 1, "Backup Failed", "source-broken")

	// --offsite without RESTIC_OFFSITE_REPOSITORY: a configuration error
	// (2) that alerts, because it is what the nightly job `backup auto
	// --offsite` installed runs once the variable is gone from the env file:
	// without the alert no backup (local either) would run, unheard of.
	// Nothing is written first: not even the local repository is created.
	delete(e.vars, "BACKUP_SOURCES")
	e.vars["RESTIC_REPOSITORY"], e.productInit = filepath.Join(e.dir, "repo-not-yet"), true
	expect("--offsite without an offsite repository", e.run("backup", "uploads", "--offsite"), 2, "Backup Failed", "RESTIC_OFFSITE_REPOSITORY is not set")
	if _, err := os.Stat(e.vars["RESTIC_REPOSITORY"]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--offsite without an offsite repository created the local repository (%v)", err)
	}
	e.vars["RESTIC_REPOSITORY"], e.productInit = e.repo, false
	if s := e.snapshots(); len(s) != 0 {
		t.Errorf("--offsite without an offsite repository: %d local snapshots made", len(s))
	}

	// A usage error alerts nobody.
	if r := e.run("backup", "--no-such-flag"); r.code != 2 || len(alerts()) != n {
		t.Errorf("usage error: exit %d, %d alerts (want none new)", r.code, len(alerts())-n)
	}

	// An env file that cannot be parsed: the alert goes through the
	// notifier the process environment configures.
	cmd, stdout, stderr := e.command(context.Background(), "backup")
	os.WriteFile(filepath.Join(e.dir, "env.production"), []byte("RESTIC_REPOSITORY="+e.repo+"\nRESTIC_PASSWORD=\""+e.password+"\n"), 0o600)
	cmd.Env = append(cmd.Env, "TIMETILES_ALERT_SCRIPT="+e.vars["TIMETILES_ALERT_SCRIPT"])
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.Sys().(syscall.WaitStatus).ExitStatus()
	}
	expect("broken env file", result{code, stdout.String(), stderr.String()}, 2, "Backup Failed", "line 2 (RESTIC_PASSWORD) has a quote that is never closed")
	if strings.Contains(stderr.String(), e.password) {
		t.Errorf("the password from the broken line reached stderr:\n%s", stderr)
	}
}
