// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/version"
	"github.com/timetiles/timetiles-backup/sdk"
)

func configure(t *testing.T, vals map[string]string) (*Source, error) {
	t.Helper()
	s := &Source{}
	err := s.Configure(context.Background(), sdk.Config{Values: vals, APIVersion: sdk.APIVersion})
	return s, err
}

func mustConfigure(t *testing.T, vals map[string]string) *Source {
	t.Helper()
	s, err := configure(t, vals)
	if err != nil {
		t.Fatalf("Configure(%v): %v", vals, err)
	}
	return s
}

func TestInfoDeclaresEveryKeyItReads(t *testing.T) {
	info := (&Source{}).Info()
	if info.Name != "source-postgres" || info.Version != version.Version || !slices.Equal(info.Components, []string{"db"}) {
		t.Fatalf("info = %+v", info)
	}
	if got, want := info.Spec("db"), (sdk.ComponentSpec{Name: "db", Restore: sdk.RestoreDatabase, BackupFirst: true}); got != want {
		t.Fatalf("db declared as %+v, want %+v (a database, dumped before the uploads are snapshotted)", got, want)
	}
	declared := map[string]sdk.ConfigKey{}
	for _, k := range info.ConfigKeys {
		declared[k.Name] = k
	}
	// Every key the code reads, found in the source: c.Get("X"),
	// c.GetDefault("X", …) and the directKeys list.
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	for _, m := range regexp.MustCompile(`c\.Get(?:Default)?\("([A-Z_]+)"`).FindAllStringSubmatch(string(src), -1) {
		read[m[1]] = true
	}
	for _, k := range directKeys {
		read[k] = true
	}
	if len(read) < 14 {
		t.Fatalf("found only %d keys read in config.go: %v", len(read), read)
	}
	for k := range read {
		if _, ok := declared[k]; !ok {
			t.Errorf("config key %s is read but not declared in Info", k)
		}
	}
	for k := range declared {
		if !read[k] {
			t.Errorf("config key %s is declared but never read", k)
		}
	}
	for _, k := range []string{"BACKUP_DATABASE_URL", "PGPASSWORD", "DB_PASSWORD"} {
		if !declared[k].Secret {
			t.Errorf("%s must be marked secret", k)
		}
	}
	for _, k := range []string{"PGHOST", "DB_NAME", "DB_USER", "BACKUP_DB_CONTAINER", "BACKUP_PG_FORMAT"} {
		if declared[k].Secret {
			t.Errorf("%s is not a secret", k)
		}
	}
	if declared["DB_NAME"].Default != "timetiles" || declared["DB_USER"].Default != "timetiles_user" ||
		declared["BACKUP_PG_FORMAT"].Default != "custom" || declared["BACKUP_DOCKER"].Default != "docker" {
		t.Errorf("defaults: %+v", declared)
	}
}

func TestConfigureDefaultsToTimeTilesContainer(t *testing.T) {
	s := mustConfigure(t, map[string]string{"DB_PASSWORD": "pw"})
	if s.container != "timetiles-postgres" || s.user != "timetiles_user" || s.database != "timetiles" ||
		s.password != "pw" || s.docker != "docker" || s.format != FormatCustom || s.url != nil {
		t.Fatalf("defaults: %+v", s)
	}
	// TimeTiles' env file always has DB_*: they do not switch to direct mode.
	s = mustConfigure(t, map[string]string{"COMPOSE_PROJECT_NAME": "staging", "DB_NAME": "tt", "DB_USER": "u", "BACKUP_PG_FORMAT": "PLAIN"})
	if s.container != "staging-postgres" || s.database != "tt" || s.user != "u" || s.format != FormatPlain {
		t.Fatalf("compose project: %+v", s)
	}
	s = mustConfigure(t, map[string]string{"BACKUP_DB_CONTAINER": "db-1", "COMPOSE_PROJECT_NAME": "x", "BACKUP_DOCKER": "/usr/local/bin/docker"})
	if s.container != "db-1" || s.docker != "/usr/local/bin/docker" {
		t.Fatalf("explicit container: %+v", s)
	}
}

func TestConfigureDirectMode(t *testing.T) {
	s := mustConfigure(t, map[string]string{"PGHOST": "db.internal", "PGPORT": "6432", "DB_NAME": "tt", "DB_USER": "tu", "DB_PASSWORD": "dbpw"})
	if s.container != "" || s.host != "db.internal" || s.port != "6432" || s.database != "tt" || s.user != "tu" || s.password != "dbpw" {
		t.Fatalf("libpq variables: %+v", s)
	}
	// PG* override DB_*.
	s = mustConfigure(t, map[string]string{"PGDATABASE": "a", "PGUSER": "b", "PGPASSWORD": "c", "DB_NAME": "x", "DB_USER": "y", "DB_PASSWORD": "z"})
	if s.database != "a" || s.user != "b" || s.password != "c" || s.container != "" {
		t.Fatalf("precedence: %+v", s)
	}
	if got := strings.Join(s.connArgs("other"), " "); got != "-U b -d other" {
		t.Fatalf("connArgs = %q", got)
	}
	// The URL overrides both; its password goes to PGPASSWORD only.
	s = mustConfigure(t, map[string]string{"BACKUP_DATABASE_URL": "postgresql://alice:s%40cr%3At@db:5433/prod?sslmode=require", "DB_PASSWORD": "z", "DB_USER": "y"})
	if s.user != "alice" || s.password != "s@cr:t" || s.database != "prod" {
		t.Fatalf("url: %+v", s)
	}
	if got := strings.Join(s.connArgs("restored"), " "); got != "-d postgresql://alice@db:5433/restored?sslmode=require" {
		t.Fatalf("connArgs = %q", got)
	}
}

