// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Images scripts/docker-env.sh builds locally (no registry is reachable):
// a minimal Debian 12 imported from a debootstrap rootfs, and PostgreSQL +
// PostGIS built FROM it with an entrypoint like the official postgres
// image's (POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, scram).
const (
	BaseImage    = "local/debian:bookworm"
	PostGISImage = "timetiles-backup-test/postgis:15"
)

// ownerLabel marks every container, volume and network a test creates with
// the test process's PID, so a later run removes what a killed run left.
const ownerLabel = "org.timetiles-backup.test-owner"

// Docker is a running Docker engine, driven through Debian's docker CLI
// (/usr/bin/docker: a newer CLI elsewhere on PATH may have no daemon or
// plugins that match).
type Docker struct {
	Bin string // the docker CLI
	// Env is the environment every docker command of the tests runs with:
	// PATH with /usr/bin first, so `docker` names Bin in shells and hooks too.
	Env []string
}

var (
	dockerOnce sync.Once
	dockerEng  *Docker
	dockerErr  error
)

// RequireDocker returns the Docker engine, making it available first when
// it is not: as root it runs scripts/docker-env.sh (installs docker.io and
// debootstrap, starts dockerd, builds the images once — minutes the first
// time, nothing later). When the engine still cannot be had, the test is
// skipped with the reason — except under CI=true, where the test command
// installs Docker and a missing engine is a failure, never a silent skip.
func RequireDocker(t testing.TB) *Docker {
	t.Helper()
	dockerOnce.Do(func() { dockerEng, dockerErr = setupDocker(t) })
	return requireDocker(t, dockerEng, dockerErr)
}

// requireDocker fails (CI=true) or skips the test when err says there is no
// engine.
func requireDocker(t testing.TB, d *Docker, err error) *Docker {
	t.Helper()
	if err == nil {
		return d
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("testenv: no Docker engine under CI (scripts/docker-env.sh installs and starts it): %v", err)
	} else {
		t.Skipf("testenv: no Docker engine (run scripts/docker-env.sh as root to get one): %v", err)
	}
	return nil
}

func setupDocker(t testing.TB) (*Docker, error) {
	d := &Docker{Bin: "/usr/bin/docker"}
	path := "/usr/bin:/usr/sbin:/bin:/sbin"
	if p := os.Getenv("PATH"); p != "" {
		path += ":" + p
	}
	d.Env = append(withoutVar(os.Environ(), "PATH"), "PATH="+path)
	if d.ready() == nil {
		d.sweep()
		return d, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%s does not answer (%v) and only root may set it up", d.Bin, d.ready())
	}
	unlock, err := lockFile(filepath.Join(os.TempDir(), "timetiles-testenv-docker-env.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if d.ready() != nil {
		t.Logf("testenv: setting up Docker with scripts/docker-env.sh (minutes the first time)")
		cmd := exec.Command(filepath.Join(RepoRoot(), "scripts", "docker-env.sh"))
		cmd.Env = d.Env
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("scripts/docker-env.sh: %v\n%s", err, tailBytes(out, 2000))
		}
	}
	if err := d.ready(); err != nil {
		return nil, err
	}
	d.sweep()
	return d, nil
}

// ready checks the engine answers and the images exist.
func (d *Docker) ready() error {
	if _, err := os.Stat(d.Bin); err != nil {
		return fmt.Errorf("docker CLI: %v", err)
	}
	if out, err := d.Command("info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return fmt.Errorf("docker info: %v: %s", err, bytes.TrimSpace(tailBytes(out, 300)))
	}
	for _, img := range []string{BaseImage, PostGISImage} {
		if err := d.Command("image", "inspect", img).Run(); err != nil {
			return fmt.Errorf("image %s is missing", img)
		}
	}
	return nil
}

// sweep removes containers, volumes and networks left by test processes
// that no longer run.
func (d *Docker) sweep() {
	for _, kind := range []string{"container", "volume", "network"} {
		out, err := d.Command(kind, "ls", "-a", "--filter", "label="+ownerLabel, "--format", "{{.ID}} {{.Label \""+ownerLabel+"\"}}").Output()
		if kind != "container" {
			out, err = d.Command(kind, "ls", "--filter", "label="+ownerLabel, "--format", "{{.Name}} {{.Label \""+ownerLabel+"\"}}").Output()
		}
		if err != nil {
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			if pid, err := strconv.Atoi(f[1]); err == nil && !fileExists(fmt.Sprintf("/proc/%d", pid)) {
				if kind == "container" {
					_ = d.Command("rm", "-f", "-v", f[0]).Run()
				} else {
					_ = d.Command(kind, "rm", "-f", f[0]).Run()
				}
			}
		}
	}
}

