// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// memStream is a BackupStream that keeps the bytes in memory. onWrite, if
// set, runs after every write with the running total.
type memStream struct {
	header  sdk.Header
	started int
	buf     bytes.Buffer
	onWrite func(total int)
}

func (m *memStream) Start(h sdk.Header) (io.Writer, error) {
	m.started++
	if m.started > 1 {
		return nil, errors.New("stream already started")
	}
	m.header = h
	return memWriter{m}, nil
}

func (m *memStream) AcceptsPath() bool { return false }
func (m *memStream) SendPath(sdk.Header, string) error {
	return errors.New("memStream does not accept paths")
}

type memWriter struct{ m *memStream }

func (w memWriter) Write(p []byte) (int, error) {
	n, _ := w.m.buf.Write(p)
	if w.m.onWrite != nil {
		w.m.onWrite(w.m.buf.Len())
	}
	return n, nil
}

// ReadFrom reads in 1 MiB chunks, like the SDK's writer.
func (w memWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{w}, r, make([]byte, sdk.ChunkSize))
}

// failingReader returns data and then err instead of io.EOF: a stream cut
// short (its trailer never came, or it did not match).
func failingReader(data []byte, err error) io.Reader {
	return io.MultiReader(bytes.NewReader(data), &errReader{err})
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

var errCut = fmt.Errorf("stream cut short after the test's limit: %w", sdk.ErrAborted)

// pgTest is the shared cluster: a seeded database "seed", a copy of it
// damaged as a bad migration would ("damaged"), both as templates for the
// subtests' databases, their digests, and dumps of seed made by Backup.
type pgTest struct {
	pg          *testenv.Postgres
	seedDigests map[string]string
	damDigests  map[string]string
	custom      *memStream // Backup of seed, format custom
	plain       *memStream // Backup of seed, format plain
}

const (
	pwUser = "pwuser"
	// A password with every character a URL or a shell could mangle.
	pwPassword = "p@ss:w/rd %sécret?&#'\""
)

// newDB creates name as a copy of template ("seed" or "damaged").
func (e *pgTest) newDB(t *testing.T, name, template string) {
	t.Helper()
	e.pg.DropDB(t, name)
	e.pg.Psql(t, "postgres", fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template))
}

// direct configures direct mode against db through libpq variables.
func (e *pgTest) direct(t *testing.T, db string, extra ...string) *Source {
	t.Helper()
	vals := map[string]string{
		"PGHOST": "127.0.0.1", "PGPORT": strconv.Itoa(e.pg.Port), "PGUSER": "postgres", "PGDATABASE": db,
		"BACKUP_PG_BIN_DIR": e.pg.BinDir,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		vals[extra[i]] = extra[i+1]
	}
	return mustConfigure(t, vals)
}

func backup(t *testing.T, s *Source) (*memStream, error) {
	t.Helper()
	m := &memStream{}
	err := s.Backup(context.Background(), sdk.BackupRequest{Component: "db"}, m)
	return m, err
}

func mustBackup(t *testing.T, s *Source) *memStream {
	t.Helper()
	m, err := backup(t, s)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if m.buf.Len() < 100<<10 {
		t.Fatalf("dump is only %d bytes", m.buf.Len())
	}
	return m
}

func restore(s *Source, r io.Reader, toDB string) error {
	return s.Restore(context.Background(), sdk.RestoreRequest{Component: "db", ToDatabase: toDB}, r)
}

// damageSQL changes data, schema and a sequence, as a bad migration would.
const damageSQL = `
DELETE FROM events WHERE id % 3 = 0;
UPDATE catalogs SET name = name || ' (renamed)';
DROP TABLE media;
ALTER TABLE datasets DROP COLUMN is_public;
SELECT setval('import_job_seq', 7);`

func assertDigests(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Fatalf("%s: table digests differ\n got: %v\nwant: %v", what, got, want)
	}
}

func (e *pgTest) assertSeed(t *testing.T, db string) {
	t.Helper()
	assertDigests(t, db+" (should equal the backed-up seed)", testenv.TableDigests(t, e.pg, db), e.seedDigests)
}