func TestParseConnURL(t *testing.T) {
	for _, tc := range []struct {
		raw, user, password, db, out string
	}{
		{"postgres://u:p@h/d", "u", "p", "d", "postgres://u@h/d"},
		{"postgres://u@%2Fvar%2Frun%2Fpostgresql:5432/d", "u", "", "d", "postgres://u@%2Fvar%2Frun%2Fpostgresql:5432/d"},
		{"postgres://h1:5432,h2:5433/d?target_session_attrs=read-write&password=qp", "", "qp", "d", "postgres://h1:5432,h2:5433/d?target_session_attrs=read-write"},
		{"postgres://u:p@ss@[::1]:5432/d%20b?user=v&dbname=e", "v", "p@ss", "e", "postgres://v@[::1]:5432/e"},
		{"postgresql:///d?host=/tmp", "", "", "d", "postgresql:///d?host=%2Ftmp"},
	} {
		u, err := parseConnURL(tc.raw)
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if u.user != tc.user || u.password != tc.password || u.database != tc.db {
			t.Errorf("%s: got user %q password %q db %q", tc.raw, u.user, u.password, u.database)
		}
		if got := u.String(u.user, u.database); got != tc.out {
			t.Errorf("%s: String = %q, want %q", tc.raw, got, tc.out)
		}
	}
	// Names are escaped so libpq decodes them back.
	u, _ := parseConnURL("postgres://h/d")
	if got := u.String("a@b:c", "d/b e"); got != "postgres://a%40b%3Ac@h/d%2Fb%20e" {
		t.Errorf("escaped = %q", got)
	}
}

func TestConfigureRejectsBadSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]string
		want []string // substrings of the error
	}{
		{"format", map[string]string{"BACKUP_PG_FORMAT": "zip"}, []string{`BACKUP_PG_FORMAT="zip"`, `"custom"`, `"plain"`}},
		{"both modes", map[string]string{"BACKUP_DB_CONTAINER": "c", "BACKUP_DATABASE_URL": "postgres://h/d", "PGHOST": "h"}, []string{"BACKUP_DB_CONTAINER", "BACKUP_DATABASE_URL, PGHOST", "unset"}},
		{"scheme", map[string]string{"BACKUP_DATABASE_URL": "mysql://u:hunter2@h/d"}, []string{"not a postgres:// URL", "postgres://USER:PASSWORD@HOST:PORT/DBNAME"}},
		{"keyword conninfo", map[string]string{"BACKUP_DATABASE_URL": "host=h password=hunter2"}, []string{"not a postgres:// URL"}},
		{"bad escape in password", map[string]string{"BACKUP_DATABASE_URL": "postgres://u:hunter2%zz@h/d"}, []string{"malformed password", "percent-encode"}},
		{"port", map[string]string{"PGHOST": "h", "PGPORT": "54x"}, []string{`PGPORT="54x"`}},
		{"bin dir", map[string]string{"PGHOST": "h", "BACKUP_PG_BIN_DIR": "/nonexistent/bin"}, []string{"BACKUP_PG_BIN_DIR=/nonexistent/bin", "pg_dump", "/usr/lib/postgresql/17/bin"}},
		{"container name", map[string]string{"BACKUP_DB_CONTAINER": "-it"}, []string{`"-it"`, "BACKUP_DB_CONTAINER"}},
		{"db name", map[string]string{"DB_NAME": "host=evil"}, []string{"DB_NAME", "'='"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := configure(t, tc.vals)
			if err == nil {
				t.Fatalf("Configure(%v) succeeded", tc.vals)
			}
			if !errors.Is(err, sdk.ErrInvalidConfig) {
				t.Errorf("error does not wrap ErrInvalidConfig: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}
}

func TestRedactAndTail(t *testing.T) {
	s := &Source{password: "p@ss word"}
	got := s.redact("a p@ss word b p%40ss%20word c p%40ss+word")
	if strings.Contains(got, "ss") {
		t.Fatalf("redact = %q", got)
	}
	tl := newTail(8)
	tl.Write([]byte("0123456789"))
	tl.Write([]byte("ab"))
	if got := tl.String(); got != "…456789ab" {
		t.Fatalf("tail = %q", got)
	}
}
