// SPDX-License-Identifier: Apache-2.0

package config

// A fuzz target for the env file (outside input). `go test` runs it over
// its seeds; `go test -fuzz=FuzzEnvFile ./host/config` explores.

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An env file, whatever it holds: LoadConfig fails only with a
// configuration error, and that error never repeats the file's values
// (godotenv's own messages quote them: passwords included).
func FuzzEnvFile(f *testing.F) {
	f.Add("RESTIC_PASSWORD=\"p@ss+w0rd!Zq\nB=1\n")
	f.Add("export A=1\n# comment\nB='x y'\nC=\"multi\nline\"\n")
	f.Add("BAD LINE k3y^secret!7\n")
	f.Add("A=${B:-d}\nDB_PASSWORD='s3cr&t!99\n")
	f.Add("=v@lue!12345\n")
	f.Add("A=1\r\nB=\"2\r\n")
	f.Fuzz(func(t *testing.T, content string) {
		p := filepath.Join(t.TempDir(), "env")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(p, nil)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrConfig) {
			t.Fatalf("not a configuration error: %v", err)
		}
		msg := strings.ReplaceAll(err.Error(), p, "")
		for _, line := range strings.Split(content, "\n") {
			_, v, ok := strings.Cut(line, "=")
			v = strings.Trim(strings.TrimSpace(v), `"'`)
			if !ok || len(v) < 8 || !strings.ContainsAny(v, "!@%^&*+~") {
				continue // only values that look like secrets: the message's own words could match others
			}
			if strings.Contains(msg, v) {
				t.Fatalf("the error repeats a value of the file: %q in %q", v, msg)
			}
		}
	})
}
