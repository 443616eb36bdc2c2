// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in                  string
		major, minor, patch int
		suffix, goVer       string
		wantErr             bool
	}{
		{in: "restic 0.18.1 compiled with go1.26.8 on linux/amd64\n", major: 0, minor: 18, patch: 1, goVer: "go1.26.8"},
		{in: "restic 0.16.4 compiled with go1.22.2 on linux/arm64", major: 0, minor: 16, patch: 4, goVer: "go1.22.2"},
		{in: "restic 0.17.3-dev (compiled manually) compiled with go1.23.1 on linux/amd64", major: 0, minor: 17, patch: 3, suffix: "-dev", goVer: "go1.23.1"},
		{in: "restic 1.0.0", major: 1},
		{in: "rustic 0.18.1", wantErr: true},
		{in: "", wantErr: true},
	} {
		v, err := ParseVersion(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParseVersion(%q) = %v, want error", tc.in, v)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseVersion(%q): %v", tc.in, err)
			continue
		}
		if v.Major != tc.major || v.Minor != tc.minor || v.Patch != tc.patch || v.Suffix != tc.suffix || v.GoVersion != tc.goVer {
			t.Errorf("ParseVersion(%q) = %+v", tc.in, v)
		}
	}
}

func TestVersionFeatures(t *testing.T) {
	v := func(s string) Version {
		t.Helper()
		x, err := ParseVersion("restic " + s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	if err := CheckSupported(v("0.14.0")); err == nil || !strings.Contains(err.Error(), "0.16.0") ||
		!strings.Contains(err.Error(), "apt install restic") || !strings.Contains(err.Error(), "self-update") {
		t.Errorf("CheckSupported(0.14.0) = %v", err)
	}
	if err := CheckSupported(v("0.15.2")); err == nil {
		t.Error("0.15.2 accepted")
	}
	for _, s := range []string{"0.16.0", "0.16.4", "0.18.1", "1.0.0"} {
		if err := CheckSupported(v(s)); err != nil {
			t.Errorf("CheckSupported(%s): %v", s, err)
		}
	}
	old, cur := v("0.16.4"), v("0.18.1")
	if old.HasExitCodes() || old.HasStdinFromCommand() || old.HasRestoreDelete() || !old.HasRestoreSubfolder() {
		t.Errorf("0.16.4 features wrong")
	}
	if !cur.HasExitCodes() || !cur.HasStdinFromCommand() || !cur.HasRestoreDelete() || !cur.HasRestoreSubfolder() {
		t.Errorf("0.18.1 features wrong")
	}
	if !v("0.17.0").HasExitCodes() || v("0.16.9").HasExitCodes() {
		t.Error("exit code boundary wrong")
	}
}

// Texts as printed by the real binaries (see the integration tests and the
// restic sources quoted in errors.go).
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   int
		stderr string
		want   Kind
	}{
		{"0.16 local missing", 1, "Fatal: unable to open config file: stat /tmp/x/config: no such file or directory\nIs there a repository at the following location?\n/tmp/x", KindRepoMissing},
		{"0.16 rest missing", 1, "Fatal: unable to open config file: <config/> does not exist\nIs there a repository at the following location?\nrest:http://127.0.0.1:8000/r/", KindRepoMissing},
		{"0.16 s3 missing", 1, "Fatal: unable to open config file: Stat: The specified key does not exist.\nIs there a repository at the following location?\ns3:http://127.0.0.1:7070/b/r", KindRepoMissing},
		{"0.16 s3 access denied", 1, "Fatal: unable to open config file: Stat: Access Denied.\nIs there a repository at the following location?\ns3:http://127.0.0.1:7070/b/r", KindPermissionDenied},
		{"0.16 network", 1, "Fatal: unable to open config file: Head \"http://127.0.0.1:1/r/config\": dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\nrest:http://127.0.0.1:1/r/", KindOther},
		{"0.18 missing code", 10, `Fatal: repository does not exist: unable to open config file: stat /tmp/x/config: no such file or directory`, KindRepoMissing},
		{"0.16 wrong password", 1, "Fatal: wrong password or no key found", KindWrongPassword},
		{"0.18 wrong password", 12, "Fatal: wrong password or no key found", KindWrongPassword},
		{"0.16 locked", 1, "unable to create lock in backend: repository is already locked by PID 17822 on vm by root (UID 0, GID 0)\nlock was created at 2026-11-25 19:46:38 (3.858998222s ago)\nstorage ID 1519c868\nthe `unlock` command can be used to remove stale locks", KindLocked},
		{"0.16 locked exclusively", 1, "unable to create lock in backend: repository is already locked exclusively by PID 1 on vm by root (UID 0, GID 0)", KindLocked},
		{"0.18 locked", 11, "unable to create lock in backend: repository is already locked by PID 17989 on vm", KindLocked},
		{"0.18 rest 403", 1, "Remove(<index/29ad0afa6b>) failed: unexpected HTTP response (403): 403 Forbidden\nFatal: unexpected HTTP response (403): 403 Forbidden", KindPermissionDenied},
		{"0.16 rest 403", 1, "blob not removed, server response: 403 Forbidden (403)\ngithub.com/restic/restic/internal/backend/rest.(*Backend).Remove\n\t/tmp/x/rest.go:299", KindPermissionDenied},
		{"s3 put-only", 1, "Fatal: unable to open config file: Stat(<config/>) failed: Access Denied", KindPermissionDenied},
		{"local EACCES", 1, "Fatal: unable to open config file: open /repo/config: permission denied\nIs there a repository at the following location?\n/repo", KindPermissionDenied},
		{"rest 401", 1, "Fatal: unable to open repository at rest:http://h/r: List failed, server response: 401 Unauthorized (401)", KindPermissionDenied},
		{"no such snapshot", 1, `Fatal: failed to find snapshot: no matching ID found for prefix "deadbeef"`, KindNotFound},
		{"no such path", 1, `Fatal: cannot dump file: path "/nope" not found in snapshot`, KindNotFound},
		{"no such subfolder", 1, `path nonexist: not found`, KindNotFound},
		{"incomplete", 3, "Warning: at least one source file could not be read", KindIncomplete},
		{"interrupted", 130, "signal interrupt received, cleaning up", KindInterrupted},
		{"0.18 interrupted stdin", 1, "signal interrupt received, cleaning up\nFatal: unable to save snapshot: context canceled", KindInterrupted},
		{"snapshot empty", 1, "Fatal: unable to save snapshot: snapshot is empty", KindOther},
		{"other", 1, "Fatal: something else", KindOther},
	} {
		if got := classify(tc.code, tc.stderr); got != tc.want {
			t.Errorf("%s: classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestErrorIs(t *testing.T) {
	cause := errors.New("boom")
	var err error = &Error{Op: "backup", ExitCode: 130, Kind: KindInterrupted, Message: "stopped", Err: cause}
	if !IsInterrupted(err) || !errors.Is(err, KindInterrupted) || errors.Is(err, KindLocked) || !errors.Is(err, cause) {
		t.Errorf("errors.Is mismatch for %v", err)
	}
	if KindOf(err) != KindInterrupted || KindOf(errors.New("x")) != KindOther {
		t.Error("KindOf")
	}
	wrapped := errors.Join(errors.New("ctx"), err)
	if !IsInterrupted(wrapped) {
		t.Error("wrapped error lost its kind")
	}
	if s := err.Error(); !strings.Contains(s, "interrupted") || !strings.Contains(s, "boom") || !strings.Contains(s, "130") {
		t.Errorf("Error() = %q", s)
	}
}

func TestS3Repository(t *testing.T) {
	for _, tc := range []struct {
		repo, endpoint, want string
		wantErr              bool
	}{
		{"s3:s3.amazonaws.com/bucket/timetiles", "https://s3.us-west-000.backblazeb2.com", "s3:https://s3.us-west-000.backblazeb2.com/bucket/timetiles", false},
		{"s3:s3.amazonaws.com/bucket/timetiles", "", "s3:s3.amazonaws.com/bucket/timetiles", false},
		{"s3:bucket/path", "https://s3.wasabisys.com", "s3:https://s3.wasabisys.com/bucket/path", false},
		{"s3://bucket/path", "https://s3.wasabisys.com/", "s3:https://s3.wasabisys.com/bucket/path", false},
		{"s3://bucket/path/", "", "s3:s3.amazonaws.com/bucket/path", false},
		{"s3:bucket", "http://127.0.0.1:7070", "s3:http://127.0.0.1:7070/bucket", false},
		{"s3:http://old.example.com:9000/bucket/a/b", "https://new.example.com", "s3:https://new.example.com/bucket/a/b", false},
		{"s3:https://minio.local:9000/bucket/a", "", "s3:https://minio.local:9000/bucket/a", false},
		{"s3:http://localhost:9000/b/p", "", "s3:http://localhost:9000/b/p", false},
		{"s3:localhost:9000/b/p", "http://localhost:9001", "s3:http://localhost:9001/b/p", false},
		{"s3:bucket/a//b", "s3.eu-central-1.wasabisys.com", "s3:https://s3.eu-central-1.wasabisys.com/bucket/a/b", false},
		{"/opt/timetiles/backups/restic-repo", "", "/opt/timetiles/backups/restic-repo", false},
		{"/opt/timetiles/backups/restic-repo", "https://s3.example.com", "", true},
		{"s3:", "https://s3.example.com", "", true},
		{"s3:s3.amazonaws.com/", "", "", true},
		{"s3:bucket/../x", "", "", true},
		{"s3:bucket/p", "ftp://s3.example.com", "", true},
		{"s3:bucket/p", "https://s3.example.com/base", "", true},
		{"s3:bucket/p", "https://", "", true},
		{"s3:http://[::1", "", "", true},
		{"", "", "", true},
	} {
		got, err := S3Repository(tc.repo, tc.endpoint)
		if tc.wantErr {
			if err == nil {
				t.Errorf("S3Repository(%q, %q) = %q, want error", tc.repo, tc.endpoint, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("S3Repository(%q, %q) = %q, %v; want %q", tc.repo, tc.endpoint, got, err, tc.want)
		}
	}
}

// A fake restic that prints secrets must not get them into errors or logs,
// and it must see only the minimal environment and no secret in argv.
func TestSecretsScrubbedAndMinimalEnv(t *testing.T) {
	t.Setenv("PARENT_ONLY_VARIABLE", "should-not-leak")
	t.Setenv("RESTIC_PASSWORD", "parent-password-should-not-leak")
	envFile := filepath.Join(t.TempDir(), "env")
	argsFile := filepath.Join(t.TempDir(), "args")
	script := writeScript(t, `env > `+envFile+`
echo "$@" > `+argsFile+`
echo "Fatal: cannot use password $RESTIC_PASSWORD with secret $AWS_SECRET_ACCESS_KEY" >&2
printf '{"message_type":"exit_error","code":1,"message":"Fatal: %s / %s"}\n' "$(printf %s "$RESTIC_PASSWORD" | sed 's/"/\\"/g')" "$AWS_SECRET_ACCESS_KEY" >&2
exit 1
`)
	r, logs := newTestRepo(t, script, "/nonexistent/repo")
	_, err := r.Snapshots(context.Background(), SnapshotFilter{})
	if err == nil {
		t.Fatal("fake restic failure not reported")
	}
	assertNoSecrets(t, "error", err.Error())
	assertNoSecrets(t, "logs", logs.String())
	if !strings.Contains(err.Error(), redacted) {
		t.Errorf("error does not show the redaction: %v", err)
	}
	env, _ := os.ReadFile(envFile)
	for _, want := range []string{"PATH=", "RESTIC_REPOSITORY=/nonexistent/repo", "RESTIC_PASSWORD=" + testPassword, "AWS_SECRET_ACCESS_KEY=" + testAWSSecret} {
		if !strings.Contains(string(env), want) {
			t.Errorf("child env lacks %q", want)
		}
	}
	for _, bad := range []string{"PARENT_ONLY_VARIABLE", "parent-password-should-not-leak"} {
		if strings.Contains(string(env), bad) {
			t.Errorf("child env contains %q", bad)
		}
	}
	args, _ := os.ReadFile(argsFile)
	assertNoSecrets(t, "argv", string(args))
	if !strings.Contains(string(args), "--no-lock snapshots") {
		t.Errorf("argv = %q", args)
	}
}

func TestPasswordFileScrubbed(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := writeScript(t, `echo "Fatal: file $RESTIC_PASSWORD_FILE says $(cat "$RESTIC_PASSWORD_FILE")" >&2; exit 1`)
	r, logs := newTestRepo(t, script, "/x")
	r.Password, r.PasswordFile = "", pwFile
	_, err := r.Exists(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	assertNoSecrets(t, "error", err.Error())
	assertNoSecrets(t, "logs", logs.String())
	if !strings.Contains(err.Error(), pwFile) {
		t.Errorf("error lost the non-secret part: %v", err)
	}
}

func TestExitCodesFromFake(t *testing.T) {
	for _, tc := range []struct {
		code int
		want Kind
	}{{10, KindRepoMissing}, {11, KindLocked}, {12, KindWrongPassword}, {130, KindInterrupted}, {1, KindOther}} {
		script := writeScript(t, `echo '{"message_type":"exit_error","code":`+itoa(tc.code)+`,"message":"Fatal: x"}' >&2; exit `+itoa(tc.code))
		r, _ := newTestRepo(t, script, "/x")
		_, err := r.Snapshots(context.Background(), SnapshotFilter{})
		if KindOf(err) != tc.want {
			t.Errorf("exit %d: kind %v (%v), want %v", tc.code, KindOf(err), err, tc.want)
		}
		var e *Error
		if !errors.As(err, &e) || e.ExitCode != tc.code || e.Message != "Fatal: x" || e.Op != "snapshots" {
			t.Errorf("exit %d: %#v", tc.code, err)
		}
	}
	// Exists: missing ⇒ false, nil; anything else ⇒ error.
	r, _ := newTestRepo(t, writeScript(t, `exit 10`), "/x")
	if ok, err := r.Exists(context.Background()); ok || err != nil {
		t.Errorf("Exists on exit 10 = %v, %v", ok, err)
	}
	r, _ = newTestRepo(t, writeScript(t, `echo "Fatal: wrong password or no key found" >&2; exit 1`), "/x")
	if ok, err := r.Exists(context.Background()); ok || !IsWrongPassword(err) {
		t.Errorf("Exists with wrong password = %v, %v", ok, err)
	}
}

// Exit code 3: a snapshot was written but is incomplete.
func TestIncompleteFromFake(t *testing.T) {
	script := writeScript(t, `echo '{"message_type":"status","percent_done":0.5}'
echo '{"message_type":"error","error":{"message":"open /src/secret.db: permission denied"},"during":"archival","item":"/src/secret.db"}' >&2
echo '{"message_type":"summary","files_new":2,"total_bytes_processed":10,"total_duration":0.5,"snapshot_id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}'
echo 'Warning: at least one source file could not be read' >&2
exit 3`)
	r, _ := newTestRepo(t, script, "/x")
	var statuses int
	sum, err := r.BackupPaths(context.Background(), BackupOptions{Progress: func(Status) { statuses++ }}, t.TempDir())
	if !IsIncomplete(err) {
		t.Fatalf("err = %v, want incomplete", err)
	}
	var e *Error
	errors.As(err, &e)
	if e.SnapshotID != "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" || sum == nil || sum.FilesNew != 2 {
		t.Errorf("snapshot id %q, summary %+v", e.SnapshotID, sum)
	}
	if statuses != 1 {
		t.Errorf("%d status callbacks", statuses)
	}
	if !strings.Contains(err.Error(), "could not be read") {
		t.Errorf("message: %v", err)
	}
}

func TestNoPassword(t *testing.T) {
	r := &Repo{Binary: writeScript(t, "exit 0"), Repository: "/x"}
	if _, err := r.Exists(context.Background()); err == nil || !strings.Contains(err.Error(), "no password") {
		t.Errorf("err = %v", err)
	}
	r.Password = "x"
	r.Env = []string{"NOEQUALS"}
	if _, err := r.Exists(context.Background()); err == nil {
		t.Error("bad Env accepted")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestGlobalFlags(t *testing.T) {
	argsFile := filepath.Join(t.TempDir(), "args")
	script := writeScript(t, `echo "$@" >> `+argsFile+`
cat > /dev/null
case "$*" in
  *version*) echo "restic 0.14.0 compiled with go1.19 on linux/amd64" ;;
  *) echo '{"message_type":"summary","snapshot_id":"abc"}' ;;
esac`)
	r, _ := newTestRepo(t, script, "/x")
	r.RetryLock = time.Minute
	if _, err := r.BackupStdin(context.Background(), BackupOptions{Tags: []string{"db", "daily"}, Parent: "p1", Compression: "max",
		Time: time.Date(2024, 5, 6, 7, 8, 9, 0, time.Local), ExtraArgs: []string{"--read-concurrency", "2"}}, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.BackupStdin(context.Background(), BackupOptions{Tags: []string{"a,b"}}, strings.NewReader("x")); err == nil {
		t.Error("tag with comma accepted")
	}
	if _, err := r.CheckVersion(context.Background()); err == nil || !strings.Contains(err.Error(), "too old") {
		t.Errorf("CheckVersion(0.14.0) = %v", err)
	}
	b, _ := os.ReadFile(argsFile)
	want := "--json --retry-lock 1m0s backup --host testhost --tag db --tag daily --time 2024-05-06 07:08:09 --parent p1 --compression max --read-concurrency 2 --stdin --stdin-filename stdin"
	if !strings.Contains(string(b), want) {
		t.Errorf("args:\n%s\nwant %s", b, want)
	}
}
