// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/timetiles/timetiles-backup/internal/version"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Component is the only component this source produces.
const Component = "db"

// Dump formats (BACKUP_PG_FORMAT).
const (
	FormatCustom = "custom" // pg_dump -Fc -Z0: uncompressed so restic deduplicates
	FormatPlain  = "plain"  // plain SQL with --clean --if-exists, like TimeTiles' old shell tool
)

// File names and media types of the stream, per format. database.sql is the
// name the old shell tool gave its snapshots.
var (
	fileNames  = map[string]string{FormatCustom: "timetiles.pgdump", FormatPlain: "database.sql"}
	mediaTypes = map[string]string{FormatCustom: "application/x-postgresql-custom", FormatPlain: "application/sql"}
)

const (
	defaultDBName  = "timetiles"
	defaultDBUser  = "timetiles_user"
	defaultProject = "timetiles"
	maintenanceDB  = "postgres"
)

// directKeys are the settings that select direct mode: any libpq variable
// or a URL. DB_NAME/DB_USER/DB_PASSWORD do not select a mode: TimeTiles' env
// file always holds them and container mode uses them too.
var directKeys = []string{"BACKUP_DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"}

// Source is the PostgreSQL source plugin.
type Source struct {
	format   string
	database string // the configured database
	user     string
	password string // never in argv: PGPASSWORD in the child's (or docker's) environment

	// Container mode.
	container string
	docker    string

	// Direct mode.
	url    *connURL // nil: libpq variables
	host   string   // PGHOST
	port   string   // PGPORT
	binDir string   // BACKUP_PG_BIN_DIR; "" = PATH

	verifyQuery string // BACKUP_PG_VERIFY_QUERY, run by restore tests
}

// Info describes the plugin.
func (s *Source) Info() sdk.Info {
	return sdk.Info{
		Name:        "source-postgres",
		Version:     version.Version, // the release it ships with (internal/version)
		Description: "PostgreSQL database (component db): pg_dump/pg_restore/psql, directly or inside the database container",
		Components:  []string{Component},
		// A database (--to-database applies), dumped before the directories
		// its rows refer to are snapshotted: uploads only grow, so every
		// file a row of the dump names is in the same run.
		ComponentSpecs: []sdk.ComponentSpec{{Name: Component, Restore: sdk.RestoreDatabase, BackupFirst: true}},
		// Restore tests (backup verify --restore-test): restoretest.go.
		Capabilities: []string{sdk.CapRestoreTest},
		ConfigKeys: []sdk.ConfigKey{
			{Name: "BACKUP_DATABASE_URL", Secret: true, Description: "postgres:// URL of the database (direct mode); a password in it is passed to the tools as PGPASSWORD, never on their command line"},
			{Name: "PGHOST", Description: "database host or socket directory (direct mode)"},
			{Name: "PGPORT", Description: "database port (direct mode)"},
			{Name: "PGUSER", Description: "database user (direct mode; overrides DB_USER)"},
			{Name: "PGPASSWORD", Secret: true, Description: "database password (direct mode; overrides DB_PASSWORD)"},
			{Name: "PGDATABASE", Description: "database name (direct mode; overrides DB_NAME)"},
			{Name: "DB_NAME", Default: defaultDBName, Description: "database name (TimeTiles env file)"},
			{Name: "DB_USER", Default: defaultDBUser, Description: "database user (TimeTiles env file)"},
			{Name: "DB_PASSWORD", Secret: true, Description: "database password (TimeTiles env file)"},
			{Name: "BACKUP_DB_CONTAINER", Description: "run the tools inside this container with docker exec (container mode); default when no direct setting is given: ${COMPOSE_PROJECT_NAME:-timetiles}-postgres"},
			{Name: "COMPOSE_PROJECT_NAME", Default: defaultProject, Description: "Docker Compose project; names the default container <project>-postgres"},
			{Name: "BACKUP_PG_FORMAT", Default: FormatCustom, Description: `"custom" (pg_dump -Fc -Z0, uncompressed so restic deduplicates) or "plain" (SQL, like the old shell tool)`},
			{Name: "BACKUP_PG_BIN_DIR", Description: "directory holding pg_dump, pg_restore and psql for direct mode (default: PATH); their major version must match the server's", Executable: true},
			{Name: "BACKUP_DOCKER", Default: "docker", Description: "docker CLI used in container mode", Executable: true},
			{Name: "BACKUP_PG_VERIFY_QUERY", Description: "SQL a restore test (backup verify --restore-test) runs in the restored scratch database besides counting its tables, e.g. SELECT count(*) FROM events"},
		},
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, sdk.ErrInvalidConfig)...)
}

