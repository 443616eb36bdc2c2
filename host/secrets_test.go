// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// A third-party plugin's secret is scrubbed because the plugin declares it
// Secret, not because its name happens to look like a password.
func TestDeclaredSecretsAreScrubbed(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte(`package main
import ("context";"fmt";"github.com/timetiles/timetiles-backup/sdk")
type n struct{}
func (n) Info() sdk.Info {
	return sdk.Info{Name: "notify-matrix", Version: "1", ConfigKeys: []sdk.ConfigKey{{Name: "MATRIX_ACCESS_KEY", Secret: true}}}
}
func (n) Configure(_ context.Context, c sdk.Config) error {
	return fmt.Errorf("homeserver refused key %s: %w", c.Get("MATRIX_ACCESS_KEY"), sdk.ErrInvalidConfig)
}
func (n) Notify(context.Context, sdk.Event) ([]string, error) { return nil, nil }
func main() { sdk.ServeNotifier(n{}) }
`), 0o644)
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	cmd := exec.Command("go", "build", "-o", filepath.Join(bin, plugin.BinaryPrefix+"notify-matrix"), src)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(string(out))
	}
	const secret = "mx-access-9Qe4"
	if config.IsSecretKey("MATRIX_ACCESS_KEY") {
		t.Fatal("the test needs a key name the host does not take for a secret by itself")
	}
	r := NewRunner(config.NewConfig(map[string]string{"MATRIX_ACCESS_KEY": secret}), nil, bin)
	defer r.Close()
	_, err := r.Start(context.Background(), "notify-matrix", "")
	if err == nil || !strings.Contains(err.Error(), secret) {
		t.Fatalf("the plugin was meant to leak its key into its error: %v", err)
	}
	if got := r.ScrubError(err).Error(); strings.Contains(got, secret) || !strings.Contains(got, "homeserver refused key ***") {
		t.Fatalf("scrubbed error = %q: the declared secret must be masked", got)
	}
}

// The operator's error text loses a short password where it stands alone
// and keeps ordinary words that contain it (host/config/secrets.go): a
// password "ab" once turned "table" into "t***le" — or, under four
// characters, was not scrubbed at all.
func TestRunnerScrubsAShortPasswordWholeOnly(t *testing.T) {
	r := NewRunner(config.NewConfig(map[string]string{"DB_PASSWORD": "ab", "RESTIC_PASSWORD": "able"}), nil, "")
	defer r.Close()
	in := `pg_dump: connection to "postgresql://tt:ab@db/tt" failed: table unreadable; password able`
	want := `pg_dump: connection to "postgresql://tt:***@db/tt" failed: table unreadable; password ***`
	if got := r.ScrubError(errors.New(in)).Error(); got != want {
		t.Fatalf("scrubbed = %q\nwant       %q", got, want)
	}
}