func (e *pgTest) assertDamaged(t *testing.T, db string) {
	t.Helper()
	assertDigests(t, db+" (should be unchanged)", testenv.TableDigests(t, e.pg, db), e.damDigests)
}

func TestPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pg.CreateDB(t, "seed")
	testenv.SeedTimeTiles(t, pg, "seed")
	// pwuser must send its password: scram over TCP, whatever else trusts.
	hba := filepath.Join(pg.Dir, "data", "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hba, append([]byte("host all "+pwUser+" 127.0.0.1/32 scram-sha-256\n"), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	pg.Psql(t, "postgres", fmt.Sprintf("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'; SELECT pg_reload_conf();",
		pwUser, strings.ReplaceAll(pwPassword, "'", "''")))
	e := &pgTest{pg: pg}
	e.seedDigests = testenv.TableDigests(t, pg, "seed")
	e.newDB(t, "damaged", "seed")
	pg.Psql(t, "damaged", damageSQL)
	e.damDigests = testenv.TableDigests(t, pg, "damaged")
	if maps.Equal(e.seedDigests, e.damDigests) {
		t.Fatal("damage changed nothing")
	}
	e.custom = mustBackup(t, e.direct(t, "seed"))
	e.plain = mustBackup(t, e.direct(t, "seed", "BACKUP_PG_FORMAT", "plain"))

	t.Run("CustomRoundTrip", e.testCustomRoundTrip)
	t.Run("PlainRoundTrip", e.testPlainRoundTrip)
	t.Run("LegacyShellToolSnapshot", e.testLegacySnapshot)
	t.Run("ToDatabase", e.testToDatabase)
	t.Run("DumpFailure", e.testDumpFailure)
	t.Run("CancelMidStream", e.testCancelMidStream)
	t.Run("PgDumpKilled", e.testPgDumpKilled)
	t.Run("TruncatedCustom", e.testTruncatedCustom)
	t.Run("TruncatedPlain", e.testTruncatedPlain)
	t.Run("SQLErrorMidStream", e.testSQLErrorMidStream)
	t.Run("CancelDuringRestore", e.testCancelDuringRestore)
	t.Run("EmptyStream", e.testEmptyStream)
	t.Run("ExactStateSwap", e.testExactStateSwap)
	t.Run("FailedSwapLeavesOld", e.testFailedSwapLeavesOld)
	t.Run("ExactStateOneTransaction", e.testExactStateOneTransaction)
	t.Run("ContainerMode", e.testContainerMode)
	t.Run("ContainerClientKilled", e.testContainerClientKilled)
	t.Run("ContainerMissing", e.testContainerMissing)
	t.Run("URLPasswordNeverInArgv", e.testURLPassword)
	t.Run("URLWrongPassword", e.testURLWrongPassword)
	t.Run("URLSocketHost", e.testURLSocketHost)
}

// testCustomRoundTrip: seed → Backup (custom) → damaged → Restore → seed.
func (e *pgTest) testCustomRoundTrip(t *testing.T) {
	h := e.custom.header
	if h.Component != "db" || h.FileName != "timetiles.pgdump" || h.MediaType != "application/x-postgresql-custom" {
		t.Errorf("header = %+v", h)
	}
	if h.Metadata["format"] != "custom" || h.Metadata["database"] != "seed" ||
		!strings.HasPrefix(h.Metadata["pg_dump_version"], "pg_dump (PostgreSQL) 15.") {
		t.Errorf("metadata = %v", h.Metadata)
	}
	data := e.custom.buf.Bytes()
	if !bytes.HasPrefix(data, []byte("PGDMP")) {
		t.Fatalf("not a custom archive: %q", data[:16])
	}
	// -Z0: table data is stored as is (so restic can deduplicate it).
	if !bytes.Contains(data, []byte("Ñandú sighting")) {
		t.Errorf("custom archive is compressed: row text not found")
	}

	e.newDB(t, "rt_custom", "damaged")
	s := e.direct(t, "rt_custom")
	if err := restore(s, bytes.NewReader(data), ""); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	e.assertSeed(t, "rt_custom")
	// Views, indexes and triggers come back too.
	if got := e.pg.Psql(t, "rt_custom", `SELECT count(*) FROM pg_indexes WHERE tablename = 'events';
SELECT events FROM dataset_event_counts WHERE slug = 'dataset-001';
SELECT count(*) FROM pg_trigger WHERE tgname = 'datasets_updated_at';`); got != "4\n100\n1" {
		t.Errorf("indexes/view/trigger: %q", got)
	}
}

