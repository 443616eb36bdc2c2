// SPDX-License-Identifier: Apache-2.0

// Package dockere2e runs timetiles-backup against TimeTiles' production
// shape on a real Docker engine (testenv.RequireDocker): a Compose project
// with the PostGIS container named <project>-postgres, an app holding
// database connections, uploads in a bind-mounted directory or a named
// volume, settings in a .env.production that bash can source, and the real
// CLI and plugins built by testenv.
package dockere2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// The database password has what breaks naive quoting: a quote, a dollar,
// a hash, spaces. In .env.production it is written the way a TimeTiles
// operator writes it for bash (double quotes, \$); bash, godotenv (the
// CLI) and compose's --env-file all read the same value from that line.
const (
	dbPassword     = `Sc'ram $ecret #1 p@ss`
	dbPasswordLine = `DB_PASSWORD="Sc'ram \$ecret #1 p@ss"`
	dbName         = "timetiles"
	dbUser         = "timetiles_user"
)

var projectSeq atomic.Int32

// site is one TimeTiles installation: dir plays /opt/timetiles.
type site struct {
	t       testing.TB
	d       *testenv.Docker
	bin     string // the CLI and plugins
	dir     string // TIMETILES_DIR: .env.production, docker-compose.prod.yml, uploads/
	home    string
	project string
	pg      *testenv.PGContainer // the compose-started postgres, for the test's own SQL
	envFile string
}

type siteOptions struct {
	volume bool // uploads in the named volume (BACKUP_UPLOADS_VOLUME), not ./uploads
}

// composeFile is the site's docker-compose.prod.yml: TimeTiles' services as
// far as backups see them. web and worker each hold a database connection
// with an open transaction that has read events (so a restore that did not
// stop them would wait on their locks), and reconnect when it drops.
const composeFile = `services:
  postgres:
    image: ` + testenv.PostGISImage + `
    container_name: ${COMPOSE_PROJECT_NAME:-timetiles}-postgres
    environment:
      POSTGRES_USER: ${DB_USER}
      POSTGRES_PASSWORD: ${DB_PASSWORD}
      POSTGRES_DB: ${DB_NAME}
    volumes:
      - postgres_data:/var/lib/postgresql/data
    ports: ["127.0.0.1::5432"] # direct mode and the benchmark (loopback only)
    labels: [OWNER]
  web: &app
    image: ` + testenv.PostGISImage + `
    entrypoint: ["/bin/bash", "-c", "trap 'exit 0' TERM INT; while :; do { echo 'BEGIN; SELECT count(*) FROM events;'; sleep infinity; } | psql -X -q >/dev/null 2>&1 & wait $$!; sleep 0.2 & wait $$!; done"]
    environment:
      PGHOST: postgres
      PGUSER: ${DB_USER}
      PGPASSWORD: ${DB_PASSWORD}
      PGDATABASE: ${DB_NAME}
      PGAPPNAME: timetiles-web
    volumes:
      - ${UPLOAD_HOST_DIR:-./uploads}:/app/apps/web/uploads
      - uploads_data:/app/uploads-volume
    depends_on: [postgres]
    labels: [OWNER]
  worker:
    <<: *app
    environment:
      PGHOST: postgres
      PGUSER: ${DB_USER}
      PGPASSWORD: ${DB_PASSWORD}
      PGDATABASE: ${DB_NAME}
      PGAPPNAME: timetiles-worker
networks:
  default:
    labels: [OWNER]
volumes:
  postgres_data:
    labels: [OWNER]
  uploads_data:
    labels: [OWNER]
`

// docHooks returns the BACKUP_PRE/POST_RESTORE_COMMAND lines of the
// operator guide's configuration block, literally: the suite runs the
// documented recipe.
func docHooks(t testing.TB) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "operator-guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(l, "BACKUP_PRE_RESTORE_COMMAND=") || strings.HasPrefix(l, "BACKUP_POST_RESTORE_COMMAND=") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || !strings.Contains(lines[0], "docker compose -f docker-compose.prod.yml --env-file .env.production stop web worker") {
		t.Fatalf("docs/operator-guide.md: the restore hooks are not the compose recipe: %q", lines)
	}
	return lines
}

