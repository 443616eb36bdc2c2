// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	streams  = map[bool][]byte{}
	streamMu sync.Mutex
)

// stream is the real `go test -json` output of testdata/fixture, with
// TestFails failing or not.
func stream(t *testing.T, fail bool) []byte {
	t.Helper()
	streamMu.Lock()
	defer streamMu.Unlock()
	if s, ok := streams[fail]; ok {
		return s
	}
	cmd := exec.Command("go", "test", "-json", "-count=1", ".")
	cmd.Dir = filepath.Join("testdata", "fixture")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if fail {
		cmd.Env = append(cmd.Env, "FIXTURE_FAIL=1")
	}
	out, err := cmd.Output()
	if _, exit := err.(*exec.ExitError); err != nil && !(exit && fail) {
		t.Fatalf("go test -json on the fixture: %v\n%s", err, out)
	}
	streams[fail] = out
	return out
}

// report runs the report over a stream and returns what it printed and
// whether it judged the run failed.
func runReport(t *testing.T, in []byte, allowList string, ci bool) (string, bool) {
	t.Helper()
	allow, err := readAllowList(strings.NewReader(allowList))
	if err != nil {
		t.Fatal(err)
	}
	var out, raw bytes.Buffer
	r := newReport("example.com/fixture", &out)
	if err := r.read(bytes.NewReader(in), &raw); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw.Bytes(), in) {
		t.Errorf("the raw copy differs from the input (%d vs %d bytes)", raw.Len(), len(in))
	}
	bad := r.summary(allow, ci, 3)
	return out.String(), bad
}

func TestSkipsListedWithReasons(t *testing.T) {
	t.Parallel()
	out, bad := runReport(t, stream(t, false), "", false)
	for _, want := range []string{
		"== skipped tests: 2\n",
		"SKIP  . TestSkipsWithReason: needs a unicorn: none on this machine\n",
		"SKIP  . TestSubtests/skips: no GPU here\n",
		"ok    .",
		"== 5 passed, 0 failed, 2 skipped; 0 of 1 packages failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if bad {
		t.Errorf("a run with skips outside CI judged failed:\n%s", out)
	}
}

func TestCISkipNotAllowedFails(t *testing.T) {
	t.Parallel()
	out, bad := runReport(t, stream(t, false), ". TestSubtests/skips CI machines have no GPU\n", true)
	if !bad {
		t.Fatalf("CI run with a skip not on the allow-list passed:\n%s", out)
	}
	for _, want := range []string{
		"SKIP  . TestSkipsWithReason: needs a unicorn: none on this machine  [NOT ALLOWED under CI]",
		"SKIP  . TestSubtests/skips: no GPU here  [allow-listed: CI machines have no GPU]",
		"CI=true: a test skipped that is not on the allow-list",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

func TestCIAllowListedSkipsPass(t *testing.T) {
	t.Parallel()
	list := "# why each cannot run here\n\n. TestSkipsWithReason no unicorns in CI\n. TestSubtests/* CI machines have no GPU\n./other TestGone stale entry\n"
	out, bad := runReport(t, stream(t, false), list, true)
	if bad {
		t.Fatalf("CI run whose skips are all allow-listed failed:\n%s", out)
	}
	if !strings.Contains(out, "note: allow-list entry ./other TestGone did not skip in this run") {
		t.Errorf("unused allow-list entry not mentioned:\n%s", out)
	}
}

func TestFailurePrintedAndFatal(t *testing.T) {
	t.Parallel()
	out, bad := runReport(t, stream(t, true), "", false)
	if !bad {
		t.Fatalf("a run with a failed test passed:\n%s", out)
	}
	for _, want := range []string{
		"== FAIL . TestFails (",
		"the answer is 41",
		"FAIL  .  ",
		"== failed tests: 1\nFAIL  . TestFails (",
		"1 of 1 packages failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "looking for a unicorn") && !strings.Contains(out, "SKIP") {
		t.Errorf("output of a passing test printed:\n%s", out)
	}
}

func TestSlowestListed(t *testing.T) {
	t.Parallel()
	out, _ := runReport(t, stream(t, false), "", false)
	_, list, ok := strings.Cut(out, "== 3 slowest tests\n")
	if !ok {
		t.Fatalf("no slowest list:\n%s", out)
	}
	first, _, _ := strings.Cut(list, "\n")
	if !strings.HasSuffix(first, " . TestSlow") {
		t.Errorf("slowest first: %q, want TestSlow\n%s", first, out)
	}
	if n := strings.Count(strings.Split(list, "\n\n")[0], "\n"); n != 2 {
		t.Errorf("%d lines in the slowest list, want 3:\n%s", n+1, list)
	}
}

// A build failure is a failed run, with the compiler's words.
func TestBuildFailureFatal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/broken\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "broken_test.go"), []byte("package broken\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) { undefinedThing() }\n"), 0o644)
	cmd := exec.Command("go", "test", "-json", "-count=1", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	in, _ := cmd.Output()
	var out bytes.Buffer
	r := newReport("example.com/broken", &out)
	if err := r.read(bytes.NewReader(in), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !r.summary(nil, false, 10) || !strings.Contains(out.String(), "undefinedThing") {
		t.Fatalf("a build failure passed or was not shown:\n%s", out.String())
	}
}

func TestAllowListNeedsReason(t *testing.T) {
	t.Parallel()
	if _, err := readAllowList(strings.NewReader("./host TestX\n")); err == nil || !strings.Contains(err.Error(), "PACKAGE TEST REASON") {
		t.Errorf("line without a reason: %v", err)
	}
	if _, err := readAllowList(strings.NewReader("./host Test[ broken pattern\n")); err == nil {
		t.Error("bad pattern accepted")
	}
}