// OwnerLabel is the --label argument that lets a later test run remove what
// this process created if it dies before its cleanup (compose files can
// carry it too).
func OwnerLabel() string { return ownerLabel + "=" + strconv.Itoa(os.Getpid()) }

// Command is a docker command with the tests' environment.
func (d *Docker) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(d.Bin, args...)
	cmd.Env = d.Env
	return cmd
}

// Run runs docker and returns its stdout; the test fails if it fails.
func (d *Docker) Run(t testing.TB, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := d.Command(args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker %s: %v\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String()
}

// Running reports whether the container runs.
func (d *Docker) Running(name string) bool {
	out, err := d.Command("inspect", "-f", "{{.State.Running}}", name).Output()
	return err == nil && strings.TrimSpace(string(out)) == "true"
}

// PGContainer is a PostgreSQL + PostGIS container started from PostGISImage.
type PGContainer struct {
	D                        *Docker
	Name                     string
	User, Password, Database string
	Volume                   string // the named volume holding PGDATA
	Port                     int    // published on 127.0.0.1, 0 if not
	removeVolume             bool
}

// PGOptions describe a PostGIS container.
type PGOptions struct {
	Name                     string // container name, e.g. PROJECT-postgres
	User, Password, Database string // POSTGRES_USER / _PASSWORD / _DB
	Volume                   string // named volume for PGDATA (created; removed at the end unless it existed)
	Network                  string // a network to attach to (optional)
	Aliases                  []string
	PublishPort              bool // publish 5432 on a free 127.0.0.1 port
}

// StartPostGIS starts a PostGIS container initialised like the official
// postgres image and waits until it accepts TCP connections with the
// password (the entrypoint's temporary init server listens on no TCP
// port, so this is the final server). The container and, when it created
// it, the volume are removed when the test ends. The password reaches the
// container through docker's environment (-e NAME), never its argv.
func (d *Docker) StartPostGIS(t testing.TB, o PGOptions) *PGContainer {
	t.Helper()
	c := &PGContainer{D: d, Name: o.Name, User: o.User, Password: o.Password, Database: o.Database, Volume: o.Volume}
	if c.Volume == "" {
		c.Volume = o.Name + "-data"
	}
	if d.Command("volume", "inspect", c.Volume).Run() != nil {
		d.Run(t, "volume", "create", "--label", OwnerLabel(), c.Volume)
		c.removeVolume = true
	}
	args := []string{"run", "-d", "--name", o.Name, "--label", OwnerLabel(),
		"-e", "POSTGRES_USER", "-e", "POSTGRES_PASSWORD", "-e", "POSTGRES_DB",
		"-v", c.Volume + ":/var/lib/postgresql/data"}
	if o.Network != "" {
		args = append(args, "--network", o.Network)
		for _, a := range o.Aliases {
			args = append(args, "--network-alias", a)
		}
	}
	if o.PublishPort {
		args = append(args, "-p", "127.0.0.1::5432")
	}
	args = append(args, PostGISImage)
	cmd := d.Command(args...)
	cmd.Env = append(cmd.Env, "POSTGRES_USER="+o.User, "POSTGRES_PASSWORD="+o.Password, "POSTGRES_DB="+o.Database)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: docker run %s: %v\n%s", o.Name, err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := d.Command("logs", "--tail", "30", o.Name).CombinedOutput()
			t.Logf("testenv: last log lines of %s:\n%s", o.Name, out)
		}
		_ = d.Command("rm", "-f", "-v", o.Name).Run()
		if c.removeVolume {
			_ = d.Command("volume", "rm", "-f", c.Volume).Run()
		}
	})
	if o.PublishPort {
		out := strings.TrimSpace(d.Run(t, "port", o.Name, "5432/tcp"))
		if i := strings.LastIndexByte(out, ':'); i >= 0 {
			c.Port, _ = strconv.Atoi(strings.SplitN(out[i+1:], "\n", 2)[0])
		}
	}
	c.WaitReady(t)
	return c
}

