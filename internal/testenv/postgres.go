// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	pgBinDir       = "/usr/lib/postgresql/15/bin"
	postgisControl = "/usr/share/postgresql/15/extension/postgis.control"
	pgDirPrefix    = "timetiles-pg-"
)

// Postgres is a throwaway PostgreSQL 15 cluster listening on 127.0.0.1:Port
// with trust authentication for the superuser "postgres".
type Postgres struct {
	Dir       string // cluster directory: data/, server.log, owner-pid
	SocketDir string // unix socket directory (same as Dir)
	Port      int
	BinDir    string // /usr/lib/postgresql/15/bin

	state *pgState
}

type pgState struct {
	mu      sync.Mutex
	running bool
}

// DSN returns a libpq URL for database db.
func (pg *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.Port, db)
}

// Env returns the libpq environment variables that point at database db.
func (pg *Postgres) Env(db string) []string {
	return []string{
		"PGHOST=127.0.0.1",
		"PGPORT=" + strconv.Itoa(pg.Port),
		"PGUSER=postgres",
		"PGDATABASE=" + db,
	}
}

// cmdEnv is the process environment without inherited PG* variables, plus Env(db).
func (pg *Postgres) cmdEnv(db string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env, pg.Env(db)...)
}

// PsqlPath returns the psql binary used by Psql.
func PsqlPath() string {
	if p := filepath.Join(pgBinDir, "psql"); isExecutable(p) {
		return p
	}
	return "/usr/bin/psql"
}

// Psql runs sql (any number of statements, fed on stdin) in database db with
// psql -X -v ON_ERROR_STOP=1 -At -q and returns its trimmed stdout. Any error
// is fatal and reported with psql's stderr.
func (pg *Postgres) Psql(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := pg.psql(db, sql)
	if err != nil {
		t.Fatalf("testenv: psql on %s: %v", db, err)
	}
	return strings.TrimSpace(string(out))
}

func (pg *Postgres) psql(db, sql string) ([]byte, error) {
	cmd := exec.Command(PsqlPath(), "-X", "-v", "ON_ERROR_STOP=1", "-At", "-q", "-f", "-")
	cmd.Env = pg.cmdEnv(db)
	cmd.Stdin = strings.NewReader(sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		q := sql
		if len(q) > 300 {
			q = q[:300] + "…"
		}
		return nil, fmt.Errorf("%v\nstderr: %s\nsql: %s", err, strings.TrimSpace(stderr.String()), q)
	}
	return stdout.Bytes(), nil
}

// CreateDB creates database name.
func (pg *Postgres) CreateDB(t testing.TB, name string) {
	t.Helper()
	pg.Psql(t, "postgres", "CREATE DATABASE "+quoteIdent(name))
}

