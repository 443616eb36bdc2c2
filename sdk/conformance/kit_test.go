// SPDX-License-Identifier: Apache-2.0

package conformance_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/timetiles/timetiles-backup/sdk"
	"github.com/timetiles/timetiles-backup/sdk/conformance"
)

// Small in-process plugins that follow the contract, each with one switch
// that breaks one rule: the kit must pass the first and fail the others.

type fileSource struct {
	path   string
	broken string
}

func (s *fileSource) Info() sdk.Info {
	spec := sdk.ComponentSpec{Name: "file", Restore: sdk.RestoreStream}
	if s.broken == "spec-names-no-component" {
		spec.Name = "files" // a component Info.Components does not list
	}
	return sdk.Info{Name: "source-kitfile", Version: "1", Components: []string{"file"},
		ComponentSpecs: []sdk.ComponentSpec{spec},
		ConfigKeys:     []sdk.ConfigKey{{Name: "KIT_FILE", Description: "file"}}}
}

func (s *fileSource) Configure(_ context.Context, c sdk.Config) error {
	s.path = c.Get("KIT_FILE")
	return nil
}

// Check reports whether the file can be read (sdk.Checker).
func (s *fileSource) Check(context.Context) ([]sdk.Finding, error) {
	f, err := os.Open(s.path)
	if err != nil {
		fix := "set KIT_FILE to a readable file"
		if s.broken == "check-error-without-fix" {
			fix = ""
		}
		return []sdk.Finding{sdk.Problem("file", err.Error(), fix)}, nil
	}
	f.Close()
	return []sdk.Finding{sdk.Verified("file", s.path+" is readable")}, nil
}

func (s *fileSource) Backup(ctx context.Context, _ sdk.BackupRequest, out sdk.BackupStream) error {
	f, err := os.Open(s.path)
	if err != nil {
		if s.broken == "source-hides-failure" {
			_, err := out.Start(sdk.Header{FileName: "file.bin"})
			return err // the failure is swallowed: an empty "successful" stream
		}
		return err
	}
	defer f.Close()
	if s.broken == "source-leaks-child" {
		child := exec.Command("sleep", "30") // not tied to ctx: outlives a cancel
		child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := child.Start(); err != nil {
			return err
		}
		go child.Wait()
	}
	w, err := out.Start(sdk.Header{FileName: "file.bin"})
	if err == nil {
		_, err = io.Copy(w, f)
	}
	return err
}

func (s *fileSource) Restore(_ context.Context, _ sdk.RestoreRequest, r io.Reader) error {
	if s.broken == "source-restores-in-place" {
		f, err := os.Create(s.path) // truncates the good file before the stream is complete
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		return errors.Join(err, f.Close())
	}
	tmp := s.path + ".part"
	defer os.Remove(tmp)
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err = errors.Join(err, f.Close()); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

type dirTarget struct {
	dir    string
	broken string
}

type meta struct {
	sdk.Snapshot
	Header sdk.Header
}

func (d *dirTarget) Info() sdk.Info {
	return sdk.Info{Name: "target-kitdir", Version: "1", ConfigKeys: []sdk.ConfigKey{{Name: "KIT_DIR"}}}
}

func (d *dirTarget) Configure(_ context.Context, c sdk.Config) error {
	d.dir = c.Get("KIT_DIR")
	return nil
}

func (d *dirTarget) Init(context.Context) (bool, error) {
	if _, err := os.Stat(d.dir); err == nil {
		return false, nil
	}
	return true, os.MkdirAll(d.dir, 0o700)
}

func (d *dirTarget) Write(_ context.Context, h sdk.Header, r io.Reader) (sdk.WriteResult, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	var buf bytes.Buffer
	_, err := io.Copy(&buf, r)
	if err != nil && d.broken != "target-commits-aborted" {
		return sdk.WriteResult{}, err
	}
	data := buf.Bytes()
	if d.broken == "target-truncates" && len(data) > 10 {
		data = data[:len(data)-1]
	}
	m := meta{Snapshot: sdk.Snapshot{ID: id, Time: h.Time, Host: h.Host, Tags: h.Tags, FileName: h.FileName}, Header: h}
	if d.broken == "target-loses-tags" {
		m.Tags = h.Tags[:1]
	}
	j, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(d.dir, id+".bin"), data, 0o600); err != nil {
		return sdk.WriteResult{}, err
	}
	return sdk.WriteResult{Snapshot: m.Snapshot}, os.WriteFile(filepath.Join(d.dir, id+".json"), j, 0o600)
}