func (e *pgTest) testPlainRoundTrip(t *testing.T) {
	m := e.plain
	if m.header.FileName != "database.sql" || m.header.MediaType != "application/sql" || m.header.Metadata["format"] != "plain" {
		t.Errorf("header = %+v", m.header)
	}
	data := m.buf.Bytes()
	if !bytes.HasPrefix(data, []byte("--\n-- PostgreSQL database dump")) || !bytes.Contains(data, []byte("DROP TABLE IF EXISTS public.events;")) {
		t.Fatalf("not a plain --clean --if-exists dump: %q", data[:min(len(data), 200)])
	}
	e.newDB(t, "rt_plain", "damaged")
	s := e.direct(t, "rt_plain", "BACKUP_PG_FORMAT", "plain")
	if err := restore(s, bytes.NewReader(data), ""); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	e.assertSeed(t, "rt_plain")
}

// testLegacySnapshot restores what TimeTiles' shell tool stored: database.sql
// from `pg_dump --clean --if-exists`, made here by the real pg_dump.
func (e *pgTest) testLegacySnapshot(t *testing.T) {
	file := filepath.Join(t.TempDir(), "database.sql")
	cmd := exec.Command(filepath.Join(e.pg.BinDir, "pg_dump"), "-h", "127.0.0.1", "-p", strconv.Itoa(e.pg.Port),
		"-U", "postgres", "--clean", "--if-exists", "-f", file, "seed")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	e.newDB(t, "legacy", "damaged")
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := e.direct(t, "legacy") // the configured format does not matter for restore
	err = s.Restore(context.Background(), sdk.RestoreRequest{Component: "db",
		Header: sdk.Header{Component: "db", FileName: "database.sql"}}, f)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	e.assertSeed(t, "legacy")
}

func (e *pgTest) testToDatabase(t *testing.T) {
	// (Plain SQL into a new database: ContainerMode/plain.)
	t.Run("custom", func(t *testing.T) {
		const src, dst = "todb_src", "todb_copy"
		e.newDB(t, src, "damaged")
		e.pg.DropDB(t, dst)
		s := e.direct(t, src)
		// dst does not exist: Restore creates it.
		if err := restore(s, bytes.NewReader(e.custom.buf.Bytes()), dst); err != nil {
			t.Fatalf("Restore into %s: %v", dst, err)
		}
		e.assertSeed(t, dst)
		e.assertDamaged(t, src)
	})
	t.Run("FailedRestoreDropsCreatedDatabase", func(t *testing.T) {
		e.pg.DropDB(t, "todb_fail")
		s := e.direct(t, "seed")
		data := e.custom.buf.Bytes()
		err := restore(s, failingReader(data[:len(data)/2], errCut), "todb_fail")
		if !errors.Is(err, errCut) {
			t.Fatalf("Restore = %v, want the stream's error", err)
		}
		if got := e.pg.Psql(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'todb_fail'"); got != "0" {
			t.Errorf("the database created for the failed restore is still there")
		}
	})
}

