// SPDX-License-Identifier: Apache-2.0

package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestEnvFileParseErrorNamesLineNotSecret(t *testing.T) {
	const secret = "s3cr3t-Value-9"
	for _, tc := range []struct{ file, want string }{
		{"A=1\nRESTIC_PASSWORD=\"" + secret + "\nB=2\n", "line 2 (RESTIC_PASSWORD) has a quote that is never closed"},
		{"A=1\n# comment\nBAD LINE " + secret + "\n", "line 3 is not NAME=value"},
		{"M=\"multi\nline\"\nRESTIC_PASSWORD='" + secret + "\n", "line 3 (RESTIC_PASSWORD) has a quote"},
	} {
		p := filepath.Join(t.TempDir(), "env")
		os.WriteFile(p, []byte(tc.file), 0o600)
		_, err := LoadConfig(p, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:6]) {
			t.Errorf("%q: %v (want %q and no secret)", tc.file, err, tc.want)
		}
	}
}

// A UTF-8 byte order mark (Notepad, some hosting panels) is not part of the
// first variable's name.
func TestEnvFileWithByteOrderMark(t *testing.T) {
	p := filepath.Join(t.TempDir(), "env")
	os.WriteFile(p, []byte("\xef\xbb\xbfRESTIC_PASSWORD=first-line\nDB_NAME=tt\n"), 0o600)
	cfg, err := LoadConfig(p, nil)
	if err != nil {
		t.Fatalf("env file with a byte order mark: %v", err)
	}
	if got := cfg.Get("RESTIC_PASSWORD"); got != "first-line" {
		t.Fatalf("RESTIC_PASSWORD = %q, want first-line", got)
	}
	if cfg.Origin("RESTIC_PASSWORD") != "file "+p {
		t.Fatalf("origin %q", cfg.Origin("RESTIC_PASSWORD"))
	}
	// A broken file with a mark: lines are counted as the editor shows them.
	os.WriteFile(p, []byte("\xef\xbb\xbfA=1\nB=\"open\n"), 0o600)
	if _, err := LoadConfig(p, nil); err == nil || !strings.Contains(err.Error(), "line 2 (B) has a quote that is never closed") {
		t.Fatalf("broken file with a byte order mark: %v", err)
	}
}

// bigEnvFile returns an env file of n lines — assignments, comments, blank
// lines and multi-line quoted values — with bad at line badLine (1-based).
func bigEnvFile(n, badLine int, bad string) []byte {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		switch {
		case i == badLine:
			b.WriteString(bad)
		case i%50 == 0:
			b.WriteString("# section " + strconv.Itoa(i))
		case i%97 == 0 && i+1 != badLine && i+1 <= n:
			// a two-line quoted value
			b.WriteString("MULTI_" + strconv.Itoa(i) + "=\"first\nsecond\"")
			i++
		case i%31 == 0:
			b.WriteString("")
		default:
			b.WriteString("VAR_" + strconv.Itoa(i) + "='value number " + strconv.Itoa(i) + "' # comment")
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// The bad line of a long env file is named exactly, wherever it is: early
// (everything after it is the unterminated value's text), late, and after
// multi-line values.
func TestEnvFileBadLineInLongFile(t *testing.T) {
	const secret = "Zq9!secret-value"
	for _, tc := range []struct {
		line int
		bad  string
		want string
	}{
		// The next double quote (line 4365's MULTI_4365=") closes it.
		{4321, `RESTIC_PASSWORD="` + secret, "line 4321 (RESTIC_PASSWORD) opens a quote that is closed only on line 4365"},
		{2, `RESTIC_PASSWORD='` + secret, "line 2 (RESTIC_PASSWORD) opens a quote that is closed only on line 3"},
		{5990, `RESTIC_PASSWORD="` + secret, "line 5990 (RESTIC_PASSWORD) has a quote that is never closed"},
		{5999, "NOT AN ASSIGNMENT " + secret, "line 5999 is not NAME=value"},
		{3000, "BAD-NAME=" + secret, "line 3000 is not NAME=value"},
	} {
		p := filepath.Join(t.TempDir(), "env")
		os.WriteFile(p, bigEnvFile(6000, tc.line, tc.bad), 0o600)
		_, err := LoadConfig(p, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), secret) {
			t.Errorf("bad line %d: %v\nwant %q and no secret", tc.line, err, tc.want)
		}
	}
	// And a file with no bad line at all loads, multi-line values included.
	p := filepath.Join(t.TempDir(), "env")
	os.WriteFile(p, bigEnvFile(6000, 0, ""), 0o600)
	cfg, err := LoadConfig(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Get("MULTI_97"); got != "first\nsecond" {
		t.Fatalf("MULTI_97 = %q", got)
	}
}

// BenchmarkEnvParseProblem measures how long LoadConfig takes to name the
// bad line of a 5,000-line env file (the line near its end, the slowest
// case for the old prefix-by-prefix search: ~2 minutes). Run:
//
//	go test -run '^$' -bench EnvParseProblem -benchtime 5x ./host
func BenchmarkEnvParseProblem(b *testing.B) {
	p := filepath.Join(b.TempDir(), "env")
	os.WriteFile(p, bigEnvFile(5000, 4990, `RESTIC_PASSWORD="never closed`), 0o600)
	for b.Loop() {
		if _, err := LoadConfig(p, nil); err == nil || !strings.Contains(err.Error(), "line 4990 ") {
			b.Fatalf("got %v", err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/file")
}