// containerName is what Docker accepts as a container name or ID.
var containerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Configure reads and validates the settings.
func (s *Source) Configure(_ context.Context, c sdk.Config) error {
	*s = Source{}
	s.format = strings.ToLower(c.GetDefault("BACKUP_PG_FORMAT", FormatCustom))
	s.verifyQuery = c.Get("BACKUP_PG_VERIFY_QUERY")
	if _, ok := fileNames[s.format]; !ok {
		return invalid("BACKUP_PG_FORMAT=%q is not a dump format: set it to %q (default, pg_dump -Fc -Z0) or %q (plain SQL)",
			c.Get("BACKUP_PG_FORMAT"), FormatCustom, FormatPlain)
	}

	var direct []string
	for _, k := range directKeys {
		if c.Get(k) != "" {
			direct = append(direct, k)
		}
	}
	if ctr := c.Get("BACKUP_DB_CONTAINER"); ctr != "" && len(direct) > 0 {
		return invalid("both BACKUP_DB_CONTAINER (container mode) and %s (direct mode) are set: unset %s to dump inside the container, or unset BACKUP_DB_CONTAINER to connect directly",
			strings.Join(direct, ", "), strings.Join(direct, ", "))
	}

	if len(direct) == 0 {
		s.container = c.Get("BACKUP_DB_CONTAINER")
		if s.container == "" {
			s.container = c.GetDefault("COMPOSE_PROJECT_NAME", defaultProject) + "-postgres"
		}
		if !containerName.MatchString(s.container) {
			return invalid("container name %q is not valid: set BACKUP_DB_CONTAINER (or COMPOSE_PROJECT_NAME) to the name of the PostgreSQL container, e.g. timetiles-postgres", s.container)
		}
		s.docker = c.GetDefault("BACKUP_DOCKER", "docker")
		s.user = c.GetDefault("DB_USER", defaultDBUser)
		s.database = c.GetDefault("DB_NAME", defaultDBName)
		s.password = c.Get("DB_PASSWORD")
		if c.Get("BACKUP_PG_BIN_DIR") != "" {
			sdk.Logger.Warn("BACKUP_PG_BIN_DIR is ignored in container mode: the tools of the container run", "container", s.container)
		}
	} else {
		// Precedence: URL, then libpq variables, then TimeTiles' DB_* variables.
		s.user = firstSet(c.Get("PGUSER"), c.Get("DB_USER"), defaultDBUser)
		s.database = firstSet(c.Get("PGDATABASE"), c.Get("DB_NAME"), defaultDBName)
		s.password = firstSet(c.Get("PGPASSWORD"), c.Get("DB_PASSWORD"))
		s.host, s.port = c.Get("PGHOST"), c.Get("PGPORT")
		if raw := c.Get("BACKUP_DATABASE_URL"); raw != "" {
			u, err := parseConnURL(raw)
			if err != nil {
				return err // never contains the URL: it may hold a password
			}
			s.url = u
			if u.user != "" {
				s.user = u.user
			}
			if u.database != "" {
				s.database = u.database
			}
			if u.hasPassword {
				s.password = u.password
			}
		}
		if s.port != "" {
			if p, err := strconv.Atoi(s.port); err != nil || p < 1 || p > 65535 {
				return invalid("PGPORT=%q is not a port number: set it to the server's port, e.g. 5432", s.port)
			}
		}
		if dir := c.Get("BACKUP_PG_BIN_DIR"); dir != "" {
			for _, tool := range []string{"pg_dump", "pg_restore", "psql"} {
				if !isExecutable(filepath.Join(dir, tool)) {
					return invalid("BACKUP_PG_BIN_DIR=%s holds no executable %s: point it at the bin directory of the PostgreSQL client tools matching the server's major version (e.g. /usr/lib/postgresql/17/bin), or unset it to use PATH", dir, tool)
				}
			}
			s.binDir = dir
		}
	}
	if s.user == "" {
		return invalid("no database user: set DB_USER (or PGUSER, or a user in BACKUP_DATABASE_URL)")
	}
	if err := checkDBName(s.database); err != nil {
		return invalid("database name: %v: set DB_NAME (or PGDATABASE, or the path of BACKUP_DATABASE_URL)", err)
	}
	return nil
}