func (e *pgTest) testDumpFailure(t *testing.T) {
	s := e.direct(t, "does_not_exist")
	m, err := backup(t, s)
	if err == nil {
		t.Fatalf("Backup of a missing database succeeded (%d bytes)", m.buf.Len())
	}
	for _, want := range []string{"pg_dump failed", `database "does_not_exist" does not exist`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	// Server down: the error says so and is classified as unavailable.
	s = mustConfigure(t, map[string]string{"PGHOST": "127.0.0.1", "PGPORT": "1", "PGUSER": "postgres", "BACKUP_PG_BIN_DIR": e.pg.BinDir})
	_, err = backup(t, s)
	if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "Connection refused") {
		t.Errorf("Backup against a closed port = %v, want ErrUnavailable with pg_dump's message", err)
	}
}

func (e *pgTest) testCancelMidStream(t *testing.T) {
	s := e.direct(t, "seed")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &memStream{onWrite: func(int) { cancel() }}
	start := time.Now()
	err := s.Backup(ctx, sdk.BackupRequest{Component: "db"}, m)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Backup = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Backup took %s to notice the cancellation", d)
	}
	testenv.WaitNoLeftoverProcesses(t, 5*time.Second, "pg_dump")
}

func (e *pgTest) testPgDumpKilled(t *testing.T) {
	s := e.direct(t, "seed")
	var killed []int
	m := &memStream{}
	m.onWrite = func(int) {
		if killed != nil {
			return
		}
		killed = []int{}
		for _, pid := range testenv.ChildProcesses(os.Getpid()) {
			if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.HasSuffix(strings.SplitN(string(cmdline), "\x00", 2)[0], "/pg_dump") {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed = append(killed, pid)
				}
			}
		}
	}
	err := s.Backup(context.Background(), sdk.BackupRequest{Component: "db"}, m)
	if len(killed) != 1 {
		t.Fatalf("killed pg_dump processes: %v", killed)
	}
	if err == nil || !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("Backup after pg_dump was killed = %v, want an error naming the signal", err)
	}
	testenv.WaitNoLeftoverProcesses(t, 5*time.Second, "pg_dump")
}

// truncated restores data cut at each offset (the reader then fails instead
// of returning io.EOF) into a damaged database, which must not change.
func (e *pgTest) truncated(t *testing.T, db string, s *Source, data []byte, cuts map[string]int) {
	t.Helper()
	e.newDB(t, db, "damaged")
	for name, cut := range cuts {
		err := restore(s, failingReader(data[:cut], errCut), "")
		if !errors.Is(err, errCut) || !errors.Is(err, sdk.ErrAborted) {
			t.Errorf("%s (cut at %d of %d): Restore = %v, want the stream's error", name, cut, len(data), err)
		}
	}
	// Nothing committed: any partial restore would show here.
	e.assertDamaged(t, db)
	testenv.WaitNoLeftoverProcesses(t, 5*time.Second, "psql", "pg_restore")
}

func (e *pgTest) testTruncatedCustom(t *testing.T) {
	data := e.custom.buf.Bytes()
	e.truncated(t, "trunc_custom", e.direct(t, "trunc_custom"), data, map[string]int{
		"half":       len(data) / 2,
		"last bytes": len(data) - 10,
	})
}

func (e *pgTest) testTruncatedPlain(t *testing.T) {
	data := e.plain.buf.Bytes()
	// Cuts at statement boundaries are the dangerous ones: psql's
	// --single-transaction would commit the DROPs (or the half-loaded
	// tables) at end of input.
	endCopy := bytes.Index(data, []byte("\n\\.\n")) + 4
	e.truncated(t, "trunc_plain", e.direct(t, "trunc_plain"), data, map[string]int{
		"half":                  len(data) / 2,
		"after the DROPs":       bytes.Index(data, []byte("CREATE EXTENSION")),
		"after the first COPY":  endCopy,
		"before the final line": bytes.LastIndex(data[:len(data)-1], []byte("\n")) + 1,
	})
}