// DropDB drops database name if it exists, disconnecting its sessions.
func (pg *Postgres) DropDB(t testing.TB, name string) {
	t.Helper()
	pg.Psql(t, "postgres", "DROP DATABASE IF EXISTS "+quoteIdent(name)+" WITH (FORCE)")
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Stop stops the server (pg_ctl -m fast). It is idempotent; StartPostgres's
// cleanup calls it. Tests may call it to simulate a database outage and
// Start to bring the server back on the same port.
func (pg *Postgres) Stop() error {
	pg.state.mu.Lock()
	defer pg.state.mu.Unlock()
	if !pg.state.running {
		return nil
	}
	out, err := pgRun(pg.Dir, filepath.Join(pg.BinDir, "pg_ctl"), "-D", filepath.Join(pg.Dir, "data"), "-m", "fast", "-w", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	pg.state.running = false
	return nil
}

// Start starts a stopped server again on the same port.
func (pg *Postgres) Start() error {
	pg.state.mu.Lock()
	defer pg.state.mu.Unlock()
	if pg.state.running {
		return nil
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off", pg.Port, pg.SocketDir)
	out, err := pgRun(pg.Dir, filepath.Join(pg.BinDir, "pg_ctl"), "-D", filepath.Join(pg.Dir, "data"),
		"-l", filepath.Join(pg.Dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s\nserver.log:\n%s", err, out, pg.logTail(20))
	}
	pg.state.running = true
	return nil
}

func (pg *Postgres) logTail(n int) string {
	data, _ := os.ReadFile(filepath.Join(pg.Dir, "server.log"))
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// pgRun runs a PostgreSQL server tool, as user postgres when we are root
// (initdb and pg_ctl refuse to run as root).
func pgRun(dir, name string, args ...string) ([]byte, error) {
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Dir = dir // the caller's working directory may be closed to postgres
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	return cmd.CombinedOutput()
}

var depsMu sync.Mutex

// ensureDeps installs PostgreSQL 15 and PostGIS with scripts/install-deps.sh
// if they are missing.
func ensureDeps(t testing.TB) {
	t.Helper()
	depsMu.Lock()
	defer depsMu.Unlock()
	if isExecutable(filepath.Join(pgBinDir, "initdb")) && fileExists(postgisControl) {
		return
	}
	unlock, err := lockFile(filepath.Join(os.TempDir(), "timetiles-testenv-install-deps.lock"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer unlock()
	t.Logf("testenv: installing PostgreSQL 15 / PostGIS with scripts/install-deps.sh")
	cmd := exec.Command(filepath.Join(RepoRoot(), "scripts", "install-deps.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: scripts/install-deps.sh: %v\n%s", err, out)
	}
	if !isExecutable(filepath.Join(pgBinDir, "initdb")) || !fileExists(postgisControl) {
		t.Fatalf("testenv: scripts/install-deps.sh ran but %s/initdb or %s is still missing", pgBinDir, postgisControl)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// StartPostgres starts a throwaway PostgreSQL 15 cluster (fsync off, listening
// on 127.0.0.1 only, unix socket in its directory) and stops and removes it
// when the test ends. The server log is printed if the test failed.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	ensureDeps(t)
	sweepStaleClusters()

	// t.TempDir() is root-only (0700): the postgres user could not reach a
	// cluster inside it. /tmp is world-traversable.
	dir, err := os.MkdirTemp("/tmp", pgDirPrefix)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner-pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testenv: user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	pg := &Postgres{Dir: dir, SocketDir: dir, BinDir: pgBinDir, state: &pgState{}}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Errorf("testenv: %v", err)
		}
		if t.Failed() {
			t.Logf("testenv: PostgreSQL server log (%s):\n%s", dir, pg.logTail(40))
		}
		os.RemoveAll(dir)
	})

	tmpl, err := templateCluster()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// A copy of the process's template cluster (cp -a keeps the owner and
	// modes): what initdb would write, without initdb's seconds of CPU.
	if out, err := exec.Command("cp", "-a", tmpl, filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("testenv: copying the template cluster: %v\n%s", err, out)
	}

	// The port is free when chosen but another process may take it before
	// the server binds: retry with a new one.
	for attempt := 1; ; attempt++ {
		pg.Port, err = freePort()
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		err = pg.Start()
		if err == nil {
			return pg
		}
		if attempt == 5 || !strings.Contains(err.Error(), "could not bind") {
			t.Fatalf("testenv: starting PostgreSQL in %s: %v", dir, err)
		}
	}
}

var (
	tmplOnce sync.Once
	tmplData string
	tmplErr  error
)

// templateCluster runs initdb once per test process into a directory of
// its own (removed with the other clusters of this process once it has
// exited, by sweepStaleClusters) and returns its data directory, which
// StartPostgres copies.
func templateCluster() (string, error) {
	tmplOnce.Do(func() {
		dir, err := os.MkdirTemp("/tmp", pgDirPrefix+"template-")
		if err != nil {
			tmplErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "owner-pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			tmplErr = err
			return
		}
		if os.Geteuid() == 0 {
			u, err := user.Lookup("postgres")
			if err != nil {
				tmplErr = fmt.Errorf("user postgres: %w", err)
				return
			}
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			if err := os.Chown(dir, uid, gid); err != nil {
				tmplErr = err
				return
			}
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			tmplErr = err
			return
		}
		data := filepath.Join(dir, "data")
		out, err := pgRun(dir, filepath.Join(pgBinDir, "initdb"), "-D", data,
			"-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
		if err != nil {
			tmplErr = fmt.Errorf("initdb: %v\n%s", err, out)
			return
		}
		tmplData = data
	})
	return tmplData, tmplErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sweepStaleClusters stops and removes clusters left behind by test
// processes that died without running their cleanups (e.g. a test timeout).
func sweepStaleClusters() {
	matches, _ := filepath.Glob(filepath.Join("/tmp", pgDirPrefix+"*"))
	for _, dir := range matches {
		data, err := os.ReadFile(filepath.Join(dir, "owner-pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid == os.Getpid() || fileExists(fmt.Sprintf("/proc/%d", pid)) {
			continue
		}
		if fileExists(filepath.Join(dir, "data", "postmaster.pid")) {
			pgRun(dir, filepath.Join(pgBinDir, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "-t", "10", "stop")
		}
		os.RemoveAll(dir)
	}
}