func (d *dirTarget) List(context.Context, []string) ([]sdk.Snapshot, error) {
	ms, _ := filepath.Glob(filepath.Join(d.dir, "*.json"))
	var out []sdk.Snapshot
	for _, p := range ms {
		var m meta
		b, err := os.ReadFile(p)
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m.Snapshot)
	}
	return out, nil
}

func (d *dirTarget) Read(_ context.Context, req sdk.ReadRequest, out sdk.ReadStream) error {
	var m meta
	b, err := os.ReadFile(filepath.Join(d.dir, filepath.Base(req.SnapshotID)+".json"))
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", req.SnapshotID, sdk.ErrNotFound)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(d.dir, m.ID+".bin"))
	if err != nil {
		return err
	}
	w, err := out.Start(m.Header)
	if err == nil {
		_, err = w.Write(data)
	}
	return err
}

func (d *dirTarget) Prune(context.Context, sdk.PruneRequest) (sdk.PruneResult, error) {
	return sdk.PruneResult{}, sdk.ErrUnimplemented
}

func (d *dirTarget) Verify(context.Context, sdk.VerifyRequest) (string, error) { return "ok", nil }

type fileNotifier struct {
	path    string
	success bool
	broken  string
}

func (n *fileNotifier) Info() sdk.Info {
	return sdk.Info{Name: "notify-kitfile", Version: "1", ConfigKeys: []sdk.ConfigKey{{Name: "KIT_ALERTS"}, {Name: "KIT_SUCCESS"}},
		Capabilities: []string{sdk.CapSuccessEvents}}
}

func (n *fileNotifier) Configure(_ context.Context, c sdk.Config) error {
	n.path = c.Get("KIT_ALERTS")
	n.success = c.Get("KIT_SUCCESS") == "true"
	return nil
}

func (n *fileNotifier) Notify(_ context.Context, e sdk.Event) ([]string, error) {
	if sdk.IsSuccess(e) && !n.success && n.broken != "notifier-success-by-default" {
		return nil, nil
	}
	f, err := os.OpenFile(n.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		if n.broken == "notifier-swallows" {
			return []string{"file"}, nil
		}
		return nil, err
	}
	_, err = fmt.Fprintf(f, "%s\t%s\n", e.Subject, e.Body)
	return []string{"file"}, errors.Join(err, f.Close())
}

// runKit runs the kit against the in-process plugins, broken as named.
func runKit(t *testing.T, broken string) {
	dir := t.TempDir()
	t.Run("Source", func(t *testing.T) { runSource(t, broken, dir) })
	t.Run("Target", func(t *testing.T) {
		conformance.RunTarget(t, conformance.TargetFixture{
			New: func() sdk.Target { return &dirTarget{broken: broken} },
			Config: func(t *testing.T) map[string]string {
				return map[string]string{"KIT_DIR": filepath.Join(t.TempDir(), "repo")}
			},
		})
	})
	t.Run("Notifier", func(t *testing.T) { runNotifier(t, broken, dir) })
}