func (e *pgTest) testSQLErrorMidStream(t *testing.T) {
	data := e.plain.buf.Bytes()
	e.newDB(t, "sql_error", "damaged")
	s := e.direct(t, "sql_error")
	at := bytes.Index(data, []byte("\n\\.\n")) + 4
	bad := append(append(append([]byte{}, data[:at]...), "SELECT 1/0 AS broken_in_the_middle;\n"...), data[at:]...)
	err := restore(s, bytes.NewReader(bad), "")
	if err == nil || !strings.Contains(err.Error(), "division by zero") || !strings.Contains(err.Error(), "psql failed") {
		t.Fatalf("Restore of SQL with an error = %v, want psql's error", err)
	}
	// A stream that is not a dump at all.
	err = restore(s, strings.NewReader("this is not SQL\n"), "")
	if err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Fatalf("Restore of garbage = %v", err)
	}
	// Complete streams after which psql exits 0 without running the
	// plugin's COMMIT: one that ends inside a COPY block (the COMMIT line
	// becomes a row), one that quits psql. Neither may count as restored.
	for name, sql := range map[string]string{
		"ends inside COPY": "CREATE TABLE one_col (t text);\nCOPY one_col FROM stdin;\nrow one\n",
		"quits psql":       "CREATE TABLE one_col (t text);\n\\q\n",
	} {
		err = restore(s, strings.NewReader(sql), "")
		if !errors.Is(err, sdk.ErrAborted) || !strings.Contains(err.Error(), "did not commit") {
			t.Errorf("Restore of a stream that %s = %v, want an error saying psql did not commit", name, err)
		}
	}
	e.assertDamaged(t, "sql_error")
}

// blockingReader returns data and then blocks until release is closed, as a
// stream whose producer stalled.
type blockingReader struct {
	r       io.Reader
	release chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		<-b.release
		return 0, errCut
	}
	return n, err
}

func (e *pgTest) testCancelDuringRestore(t *testing.T) {
	const db = "cancel_restore"
	e.newDB(t, db, "damaged")
	s := e.direct(t, db)
	for _, m := range []*memStream{e.custom, e.plain} {
		data := m.buf.Bytes()
		br := &blockingReader{r: bytes.NewReader(data[:len(data)*3/4]), release: make(chan struct{})}
		defer close(br.release)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := s.Restore(ctx, sdk.RestoreRequest{Component: "db"}, br)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: Restore = %v, want the context's error", m.header.Metadata["format"], err)
		}
		// The stream never ends: without the cancellation Restore would
		// never return. The bound only says "promptly", generously for a
		// loaded machine.
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("Restore took %s after the cancellation", d)
		}
		testenv.WaitNoLeftoverProcesses(t, 30*time.Second, "psql", "pg_restore")
	}
	e.assertDamaged(t, db)
}

func (e *pgTest) testEmptyStream(t *testing.T) {
	s := e.direct(t, "seed")
	if err := restore(s, strings.NewReader(""), ""); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("Restore of an empty stream = %v", err)
	}
	if err := s.Backup(context.Background(), sdk.BackupRequest{Component: "uploads"}, &memStream{}); !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("Backup of component uploads = %v", err)
	}
}