// newSite writes the site's files, starts postgres with compose, seeds
// TimeTiles-like data, and starts web and worker once their table exists.
func newSite(t testing.TB, o siteOptions) *site {
	t.Helper()
	d := testenv.RequireDocker(t)
	s := &site{t: t, d: d, bin: testenv.BuildBinaries(t)}
	s.project = fmt.Sprintf("ttb%d-%d", os.Getpid(), projectSeq.Add(1))
	base, err := os.MkdirTemp("", "ttb-site-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	s.dir, s.home = filepath.Join(base, "timetiles"), filepath.Join(base, "home")
	for _, p := range []string{s.dir, s.home, filepath.Join(s.dir, "uploads")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.envFile = filepath.Join(s.dir, ".env.production")
	compose := strings.ReplaceAll(composeFile, "OWNER", strconv.Quote(testenv.OwnerLabel()))
	if err := os.WriteFile(filepath.Join(s.dir, "docker-compose.prod.yml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	// A TimeTiles-style env file: comments, quoted values with spaces, $, #
	// and ', one value bash would mangle unquoted. Written once: init adds
	// RESTIC_PASSWORD to it.
	env := []string{
		"# TimeTiles production settings (deploy scripts: source .env.production)",
		"COMPOSE_PROJECT_NAME=" + s.project,
		`DB_NAME="` + dbName + `"`,
		"DB_USER='" + dbUser + "'",
		dbPasswordLine,
		`SITE_TITLE="Time Tiles # O'Reilly's \$5 maps"   # trailing comment`,
		"UPLOAD_HOST_DIR=./uploads",
		"TIMETILES_DIR=" + s.dir,
		"",
		"# timetiles-backup",
		`RESTIC_PASSWORD=""`,
		"RESTIC_REPOSITORY=" + filepath.Join(s.dir, "backups", "restic-repo"),
		"BACKUP_RESTIC_BIN=" + testenv.Tool(t, "restic"),
		"BACKUP_ALERT_LOG=" + filepath.Join(s.dir, "alerts.log"),
		"BACKUP_STATE_DIR=" + filepath.Join(s.dir, "state"),
		"BACKUP_HOSTNAME=timetiles-prod",
	}
	if o.volume { // the one or the other (source-volume refuses both)
		for i, l := range env {
			if strings.HasPrefix(l, "UPLOAD_HOST_DIR=") {
				env[i] = "BACKUP_UPLOADS_VOLUME=" + s.volumeName()
			}
		}
	}
	env = append(env, docHooks(t)...)
	if err := os.WriteFile(s.envFile, []byte(strings.Join(env, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := s.compose("logs", "--tail", "20").CombinedOutput()
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := s.compose("down", "-v", "-t", "1").CombinedOutput(); err != nil {
			t.Logf("compose down: %v\n%s", err, out)
		}
	})
	s.up()
	if !o.volume {
		testenv.MakeUploadsTree(t, filepath.Join(s.dir, "uploads"))
	}
	s.pg.SeedTimeTiles(t, dbName)
	s.composeRun("up", "-d", "web", "worker") // creates the uploads_data volume
	if o.volume {
		testenv.MakeUploadsTree(t, s.uploads())
	}
	s.waitApp()
	return s
}

// up starts the postgres service (a fresh volume is initialised from the
// env file) and waits until it accepts the password over TCP.
func (s *site) up() {
	s.t.Helper()
	s.composeRun("up", "-d", "postgres")
	s.pg = &testenv.PGContainer{D: s.d, Name: s.project + "-postgres", User: dbUser, Password: dbPassword, Database: dbName}
	s.pg.WaitReady(s.t)
}

func (s *site) volumeName() string { return s.project + "_uploads_data" }

// uploads is the directory holding the uploads (the named volume's
// mountpoint in volume mode).
func (s *site) uploads() string {
	s.t.Helper()
	if !strings.Contains(s.readEnv(), "BACKUP_UPLOADS_VOLUME=") {
		return filepath.Join(s.dir, "uploads")
	}
	out := strings.TrimSpace(s.d.Run(s.t, "volume", "inspect", "-f", "{{.Mountpoint}}", s.volumeName()))
	return out
}

// compose is `docker compose -f docker-compose.prod.yml --env-file
// .env.production ARGS` in the site's directory: TimeTiles' deploy scripts.
func (s *site) compose(args ...string) *exec.Cmd {
	cmd := s.d.Command(append([]string{"compose", "-f", "docker-compose.prod.yml", "--env-file", ".env.production"}, args...)...)
	cmd.Dir = s.dir
	return cmd
}

func (s *site) composeRun(args ...string) {
	s.t.Helper()
	if out, err := s.compose(args...).CombinedOutput(); err != nil {
		s.t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// appConnections counts web's and worker's sessions on the database.
func (s *site) appConnections() int {
	out, err := s.pg.PsqlErr("postgres", "SELECT count(DISTINCT application_name) FROM pg_stat_activity WHERE application_name IN ('timetiles-web', 'timetiles-worker')")
	if err != nil {
		return -1
	}
	n, _ := strconv.Atoi(out)
	return n
}

func (s *site) waitApp() {
	s.t.Helper()
	testenv.WaitFor(s.t, "web and worker to connect to the database", func() bool { return s.appConnections() == 2 })
}

// startedAt is when compose last started the service's container.
func (s *site) startedAt(service string) string {
	s.t.Helper()
	return strings.TrimSpace(s.d.Run(s.t, "inspect", "-f", "{{.State.StartedAt}}", s.project+"-"+service+"-1"))
}

func (s *site) readEnv() string {
	b, err := os.ReadFile(s.envFile)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

// setEnv replaces (or appends) NAME=VALUE in the env file, quoted for bash.
func (s *site) setEnv(name, value string) {
	s.t.Helper()
	lines := strings.Split(strings.TrimRight(s.readEnv(), "\n"), "\n")
	line := name + "='" + value + "'"
	if value == "" {
		line = "#" + name + " removed"
	}
	done := false
	for i, l := range lines {
		if strings.HasPrefix(l, name+"=") {
			lines[i], done = line, true
		}
	}
	if !done {
		lines = append(lines, line)
	}
	if err := os.WriteFile(s.envFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// sourced reads variables the way TimeTiles' deploy scripts do:
// `set -e; source .env.production` in bash.
func (s *site) sourced(names ...string) map[string]string {
	s.t.Helper()
	script := "set -euo pipefail; source ./.env.production"
	for _, n := range names {
		script += fmt.Sprintf("; printf '%%s\\0' \"${%s-}\"", n)
	}
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = s.dir
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("bash could not source .env.production under set -e: %v", err)
	}
	vals := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	m := map[string]string{}
	for i, n := range names {
		m[n] = vals[i]
	}
	return m
}

type result struct {
	code           int
	stdout, stderr string
	state          *os.ProcessState
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cli runs timetiles-backup with the site's env file; the process
// environment holds no secret. during, when set, runs while it runs.
func (s *site) cli(during func(pid int), args ...string) result {
	s.t.Helper()
	return s.cliEnv(nil, during, args...)
}

func (s *site) cliEnv(extra []string, during func(pid int), args ...string) result {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(s.bin, "timetiles-backup"), args...)
	home, _ := os.UserHomeDir()
	cmd.Env = append([]string{"PATH=" + envPath(s.d), "HOME=" + s.home, "DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
		"TIMETILES_ENV_FILE=" + s.envFile, "TIMETILES_BACKUP_PLUGIN_DIR=" + s.bin, "TMPDIR=" + os.TempDir()}, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	if during != nil {
		during(cmd.Process.Pid)
	}
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		s.t.Fatal(err)
	}
	if testing.Verbose() {
		s.t.Logf("$ timetiles-backup %s → %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	return result{code, stdout.String(), stderr.String(), cmd.ProcessState}
}

// must runs the CLI and fails the test unless it exits with want.
func (s *site) must(want int, args ...string) result {
	s.t.Helper()
	r := s.cli(nil, args...)
	if r.code != want {
		s.t.Fatalf("timetiles-backup %s: want exit %d, got %s", strings.Join(args, " "), want, r)
	}
	return r
}

func envPath(d *testenv.Docker) string {
	for _, kv := range d.Env {
		if strings.HasPrefix(kv, "PATH=") {
			return kv[len("PATH="):]
		}
	}
	return "/usr/bin:/bin"
}

// repo is the local repository seen with restic itself.
func (s *site) repo() *restic.Repo {
	v := s.sourced("RESTIC_PASSWORD", "RESTIC_REPOSITORY", "BACKUP_RESTIC_BIN")
	return &restic.Repo{Binary: v["BACKUP_RESTIC_BIN"], Repository: v["RESTIC_REPOSITORY"], Password: v["RESTIC_PASSWORD"],
		Env: []string{"RESTIC_CACHE_DIR=" + filepath.Join(s.home, "restic-cache-test")}}
}

func snapshots(t testing.TB, r *restic.Repo) []restic.Snapshot {
	t.Helper()
	list, err := r.Snapshots(context.Background(), restic.SnapshotFilter{})
	if err != nil {
		t.Fatalf("restic snapshots %s: %v", r.Repository, err)
	}
	return list
}

// listRuns is `backup list --json`'s runs.
type listedRun struct {
	RunID      string            `json:"run_id"`
	Complete   bool              `json:"complete"`
	Safety     bool              `json:"safety"`
	Components map[string]string `json:"components"`
}

func (s *site) listRuns(args ...string) []listedRun {
	s.t.Helper()
	r := s.must(0, append([]string{"backup", "list", "--json"}, args...)...)
	var runs []listedRun
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		s.t.Fatalf("backup list --json: %v\n%s", err, r.stdout)
	}
	if err := json.Unmarshal(raw, &runs); err != nil {
		var wrapped struct {
			Runs []listedRun `json:"runs"`
		}
		if err2 := json.Unmarshal(raw, &wrapped); err2 != nil {
			s.t.Fatalf("backup list --json: %v / %v\n%s", err, err2, r.stdout)
		}
		runs = wrapped.Runs
	}
	return runs
}

func (s *site) alerts() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "alerts.log"))
	return string(b)
}

// argvWatch samples every process's argv on the host (/proc, which shows
// the containers' processes too) and, through the engine, inside the
// site's containers (docker top), recording any that holds a secret.
type argvWatch struct {
	mu      sync.Mutex
	secrets []string
	leaks   map[string]bool
	samples int
	seen    map[string]bool // programs seen (argv[0] base names), proof of coverage
	stop    chan struct{}
	done    chan struct{}
}

func watchArgv(d *testenv.Docker, containers func() []string) *argvWatch {
	w := &argvWatch{leaks: map[string]bool{}, seen: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(15 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			lines := testenv.Cmdlines()
			if i%20 == 0 { // docker top costs a CLI run: every ~300 ms
				for _, c := range containers() {
					lines = append(lines, d.Top(c)...)
				}
			}
			w.check(lines)
			select {
			case <-w.stop:
				w.check(testenv.Cmdlines())
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *argvWatch) addSecret(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s != "" {
		w.secrets = append(w.secrets, s)
	}
}

func (w *argvWatch) check(lines []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 {
			w.seen[filepath.Base(f[0])] = true
		}
		for _, sec := range w.secrets {
			if strings.Contains(l, sec) {
				w.leaks[l] = true
			}
		}
	}
}

// finish stops sampling and fails the test for every argv that held a
// secret; want names programs the sampling must have seen.
func (w *argvWatch) finish(t *testing.T, want ...string) {
	t.Helper()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	for l := range w.leaks {
		t.Errorf("a secret in a process's argv: %.200s", l)
	}
	for _, p := range want {
		if !w.seen[p] {
			t.Errorf("the argv sampling (%d samples) never saw %s running: it did not cover the runs", w.samples, p)
		}
	}
}

// descendantsNamed lists pid's descendant processes whose argv[0] ends in
// name and whose argv contains arg.
func descendantsNamed(pid int, name, arg string) []int {
	var out []int
	for _, c := range testenv.ChildProcesses(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c))
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(argv) == 0 || filepath.Base(argv[0]) != name {
			continue
		}
		for _, a := range argv[1:] {
			if a == arg {
				out = append(out, c)
				break
			}
		}
	}
	return out
}