func runSource(t *testing.T, broken, dir string) {
	file := filepath.Join(dir, "data.bin")
	want := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640,000 bytes
	if err := os.WriteFile(file, want, 0o600); err != nil {
		t.Fatal(err)
	}
	sourceCfg := map[string]string{"KIT_FILE": file}
	if broken == "undeclared-key" {
		sourceCfg["KIT_UNDECLARED"] = "x"
	}
	conformance.RunSource(t, conformance.SourceFixture{
		New:    func() sdk.Source { return &fileSource{broken: broken} },
		Config: func(*testing.T) map[string]string { return sourceCfg },
		FailingConfig: func(t *testing.T) map[string]string {
			return map[string]string{"KIT_FILE": filepath.Join(dir, "missing")}
		},
		Disturb: func(t *testing.T) {
			if err := os.WriteFile(file, []byte("changed"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		CheckRestored: func(t *testing.T, _ sdk.RestoreRequest) {
			if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want) {
				t.Errorf("the file holds %d bytes (%v), want the %d backed up", len(got), err, len(want))
			}
		},
	})
}

func runNotifier(t *testing.T, broken, dir string) {
	alerts := filepath.Join(dir, "alerts.log")
	conformance.RunNotifier(t, conformance.NotifierFixture{
		New:    func() sdk.Notifier { return &fileNotifier{broken: broken} },
		Config: func(*testing.T) map[string]string { return map[string]string{"KIT_ALERTS": alerts} },
		Delivered: func(t *testing.T, e sdk.Event) {
			if b, _ := os.ReadFile(alerts); !strings.Contains(string(b), e.Subject+"\t"+e.Body+"\n") {
				t.Errorf("alert %q not in %s", e.Subject, alerts)
			}
		},
		FailingConfig: func(*testing.T) map[string]string {
			return map[string]string{"KIT_ALERTS": filepath.Join(dir, "no-such-dir", "alerts.log")}
		},
		SuccessConfig: func(*testing.T) map[string]string {
			return map[string]string{"KIT_ALERTS": alerts, "KIT_SUCCESS": "true"}
		},
	})
}

func TestKitPassesConformingInProcessPlugins(t *testing.T) {
	runKit(t, "")
}

// TestBrokenPlugin is not a test of its own: it is the child process of
// TestKitCatchesBrokenPlugins, with KIT_BROKEN naming the broken rule
// (it expects runKit to fail). Run by the suite, it does nothing (no skip
// to report: there is nothing that could not run).
func TestBrokenPlugin(t *testing.T) {
	broken := os.Getenv("KIT_BROKEN")
	if broken == "" {
		return
	}
	runKit(t, broken)
}

// Each plugin that breaks a rule fails the kit, with the rule in the
// message.
func TestKitCatchesBrokenPlugins(t *testing.T) {
	for _, tc := range []struct{ broken, want string }{
		{"source-hides-failure", "a failing producer must report failure in the trailer"},
		{"source-leaks-child", "cancelling a backup must stop the children the producer started: still running 10s after the cancel: sleep"},
		{"source-restores-in-place", "--- FAIL: TestBrokenPlugin/Source/Restore/pipe/IntactAfter/failed_trailer"},
		{"target-commits-aborted", "nothing may be committed without a successful trailer"},
		{"target-truncates", "Read must return what was written byte for byte"},
		{"target-loses-tags", `missing "conformance" written with it`},
		{"notifier-swallows", "a failed delivery must be reported, not swallowed"},
		{"notifier-success-by-default", "success notifications are opt-in, off by default"},
		{"undeclared-key", "the fixture sets KIT_UNDECLARED, which Info.ConfigKeys does not declare"},
		{"check-error-without-fix", "every error finding says how to fix it"},
		{"spec-names-no-component", `Info.ComponentSpecs declares "files", which Info.Components does not list`},
	} {
		t.Run(tc.broken, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenPlugin$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "KIT_BROKEN="+tc.broken)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the kit passed a plugin that breaks %s:\n%s", tc.broken, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("the kit failed %s without saying %q:\n%s", tc.broken, tc.want, out)
			}
		})
	}
}