// fakeDocker writes a `docker` that records its argv and PGPASSWORD (one
// "argv: …" and one "env: …" line per call) and emulates `docker exec -i
// [-e NAME[=VALUE]]… CONTAINER cmd args…` by running cmd locally with only
// the variables docker would pass into the container (the -e ones) plus the
// container's own PATH and connection settings. Any other container is
// "No such container".
//
// With relay, the command runs the way a container process does when the
// docker client is killed: it is not the client's child that dies with it,
// and its stdin comes through a relay (cat, standing in for the daemon)
// that ends — so the command reads end of file — once the client's stdin
// closes. Its output goes to LOG.inner (the daemon's side).
func (e *pgTest) fakeDocker(t *testing.T, container string, relay bool) (docker, log string) {
	t.Helper()
	dir := t.TempDir()
	docker, log = filepath.Join(dir, "docker"), filepath.Join(dir, "docker.log")
	script := `#!/bin/bash
log=` + log + `
{ printf 'argv:'; printf ' %s' "$@"; printf '\n'; printf 'env: PGPASSWORD=%s\n' "${PGPASSWORD-<unset>}"; } >> "$log"
if [ "$1" != exec ]; then echo "fake docker: only exec is emulated" >&2; exit 125; fi
shift
keep=" "
while :; do
  case "$1" in
    -i) shift ;;
    -e) if [[ $2 == *=* ]]; then export "$2"; fi; keep="$keep${2%%=*} "; shift 2 ;;
    -*) echo "fake docker: unexpected option $1" >&2; exit 125 ;;
    *) break ;;
  esac
done
if [ "$1" != "` + container + `" ]; then echo "Error response from daemon: No such container: $1" >&2; exit 1; fi
shift
for v in $(compgen -e); do
  case "$keep" in *" $v "*) ;; *) unset "$v" 2>/dev/null ;; esac
done
export PATH=` + e.pg.BinDir + `:/usr/bin:/bin PGHOST=127.0.0.1 PGPORT=` + strconv.Itoa(e.pg.Port) + `
`
	if relay {
		script += `cat 2>/dev/null | "$@" >>"$log.inner" 2>&1` + "\n"
	} else {
		script += `exec "$@"` + "\n"
	}
	if err := os.WriteFile(docker, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return docker, log
}

// watchCmdlines samples every process's argv until stop is called and
// reports any that holds secret.
func watchCmdlines(t *testing.T, secrets ...string) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	var found []string
	samples := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, c := range testenv.Cmdlines() {
				for _, sec := range secrets {
					if strings.Contains(c, sec) {
						found = append(found, c)
					}
				}
			}
			samples++
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		if len(found) > 0 {
			t.Errorf("a password was in a process's argv:\n%s", strings.Join(found, "\n"))
		}
		if samples < 3 {
			t.Errorf("only %d samples of the process table", samples)
		}
	}
}

// testContainerMode runs TimeTiles' production setup through the fake
// docker: custom format backed up and restored in place, plain format backed
// up and restored into a new database.
func (e *pgTest) testContainerMode(t *testing.T) {
	const db = "ctr_db"
	e.newDB(t, db, "seed")
	docker, log := e.fakeDocker(t, "ttproj-postgres", false)
	for _, format := range []string{"custom", "plain"} {
		t.Run(format, func(t *testing.T) {
			os.Remove(log)
			// TimeTiles' env file: no direct setting, so the default
			// container ${COMPOSE_PROJECT_NAME}-postgres is used.
			s := mustConfigure(t, map[string]string{
				"COMPOSE_PROJECT_NAME": "ttproj", "DB_NAME": db, "DB_USER": pwUser, "DB_PASSWORD": pwPassword,
				"BACKUP_DOCKER": docker, "BACKUP_PG_FORMAT": format,
			})
			stop := watchCmdlines(t, pwPassword, url.QueryEscape(pwPassword))
			m := mustBackup(t, s)
			into := "ctr_copy"
			if format == "custom" {
				into = db
				e.newDB(t, db, "damaged")
			} else {
				e.pg.DropDB(t, into)
			}
			to := into
			if into == db {
				to = "" // in place: --to-database never names the production database (guard.go)
			}
			if err := restore(s, bytes.NewReader(m.buf.Bytes()), to); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			stop()
			e.assertSeed(t, into)

			raw, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			var argvs []string
			for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				if a, ok := strings.CutPrefix(line, "argv: "); ok {
					argvs = append(argvs, a)
					if strings.Contains(a, pwPassword) {
						t.Errorf("password in docker's argv: %s", a)
					}
				} else if line != "env: PGPASSWORD="+pwPassword {
					t.Errorf("docker was run without the password in its environment: %q", line)
				}
			}
			prefix := "exec -i -e PGPASSWORD ttproj-postgres "
			wantArgv := []string{
				prefix + "pg_dump --version",
				prefix + "pg_dump -U pwuser -d ctr_db " + strings.Join(dumpArgs(format), " "),
				prefix + "psql -U pwuser -d postgres -X -At -v ON_ERROR_STOP=1", // leftovers of restores
			}
			maint := prefix + "psql -U pwuser -d postgres -X -At -v ON_ERROR_STOP=1 -v "
			if format == "custom" {
				// In place: a staging database, swapped in by renaming.
				wantArgv = append(wantArgv,
					maint+"db=ctr_db",
					maint+"db=ctr_db",
					prefix+"psql -U pwuser -d postgres -X -At -v ON_ERROR_STOP=1",
					maint+"db=ctr_db -v staging=ctr_db_restore_STAMP",
					prefix+"pg_restore -U pwuser -d ctr_db_restore_STAMP -Fc --single-transaction --exit-on-error",
					maint+"db=ctr_db -v staging=ctr_db_restore_STAMP -v undo=ctr_db_before_restore_STAMP")
			} else {
				wantArgv = append(wantArgv,
					maint+"db=ctr_db_before_restore_STAMP", // the next backup drops the undo database
					maint+"db=ctr_copy",                    // does it exist (guard.go)
					maint+"db=ctr_copy",                    // create it
					prefix+"psql -U pwuser -d ctr_copy -X -v ON_ERROR_STOP=1")
			}
			for i := range argvs {
				argvs[i] = regexp.MustCompile(`_restore_[0-9]{14}`).ReplaceAllString(argvs[i], "_restore_STAMP")
			}
			if strings.Join(argvs, "\n") != strings.Join(wantArgv, "\n") {
				t.Errorf("docker argv:\n%s\nwant:\n%s", strings.Join(argvs, "\n"), strings.Join(wantArgv, "\n"))
			}
		})
	}
}