// WaitReady waits until the server accepts a password login over TCP inside
// the container.
func (c *PGContainer) WaitReady(t testing.TB) {
	t.Helper()
	WaitFor(t, c.Name+" to accept connections", func() bool {
		if !c.D.Running(c.Name) {
			if st, _ := c.D.Command("inspect", "-f", "{{.State.Status}}", c.Name).Output(); strings.TrimSpace(string(st)) == "exited" {
				out, _ := c.D.Command("logs", "--tail", "30", c.Name).CombinedOutput()
				t.Fatalf("testenv: container %s exited:\n%s", c.Name, out)
			}
			return false
		}
		_, err := c.psql("postgres", "SELECT 1", true)
		return err == nil
	})
}

// psql runs SQL in the container as c.User (password through the
// environment), over TCP when tcp is set (scram), else the unix socket.
func (c *PGContainer) psql(db, sql string, tcp bool) (string, error) {
	args := []string{"exec", "-i", "-e", "PGPASSWORD", c.Name, "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", c.User, "-d", db}
	if tcp {
		args = append(args, "-h", "127.0.0.1")
	}
	cmd := c.D.Command(args...)
	cmd.Env = append(cmd.Env, "PGPASSWORD="+c.Password)
	cmd.Stdin = strings.NewReader(sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql in %s: %v: %s", c.Name, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Psql runs SQL (from stdin, so any length) in database db and returns its
// unaligned, tuples-only output; the test fails on an error.
func (c *PGContainer) Psql(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := c.psql(db, sql, false)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return out
}

// PsqlErr is Psql returning the error instead of failing the test.
func (c *PGContainer) PsqlErr(db, sql string) (string, error) { return c.psql(db, sql, false) }

// Digests returns, for every user table of db (schema-qualified name), the
// row count and an md5 of its rows in a stable order (what TableDigests
// gives for a local cluster), plus "objects:*" entries listing the
// database's relations, functions, types and extensions: a restore that
// leaves an object the backup did not have differs.
func (c *PGContainer) Digests(t testing.TB, db string) map[string]string {
	t.Helper()
	out := c.Psql(t, db, digestSQL)
	return parseDigests(out)
}

// digestSQL prints one "name|digest" line per table and per object kind.
const digestSQL = `
CREATE TEMP TABLE _digest(name text, digest text);
DO $$
DECLARE r record; d text;
BEGIN
  FOR r IN SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema','topology')
             AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast%'
  LOOP
    EXECUTE format('SELECT count(*)::text || '':'' || coalesce(md5(string_agg(t::text, '','' ORDER BY t::text)), '''') FROM %I.%I t', r.nspname, r.relname) INTO d;
    INSERT INTO _digest VALUES (r.nspname || '.' || r.relname, d);
  END LOOP;
  INSERT INTO _digest SELECT 'sequence:' || n.nspname || '.' || c.relname, coalesce(pg_sequence_last_value(c.oid)::text, 'unset')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'S';
END $$;
INSERT INTO _digest SELECT 'objects:relations', string_agg(o, ' ' ORDER BY o) FROM (
  SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text AS o
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog','information_schema','pg_toast') AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%') x;
INSERT INTO _digest SELECT 'objects:functions', string_agg(o, ' ' ORDER BY o) FROM (
  SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS o
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog','information_schema')) x;
INSERT INTO _digest SELECT 'objects:triggers', string_agg(o, ' ' ORDER BY o) FROM (
  SELECT tgrelid::regclass::text || '.' || tgname AS o FROM pg_trigger WHERE NOT tgisinternal) x;
INSERT INTO _digest SELECT 'objects:extensions', string_agg(extname || ':' || extversion, ' ' ORDER BY extname) FROM pg_extension;
SELECT name || '|' || coalesce(digest, '') FROM _digest ORDER BY name;
`

func parseDigests(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "|"); ok {
			m[k] = v
		}
	}
	return m
}

// SeedTimeTiles creates in database db of the container what SeedTimeTiles
// creates in a local cluster (PostGIS, TimeTiles-like tables, indexes, a
// trigger, a sequence, a view).
func (c *PGContainer) SeedTimeTiles(t testing.TB, db string) {
	t.Helper()
	c.Psql(t, db, seedSQL)
}

// Top returns the command lines of the container's processes as the engine
// reports them (docker top), for argv checks inside containers.
func (d *Docker) Top(name string) []string {
	out, err := d.Command("top", name, "-eo", "pid,args").Output()
	if err != nil {
		return nil
	}
	var lines []string
	for i, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if _, args, ok := strings.Cut(strings.TrimSpace(line), " "); ok && i > 0 { // line 0: header
			lines = append(lines, strings.TrimSpace(args))
		}
	}
	return lines
}

func withoutVar(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
