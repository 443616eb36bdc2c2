// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigEnvironmentWinsOverFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, ".env.production")
	os.WriteFile(f, []byte(`# TimeTiles env file
export DB_NAME=timetiles
RESTIC_REPOSITORY="/opt/timetiles/backups/restic-repo"
RESTIC_PASSWORD='s3cr3t value'
UPLOAD_HOST_DIR=./uploads # bind mount
COMPOSE_PROJECT_NAME=tt
BACKUP_CONTAINER=${COMPOSE_PROJECT_NAME}-postgres
`), 0o600)
	c, err := LoadConfig(f, []string{"DB_NAME=fromenv", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"DB_NAME":           "fromenv",
		"RESTIC_REPOSITORY": "/opt/timetiles/backups/restic-repo",
		"RESTIC_PASSWORD":   "s3cr3t value",
		"UPLOAD_HOST_DIR":   "./uploads",
		"BACKUP_CONTAINER":  "tt-postgres",
	} {
		if got := c.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if c.Origin("DB_NAME") != "environment" || c.Origin("RESTIC_REPOSITORY") != "file "+f || c.Origin("NOPE") != "default" {
		t.Errorf("origins: %s / %s / %s", c.Origin("DB_NAME"), c.Origin("RESTIC_REPOSITORY"), c.Origin("NOPE"))
	}
	if got := Scrub("restic failed with s3cr3t value inside", c.Secrets(IsSecretKey)); strings.Contains(got, "s3cr3t") {
		t.Errorf("secret not scrubbed: %s", got)
	}
}

func TestConfigFileSelection(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "env")
	os.WriteFile(f, []byte("A=1\n"), 0o600)
	c, err := LoadConfig("", []string{"TIMETILES_ENV_FILE=" + f})
	if err != nil || c.Get("A") != "1" || c.EnvFile != f {
		t.Fatalf("TIMETILES_ENV_FILE not used: %v %q", err, c.Get("A"))
	}
	_, err = LoadConfig(filepath.Join(dir, "missing"), nil)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing explicit env file: %v", err)
	}
	os.WriteFile(f, []byte("A='unterminated\n"), 0o600)
	if _, err := LoadConfig(f, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("broken env file: %v", err)
	}
}

// Every host variable is declared once: KnownKeys keeps the first
// declaration of a name, so a second one would be dead text.
func TestHostKeysDeclaredOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range HostKeys {
		if seen[k.Name] {
			t.Errorf("%s is declared twice in HostKeys", k.Name)
		}
		seen[k.Name] = true
	}
}