// testContainerClientKilled: when the stream fails in container mode the
// plugin kills the docker client, and the tool inside the container then
// reads end of file — it is not killed. A truncated stream must still not
// commit: psql's --single-transaction would commit the complete-looking SQL
// here; the plugin's own BEGIN/COMMIT framing does not.
func (e *pgTest) testContainerClientKilled(t *testing.T) {
	const db = "ctr_killed"
	e.newDB(t, db, "damaged")
	docker, log := e.fakeDocker(t, "timetiles-postgres", true)
	s := mustConfigure(t, map[string]string{"DB_NAME": db, "DB_USER": "postgres", "BACKUP_DOCKER": docker})
	for _, m := range []*memStream{e.plain, e.custom} {
		data := m.buf.Bytes()
		cut := len(data) - 1 // the plain dump's SQL is complete but for its last newline
		if m == e.custom {
			cut = len(data) / 2
		}
		err := restore(s, failingReader(data[:cut], errCut), "")
		if !errors.Is(err, errCut) {
			t.Errorf("%s: Restore = %v, want the stream's error", m.header.Metadata["format"], err)
		}
		// The tool in the "container" finishes on its own after its EOF.
		testenv.WaitNoLeftoverProcesses(t, 20*time.Second, "psql", "pg_restore")
	}
	inner, _ := os.ReadFile(log + ".inner")
	if !bytes.Contains(inner, []byte("pg_restore: error")) {
		t.Errorf("pg_restore in the container did not see the truncated archive:\n%s", inner)
	}
	e.assertDamaged(t, db)
}

func (e *pgTest) testContainerMissing(t *testing.T) {
	docker, _ := e.fakeDocker(t, "timetiles-postgres", false)
	s := mustConfigure(t, map[string]string{"BACKUP_DB_CONTAINER": "wrong-postgres", "BACKUP_DOCKER": docker, "DB_PASSWORD": "hunter2"})
	_, err := backup(t, s)
	if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "No such container: wrong-postgres") ||
		!strings.Contains(err.Error(), "BACKUP_DB_CONTAINER") {
		t.Fatalf("Backup with a missing container = %v", err)
	}
	s = mustConfigure(t, map[string]string{"BACKUP_DOCKER": "/nonexistent/docker"})
	if _, err := backup(t, s); err == nil || !strings.Contains(err.Error(), "BACKUP_DOCKER") {
		t.Fatalf("Backup without docker = %v", err)
	}
}