// checkDBName rejects names libpq would read as a connection string (an "="
// or a URI prefix) and names PostgreSQL cannot have.
func checkDBName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty")
	case len(name) > 63:
		return fmt.Errorf("%q is longer than PostgreSQL's 63 bytes", name)
	case strings.ContainsAny(name, "=\x00"):
		return fmt.Errorf("%q contains '=' or a NUL byte", name)
	case strings.HasPrefix(name, "postgres://"), strings.HasPrefix(name, "postgresql://"):
		return fmt.Errorf("%q is a URL, not a name", name)
	}
	return nil
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// connURL is a libpq connection URI split so that the password can travel
// in PGPASSWORD and the database can be swapped (restore into another
// database, the maintenance database for CREATE DATABASE).
//
// net/url is not used to parse it: it rejects what libpq accepts, such as a
// percent-encoded socket directory as the host (postgres://%2Fvar%2Frun%2Fpostgresql/db).
// The host part is kept verbatim; only user, password, database and the
// query are decoded (with net/url's unescaping) and re-encoded.
type connURL struct {
	scheme      string
	hosts       string // verbatim: host[:port][,host[:port]...] or empty
	user        string
	password    string
	hasPassword bool
	database    string
	query       url.Values // without password, user, dbname
}

func parseConnURL(raw string) (*connURL, error) {
	const fix = "write it as postgres://USER:PASSWORD@HOST:PORT/DBNAME (percent-encode special characters)"
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != "postgres" && scheme != "postgresql") {
		return nil, invalid("BACKUP_DATABASE_URL is not a postgres:// URL: %s", fix)
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, rawPath, _ := strings.Cut(rest, "/")
	u := &connURL{scheme: scheme, hosts: authority}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo := authority[:at]
		u.hosts = authority[at+1:]
		rawUser, rawPass, hasPass := strings.Cut(userinfo, ":")
		var err error
		if u.user, err = url.PathUnescape(rawUser); err != nil {
			return nil, invalid("BACKUP_DATABASE_URL has a malformed user name: %s", fix)
		}
		if hasPass {
			if u.password, err = url.PathUnescape(rawPass); err != nil {
				return nil, invalid("BACKUP_DATABASE_URL has a malformed password (a %% must start a percent-encoded byte): %s", fix)
			}
			u.hasPassword = true
		}
	}
	if strings.ContainsAny(u.hosts, " /\\") {
		return nil, invalid("BACKUP_DATABASE_URL has a malformed host: %s", fix)
	}
	db, err := url.PathUnescape(rawPath)
	if err != nil {
		return nil, invalid("BACKUP_DATABASE_URL has a malformed database name: %s", fix)
	}
	u.database = db
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, invalid("BACKUP_DATABASE_URL has a malformed query string: %s", fix)
	}
	if q.Has("password") {
		u.password, u.hasPassword = q.Get("password"), true
		q.Del("password")
	}
	if v := q.Get("user"); v != "" {
		u.user = v
	}
	if v := q.Get("dbname"); v != "" {
		u.database = v
	}
	q.Del("user")
	q.Del("dbname")
	u.query = q
	return u, nil
}

// String returns the URI for user and database, without any password.
func (u *connURL) String(user, database string) string {
	var b strings.Builder
	b.WriteString(u.scheme)
	b.WriteString("://")
	if user != "" {
		b.WriteString(escape(user))
		b.WriteByte('@')
	}
	b.WriteString(u.hosts)
	b.WriteByte('/')
	b.WriteString(escape(database))
	if len(u.query) > 0 {
		b.WriteByte('?')
		b.WriteString(u.query.Encode())
	}
	return b.String()
}

// escape percent-encodes everything but RFC 3986's unreserved characters,
// which libpq decodes in every part of a URI.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
