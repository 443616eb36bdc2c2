// SPDX-License-Identifier: Apache-2.0

package restic

// Fuzz targets for what this package reads from restic (outside input: a
// newer or older restic, a hostile backend's error text echoed by restic).
// `go test` runs them over their seeds; `go test -fuzz=FuzzX` explores.

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
)

const fuzzSecret = "Fz-Pa55word!42"

// stderr: classification never panics; no secret survives into the
// message, the warnings or the text used for classification; valid UTF-8
// stays valid (the message travels in protobuf strings and alerts).
func FuzzStderrCapture(f *testing.F) {
	f.Add(`{"message_type":"exit_error","code":12,"message":"Fatal: wrong password or no key found\n"}`, 10, 1)
	f.Add("unable to open config file: stat /r/config: no such file or directory\nIs there a repository at the following location?\n/r", 5, 1)
	f.Add(`{"message_type":"error","error":{"message":"open x: permission denied"},"during":"archival","item":"/u/x"}`+"\n"+`{"message_type":"exit_error","code":3,"message":"Warning: at least one source file could not be read"}`, 30, 3)
	f.Add("Fatal: unable to create lock in backend: repository is already locked by PID 42 on h by root (UID 0, GID 0)\nlock was created at 2026-01-01 (1m ago)", 0, 11)
	f.Add("Save(<data/1d4ae3ab7a>) failed: unexpected HTTP response (507): 507 Insufficient Storage\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:1 +0x1", 17, 1)
	f.Add(`{"message_type":"exit_error","code":1,"message":"Fatal: `+jsonEscape(fuzzSecret)+` in URL rest:http://u:`+fuzzSecret+`@h/"}`, 20, 1)
	f.Add("\x1b[2Kpassword is "+fuzzSecret+"\x1b[0m\n", 3, 1)
	f.Add(strings.Repeat("é", 3000)+"\n"+strings.Repeat("x", 70000)+fuzzSecret, 65530, 1)
	f.Fuzz(func(t *testing.T, data string, split int, exitCode int) {
		r := &Repo{Password: fuzzSecret, Env: []string{"AWS_SECRET_ACCESS_KEY=" + fuzzSecret + "-aws"}}
		c := newStderrCapture(r.scrubber(), hclog.NewNullLogger())
		if split < 0 || split > len(data) {
			split = len(data) / 2
		}
		c.Write([]byte(data[:split]))
		c.Write([]byte(data[split:]))
		c.flush()
		msg, text := c.message(), c.text()
		warnings := strings.Join(c.warnings(), "\n")
		for _, out := range []string{msg, text, warnings} {
			if strings.Contains(out, fuzzSecret) {
				t.Fatalf("secret in output %q", out)
			}
		}
		if utf8.ValidString(data) && !utf8.ValidString(msg) {
			t.Fatalf("valid UTF-8 in, invalid message out: %q", msg)
		}
		k := classify(exitCode, text)
		switch exitCode {
		case 3, 10, 11, 12, 130:
			if k == KindOther {
				t.Fatalf("exit code %d classified as other", exitCode)
			}
		}
	})
}

// backup --json stdout: summary and status lines in any order, split
// anywhere, with garbage in between.
func FuzzBackupOutput(f *testing.F) {
	f.Add(`{"message_type":"status","percent_done":0.5,"bytes_done":10}`+"\n"+`{"message_type":"summary","snapshot_id":"abc","total_bytes_processed":5,"total_duration":1.5,"data_added":3}`+"\n", 17)
	f.Add(`{"message_type":"summary","snapshot_id":"x","total_duration":-1e300}`, 5)
	f.Add("not json\n{\"message_type\":\n{}\n", 3)
	f.Fuzz(func(t *testing.T, data string, split int) {
		var statuses int
		o := newBackupOutput(func(Status) { statuses++ })
		if split < 0 || split > len(data) {
			split = 0
		}
		o.Write([]byte(data[:split]))
		o.Write([]byte(data[split:]))
		sum, err := o.result(nil, nil)
		if err == nil && sum != nil && !strings.Contains(data, sum.SnapshotID) {
			t.Fatalf("snapshot ID %q not in the input", sum.SnapshotID)
		}
	})
}

// snapshots --json and forget --json, with other lines around them.
func FuzzSnapshotsAndForgetJSON(f *testing.F) {
	f.Add([]byte(`[{"id":"0123","time":"2026-01-02T03:04:05Z","paths":["/u"],"hostname":"h","tags":["db","run:x"],"excludes":[".timetiles-backup-empty-dir"],"summary":{"total_bytes_processed":4}}]`))
	f.Add([]byte("repository 1234 opened\n[{\"tags\":[\"db\"],\"host\":\"h\",\"keep\":[{\"id\":\"a\"}],\"remove\":[{\"id\":\"b\"}],\"reasons\":[]}]\n"))
	f.Add([]byte(`[{"paths":[""]},{"paths":["rel"]},{"paths":["/a","/b"]}]`))
	f.Add([]byte("[\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		var snaps []Snapshot
		if decodeJSONLine(out, '[', &snaps) == nil {
			for _, s := range snaps {
				s.EmptyDirectory()
				if root := s.contentRoot(); root == "" || root[0] != '/' {
					t.Fatalf("content root %q of %+v", root, s)
				}
			}
		}
		var groups []ForgetGroup
		if decodeJSONLine(out, '[', &groups) == nil {
			res := &ForgetResult{Groups: groups}
			_, _ = res.Kept(), res.Removed()
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	f.Add("restic 0.18.1 compiled with go1.25.1 on linux/amd64")
	f.Add("restic 0.16.4 (v0.16.4-0-g3786536dc) compiled with go1.21.6 on linux/amd64")
	f.Add("restic 0.17.0-dev (compiled manually)")
	f.Add("restic 99999999999999999999.1.1")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		again, err := ParseVersion("restic " + v.String())
		if err != nil || again.Major != v.Major || again.Minor != v.Minor || again.Patch != v.Patch || again.Suffix != v.Suffix {
			t.Fatalf("%q → %v → %v, %v", s, v, again, err)
		}
	})
}

// S3 repository setting + endpoint (both from the env file).
func FuzzS3Repository(f *testing.F) {
	f.Add("s3:s3.amazonaws.com/bucket/timetiles", "https://s3.us-west-000.backblazeb2.com")
	f.Add("s3://bucket/prefix", "http://127.0.0.1:7070")
	f.Add("s3:bucket", "minio.local:9000")
	f.Add("s3:https://h/b/p", "ftp://x")
	f.Fuzz(func(t *testing.T, repo, endpoint string) {
		got, err := S3Repository(repo, endpoint)
		if err != nil {
			return
		}
		s3 := strings.HasPrefix(strings.TrimSpace(repo), "s3:") || strings.TrimSpace(endpoint) != ""
		if s3 && !strings.HasPrefix(got, "s3:") || !s3 && got != strings.TrimSpace(repo) {
			// Without an endpoint a non-S3 location passes unchanged.
			t.Fatalf("S3Repository(%q, %q) = %q", repo, endpoint, got)
		}
		if s3 && (strings.ContainsAny(got, " \t\n") || strings.Contains(got, "/../")) {
			t.Fatalf("S3Repository(%q, %q) = %q", repo, endpoint, got)
		}
	})
}