// wrapperBinDir is a BACKUP_PG_BIN_DIR whose tools record their argv and
// PGPASSWORD and then run the real ones.
func (e *pgTest) wrapperBinDir(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	for _, tool := range []string{"pg_dump", "pg_restore", "psql"} {
		script := `#!/bin/sh
{ printf 'argv: %s' "$(basename "$0")"; printf ' %s' "$@"; printf '\n'; printf 'env: PGPASSWORD=%s\n' "${PGPASSWORD-<unset>}"; } >> ` + log + `
exec ` + filepath.Join(e.pg.BinDir, tool) + ` "$@"
`
		if err := os.WriteFile(filepath.Join(dir, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

func (e *pgTest) testURLPassword(t *testing.T) {
	e.pg.DropDB(t, "url_copy")
	bin, log := e.wrapperBinDir(t)
	dsn := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/seed?sslmode=disable", pwUser, escape(pwPassword), e.pg.Port)
	s := mustConfigure(t, map[string]string{"BACKUP_DATABASE_URL": dsn, "BACKUP_PG_BIN_DIR": bin})

	stop := watchCmdlines(t, pwPassword, escape(pwPassword), url.QueryEscape(pwPassword))
	m := mustBackup(t, s)
	if err := restore(s, bytes.NewReader(m.buf.Bytes()), "url_copy"); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	stop()
	e.assertSeed(t, "url_copy")

	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("postgres://pwuser@127.0.0.1:%d/", e.pg.Port)
	wantLog := strings.Join([]string{
		"argv: pg_dump --version",
		"argv: pg_dump -d " + base + "seed?sslmode=disable -Fc -Z0",
		"argv: psql -d " + base + "postgres?sslmode=disable -X -At -v ON_ERROR_STOP=1",
		"argv: psql -d " + base + "postgres?sslmode=disable -X -At -v ON_ERROR_STOP=1 -v db=url_copy", // does it exist (guard.go)
		"argv: psql -d " + base + "postgres?sslmode=disable -X -At -v ON_ERROR_STOP=1 -v db=url_copy", // create it
		"argv: pg_restore -d " + base + "url_copy?sslmode=disable -Fc --single-transaction --exit-on-error",
	}, "\nenv: PGPASSWORD="+pwPassword+"\n") + "\nenv: PGPASSWORD=" + pwPassword
	if got := strings.TrimSpace(string(raw)); got != wantLog {
		t.Errorf("tool calls:\n%s\nwant:\n%s", got, wantLog)
	}
}

func (e *pgTest) testURLWrongPassword(t *testing.T) {
	const wrong = "Wr0ng-Pa55word"
	dsn := fmt.Sprintf("postgresql://%s:%s@127.0.0.1:%d/seed", pwUser, wrong, e.pg.Port)
	s := mustConfigure(t, map[string]string{"BACKUP_DATABASE_URL": dsn, "BACKUP_PG_BIN_DIR": e.pg.BinDir})
	_, err := backup(t, s)
	if !errors.Is(err, sdk.ErrUnauthenticated) || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("Backup with a wrong password = %v", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatalf("error leaks the password: %v", err)
	}
	err = restore(s, strings.NewReader("SELECT 1;\n"), "")
	if !errors.Is(err, sdk.ErrUnauthenticated) || strings.Contains(err.Error(), wrong) {
		t.Fatalf("Restore with a wrong password = %v", err)
	}
}

// testURLSocketHost uses libpq's percent-encoded socket directory as the
// host, which net/url cannot parse.
func (e *pgTest) testURLSocketHost(t *testing.T) {
	dsn := fmt.Sprintf("postgres://postgres@%s:%d/seed", strings.ReplaceAll(e.pg.SocketDir, "/", "%2F"), e.pg.Port)
	s := mustConfigure(t, map[string]string{"BACKUP_DATABASE_URL": dsn, "BACKUP_PG_BIN_DIR": e.pg.BinDir})
	m := mustBackup(t, s)
	if m.header.Metadata["database"] != "seed" {
		t.Fatalf("metadata = %v", m.header.Metadata)
	}
}
