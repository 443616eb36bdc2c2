// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Offsite end-to-end tests: the CLI against a real S3 server (versitygw with
// IAM users and bucket policies) and restic's rest-server, one test per row
// of the design's write-only table and per failure mode.

const offsiteBucket = "backups"

// synthetic makes e back up one small synthetic component ("synthetic")
// whose restores land in a file.
func (e *env) synthetic(size string) {
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = size
	e.vars["SYNTH_RESTORE_TO"] = filepath.Join(e.dir, "synthetic.restored")
}

// useS3 points the offsite repository at bucket/prefix on g with a key, the
// way an operator configures it: an s3: repository plus AWS_ENDPOINT_URL.
func (e *env) useS3(g *testenv.VersityGW, prefix, accessKey, secretKey string) {
	e.vars["RESTIC_OFFSITE_REPOSITORY"] = g.Repository(offsiteBucket, prefix)
	e.vars["AWS_ENDPOINT_URL"] = g.Endpoint
	e.vars["AWS_ACCESS_KEY_ID"] = accessKey
	e.vars["AWS_SECRET_ACCESS_KEY"] = secretKey
}

// s3Admin is the offsite repository seen with a full-access key, for the
// test's own assertions.
func (e *env) s3Admin(g *testenv.VersityGW, prefix string) *restic.Repo {
	ak, sk := g.CreateUser(e.t, offsiteBucket, prefix, testenv.S3FullAccess)
	return &restic.Repo{Binary: e.vars["BACKUP_RESTIC_BIN"], Repository: "s3:" + g.Endpoint + "/" + offsiteBucket + "/" + prefix,
		Password: e.password, Env: []string{"AWS_ACCESS_KEY_ID=" + ak, "AWS_SECRET_ACCESS_KEY=" + sk,
			"RESTIC_CACHE_DIR=" + filepath.Join(e.dir, "admin-cache")}}
}

// runsOf groups a repository's snapshots into runs (what `backup list` shows).
func runsOf(t *testing.T, repo *restic.Repo) []*runs.Run {
	t.Helper()
	list, err := repo.Snapshots(context.Background(), restic.SnapshotFilter{})
	if err != nil {
		t.Fatalf("snapshots of %s: %v", repo.Repository, err)
	}
	var snaps []sdk.Snapshot
	for _, s := range list {
		snaps = append(snaps, sdk.Snapshot{ID: s.ID, Time: s.Time, Host: s.Hostname, Tags: s.Tags, Paths: s.Paths})
	}
	return runs.GroupRuns(snaps)
}

func completeRuns(runs []*runs.Run) int {
	n := 0
	for _, r := range runs {
		if r.Complete && !r.Legacy {
			n++
		}
	}
	return n
}

// manifestOf reads a run's manifest with restic itself.
func manifestOf(t *testing.T, repo *restic.Repo, run *runs.Run) *runs.Manifest {
	t.Helper()
	if run.Manifest == nil {
		t.Fatalf("run %s has no manifest", run.ID)
	}
	var b bytes.Buffer
	if err := repo.Dump(context.Background(), run.Manifest.ID, "/manifest.json", &b); err != nil {
		t.Fatal(err)
	}
	m, err := runs.ParseManifest(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// dumpSum returns the SHA-256 and size of a stream snapshot's file.
func dumpSum(t *testing.T, repo *restic.Repo, snap sdk.Snapshot) (string, int) {
	t.Helper()
	var b bytes.Buffer
	if err := repo.Dump(context.Background(), snap.ID, snap.Paths[0], &b); err != nil {
		t.Fatalf("dump %s: %v", snap.ID, err)
	}
	s := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(s[:]), b.Len()
}

// checkLocal asserts the local repository is intact: restic check reading
// all data, no lock left, and the latest run complete with every
// component's bytes matching its manifest.
func (e *env) checkLocal(wantRuns int) *runs.Run {
	e.t.Helper()
	if err := e.restic().Check(context.Background(), "100%"); err != nil {
		e.t.Fatalf("local restic check: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.repo, "locks")); len(ents) != 0 {
		e.t.Errorf("%d locks left in the local repository", len(ents))
	}
	runs := runsOf(e.t, e.restic())
	if n := completeRuns(runs); n != wantRuns {
		e.t.Fatalf("%d complete local runs, want %d", n, wantRuns)
	}
	latest := runs[0]
	m := manifestOf(e.t, e.restic(), latest)
	for c, mc := range m.Components {
		if mc.Directory {
			continue
		}
		_, n := dumpSum(e.t, e.restic(), latest.Components[c])
		if uint64(n) != mc.Size {
			e.t.Errorf("local %s: %d bytes, manifest says %d", c, n, mc.Size)
		}
	}
	return latest
}

func (e *env) alerts() string {
	b, _ := os.ReadFile(e.vars["BACKUP_ALERT_LOG"])
	return string(b)
}

func mustRun(t *testing.T, r result, want int, args string) result {
	t.Helper()
	if r.code != want {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, want, r.stdout, r.stderr)
	}
	return r
}

// s3Env is an operator with a synthetic component of size bytes and an
// offsite repository at offsiteBucket/prefix on a fresh versitygw, reached
// with a key of the given access; retention keeps one run a day. admin is
// the same repository seen with a full-access key.
func s3Env(t *testing.T, prefix string, access testenv.S3Access, versioned bool, size string) (e *env, g *testenv.VersityGW, admin *restic.Repo) {
	t.Helper()
	g = testenv.StartVersityGW(t)
	g.CreateBucket(t, offsiteBucket, versioned)
	e = newEnv(t, false)
	e.synthetic(size)
	ak, sk := g.CreateUser(t, offsiteBucket, prefix, access)
	e.useS3(g, prefix, ak, sk)
	e.vars["BACKUP_KEEP_DAILY"], e.vars["BACKUP_KEEP_WEEKLY"], e.vars["BACKUP_KEEP_MONTHLY"] = "1", "0", "0"
	return e, g, e.s3Admin(g, prefix)
}

// Design table, write-only key ("no delete": Get/Put/List): backups work
// again and again although every run leaves its lock file behind; listing
// works; prune prunes local and skips offsite with a message, no alert;
// verify checks offsite without a lock; the local side is unaffected.
func TestOffsiteNoDeleteKey(t *testing.T) {
	t.Parallel()
	e, g, admin := s3Env(t, "nodelete", testenv.S3NoDelete, true, "1000000")

	for i := 0; i < 3; i++ {
		r := mustRun(t, e.run("backup", "--offsite"), 0, "backup --offsite")
		if strings.Contains(r.stderr, "offsite backup failed") {
			t.Fatalf("backup %d: offsite failed with a no-delete key:\n%s", i, r.stderr)
		}
	}
	if n := g.ObjectCount(t, offsiteBucket, "nodelete/locks/"); n == 0 {
		t.Fatal("no stale lock in the bucket: the key is not write-only as the test assumes")
	}
	if n := completeRuns(runsOf(t, admin)); n != 3 {
		t.Fatalf("%d complete offsite runs, want 3", n)
	}
	e.checkLocal(3)

	r := mustRun(t, e.run("backup", "list", "--offsite", "--json"), 0, "backup list --offsite")
	var listed []runJSON
	if err := unmarshalRuns(r.stdout, &listed); err != nil || len(listed) != 3 {
		t.Fatalf("backup list --offsite: %v %s", err, r.stdout)
	}

	locksBefore := g.Objects(t, offsiteBucket, "nodelete/locks/")
	r = mustRun(t, e.run("backup", "prune", "--offsite"), 0, "backup prune --offsite")
	if !strings.Contains(r.stderr, "Offsite prune skipped") || !strings.Contains(r.stderr, "may not delete") {
		t.Errorf("no skip message:\n%s", r.stderr)
	}
	if n := completeRuns(runsOf(t, e.restic())); n != 1 {
		t.Errorf("%d local runs after prune (keep daily 1), want 1", n)
	}
	if n := completeRuns(runsOf(t, admin)); n != 3 {
		t.Errorf("%d offsite runs after a skipped prune, want 3", n)
	}
	// The prune took no exclusive lock: at most one more shared lock (the
	// probe) is left behind.
	for key := range g.Objects(t, offsiteBucket, "nodelete/locks/") {
		if _, ok := locksBefore[key]; !ok {
			id := strings.TrimPrefix(key, "nodelete/locks/")
			li, err := lockInfo(admin, id)
			if err != nil {
				t.Fatal(err)
			}
			if li.Exclusive {
				t.Errorf("prune left an exclusive lock %s behind: later backups would fail", id)
			}
		}
	}

	// Later runs keep working with all those stale locks.
	r = mustRun(t, e.run("backup", "--offsite"), 0, "backup --offsite after prune")
	if strings.Contains(r.stderr, "offsite backup failed") {
		t.Fatalf("offsite failed after stale locks:\n%s", r.stderr)
	}
	if n := completeRuns(runsOf(t, admin)); n != 4 {
		t.Errorf("%d offsite runs, want 4", n)
	}
	r = mustRun(t, e.run("backup", "verify", "--offsite", "--read-data-subset", "100%"), 0, "backup verify --offsite")
	if !strings.Contains(r.stdout, "checked without a lock") {
		t.Errorf("offsite verify with a no-delete key did not say it checked without a lock:\n%s", r.stdout)
	}
	if a := e.alerts(); a != "" {
		t.Errorf("alerts for expected write-only behaviour:\n%s", a)
	}
	e.checkLocal(2)
}

func lockInfo(repo *restic.Repo, id string) (restic.LockInfo, error) {
	locks, err := repo.Locks(context.Background())
	if err != nil {
		return restic.LockInfo{}, err
	}
	for _, l := range locks {
		if l.ID == id {
			return l, nil
		}
	}
	return restic.LockInfo{}, nil
}

// Design table, put-only key: restic cannot even open the repository. The
// backup stays complete locally, warns, and alerts (offsite copies would
// otherwise silently stop); list and prune skip with a message; restore
// from offsite fails telling to use full-access credentials; none of those
// expected refusals alerts.
func TestOffsitePutOnlyKey(t *testing.T) {
	t.Parallel()
	e, _, admin := s3Env(t, "putonly", testenv.S3PutOnly, false, "200000")
	if _, err := admin.Init(context.Background()); err != nil {
		t.Fatal(err)
	}

	r := mustRun(t, e.run("backup", "--offsite"), 0, "backup --offsite")
	if !strings.Contains(r.stderr, "offsite backup failed") || !strings.Contains(r.stderr, "GET, LIST and PUT") {
		t.Errorf("no warning explaining the key:\n%s", r.stderr)
	}
	if a := e.alerts(); strings.Count(a, "] Offsite Backup Failed") != 1 {
		t.Errorf("want one offsite alert, alerts.log:\n%s", a)
	}
	e.checkLocal(1)

	r = mustRun(t, e.run("backup", "list", "--offsite"), 0, "backup list --offsite")
	if !strings.Contains(r.stderr, "Offsite listing skipped") {
		t.Errorf("list: no skip message:\n%s", r.stderr)
	}
	r = mustRun(t, e.run("backup", "prune", "--offsite"), 0, "backup prune --offsite")
	if !strings.Contains(r.stderr, "Offsite prune skipped") {
		t.Errorf("prune: no skip message:\n%s", r.stderr)
	}
	r = mustRun(t, e.run("restore", "latest", "--offsite", "--yes"), 1, "restore --offsite")
	if !strings.Contains(r.stderr, "full-access credentials") {
		t.Errorf("restore: no hint at full-access credentials:\n%s", r.stderr)
	}
	r = mustRun(t, e.run("backup", "verify", "--offsite"), 0, "backup verify --offsite")
	if !strings.Contains(r.stderr, "offsite verify skipped") {
		t.Errorf("verify: no skip message:\n%s", r.stderr)
	}
	if a := e.alerts(); strings.Count(a, "] Offsite Backup Failed") != 1 || strings.Contains(a, "Restore Failed") || strings.Contains(a, "Verify Failed") {
		t.Errorf("expected refusals alerted; alerts.log:\n%s", a)
	}
	if n := len(runsOf(t, admin)); n != 0 {
		t.Errorf("%d runs offsite, want none", n)
	}
}

// Design table, full-access key: everything works, prune prunes offsite too
// and restore from offsite brings the bytes back.
func TestOffsiteFullAccessKey(t *testing.T) {
	t.Parallel()
	e, g, admin := s3Env(t, "full", testenv.S3FullAccess, true, "500000")
	mustRun(t, e.run("backup", "--offsite", "--time", "2026-03-01 02:00:00"), 0, "backup --offsite")
	mustRun(t, e.run("backup", "--offsite", "--time", "2026-03-01 03:00:00"), 0, "backup --offsite")
	r := mustRun(t, e.run("backup", "list", "--offsite", "--json"), 0, "list --offsite")
	var listed []runJSON
	if err := unmarshalRuns(r.stdout, &listed); err != nil || len(listed) != 2 {
		t.Fatalf("list --offsite: %v %s", err, r.stdout)
	}
	r = mustRun(t, e.run("backup", "prune", "--offsite"), 0, "prune --offsite")
	if strings.Contains(r.stderr, "skipped") {
		t.Errorf("full-access prune skipped:\n%s", r.stderr)
	}
	offRuns := runsOf(t, admin)
	if len(offRuns) != 1 || offRuns[0].ID != listed[0].RunID {
		t.Fatalf("offsite after prune: %d runs, want only the newest %s", len(offRuns), listed[0].RunID)
	}
	if n := g.ObjectCount(t, offsiteBucket, "full/locks/"); n != 0 {
		t.Errorf("%d locks left offsite with a full-access key", n)
	}
	latest := e.checkLocal(1)

	r = mustRun(t, e.run("backup", "verify", "--offsite", "--json"), 0, "verify --offsite")
	v := parseVerify(t, r)
	if !v.Success || len(v.Repositories) != 2 || v.Repositories[1].Repository != "offsite" ||
		strings.Contains(v.Repositories[1].Check, "without a lock") || len(v.Repositories[1].Components) != 1 ||
		!v.Repositories[1].Components[0].OK {
		t.Errorf("verify --offsite with a full-access key: %s", r.stdout)
	}

	mustRun(t, e.run("restore", "latest", "--offsite", "--yes"), 0, "restore --offsite")
	got, err := os.ReadFile(e.vars["SYNTH_RESTORE_TO"])
	if err != nil {
		t.Fatal(err)
	}
	want, n := dumpSum(t, e.restic(), latest.Components["synthetic"])
	sum := sha256.Sum256(got)
	if hex.EncodeToString(sum[:]) != want || len(got) != n {
		t.Errorf("restored from offsite: %d bytes differing from the backup (%d bytes)", len(got), n)
	}
}

// The recipe docs/offsite.md recommends: no delete except on locks/*, a
// versioned bucket. Backups leave no locks; prune is skipped with a message
// (restic cannot remove snapshots) and leaves no lock either.
func TestOffsiteDeleteOnlyLocksKey(t *testing.T) {
	t.Parallel()
	e, g, admin := s3Env(t, "recipe", testenv.S3NoDeleteButLocks, true, "200000")
	mustRun(t, e.run("backup", "--offsite"), 0, "backup --offsite")
	mustRun(t, e.run("backup", "--offsite"), 0, "backup --offsite")
	if n := g.ObjectCount(t, offsiteBucket, "recipe/locks/"); n != 0 {
		t.Errorf("%d locks left behind with delete allowed on locks/", n)
	}
	r := mustRun(t, e.run("backup", "prune", "--offsite"), 0, "prune --offsite")
	if !strings.Contains(r.stderr, "Offsite prune skipped") {
		t.Errorf("no skip message:\n%s", r.stderr)
	}
	if n := completeRuns(runsOf(t, admin)); n != 2 {
		t.Errorf("%d offsite runs after a refused prune, want 2", n)
	}
	if n := g.ObjectCount(t, offsiteBucket, "recipe/locks/"); n != 0 {
		t.Errorf("%d locks left behind by the refused prune", n)
	}
	e.checkLocal(1)
	if a := e.alerts(); a != "" {
		t.Errorf("alerts: %s", a)
	}
}

// rest-server --append-only as the offsite backend (rest: URL): backups
// work, listing works, prune of it is skipped with a message.
func TestOffsiteRestServerAppendOnly(t *testing.T) {
	t.Parallel()
	rs := testenv.StartRestServer(t, true)
	e := newEnv(t, false)
	e.synthetic("200000")
	e.vars["RESTIC_OFFSITE_REPOSITORY"] = rs.URL
	e.vars["BACKUP_KEEP_DAILY"], e.vars["BACKUP_KEEP_WEEKLY"], e.vars["BACKUP_KEEP_MONTHLY"] = "1", "0", "0"
	mustRun(t, e.run("backup", "--offsite"), 0, "backup --offsite")
	r := mustRun(t, e.run("backup", "--offsite"), 0, "backup --offsite")
	if strings.Contains(r.stderr, "offsite backup failed") {
		t.Fatalf("offsite failed:\n%s", r.stderr)
	}
	r = mustRun(t, e.run("backup", "prune", "--offsite"), 0, "prune --offsite")
	if !strings.Contains(r.stderr, "Offsite prune skipped") {
		t.Errorf("no skip message:\n%s", r.stderr)
	}
	off := &restic.Repo{Binary: e.vars["BACKUP_RESTIC_BIN"], Repository: rs.URL, Password: e.password}
	if n := completeRuns(runsOf(t, off)); n != 2 {
		t.Errorf("%d runs on the append-only server, want 2", n)
	}
	e.checkLocal(1)
	mustRun(t, e.run("backup", "--offsite"), 0, "backup --offsite after the refused prune")
	if n := completeRuns(runsOf(t, off)); n != 3 {
		t.Errorf("%d runs on the append-only server, want 3", n)
	}
}

// The offsite server is down — never started, or killed in the middle of
// the upload: the local snapshot is complete and intact, the command warns
// and exits 0, and the offsite failure is alerted.
//
// Not parallel: it times an outage, and it checks that no restic or plugin
// process of this test binary survives, which parallel tests would have.
func TestOffsiteDown(t *testing.T) {
	t.Run("never started", func(t *testing.T) {
		e, g, _ := s3Env(t, "down", testenv.S3FullAccess, false, "2000000")
		g.Stop() // nothing listens on the endpoint any more
		e.vars["BACKUP_OFFSITE_STALL_TIMEOUT"] = "3s"
		start := time.Now()
		r := mustRun(t, e.run("backup", "--offsite"), 0, "backup --offsite (offsite down)")
		t.Logf("backup with the offsite server down took %s", time.Since(start).Round(time.Millisecond))
		if !strings.Contains(r.stderr, "offsite backup failed") {
			t.Errorf("no warning:\n%s", r.stderr)
		}
		if !strings.Contains(e.alerts(), "Offsite Backup Failed") {
			t.Errorf("no offsite alert; alerts.log: %q", e.alerts())
		}
		e.checkLocal(1)
	})
	t.Run("stopped mid-backup", func(t *testing.T) {
		e, g, admin := s3Env(t, "mid", testenv.S3FullAccess, false, "150000000")
		// The stall timeout is what ends the offsite side once its server
		// is gone; before that nothing must stall that long, even on a
		// loaded machine (restic's start-up is not under it: see below).
		e.vars["BACKUP_OFFSITE_STALL_TIMEOUT"] = "10s"
		offsite := filepath.Join(g.Dir, "data", offsiteBucket, "mid")
		// The source sends nothing until the offsite restic runs (holds
		// its lock), then stops at 40 MB (more than two 16 MiB packs)
		// until the test has seen packs uploaded and killed the server:
		// the kill lands mid-stream however fast or slow the machine is.
		started, stopped := filepath.Join(e.dir, "offsite-running"), filepath.Join(e.dir, "server-stopped")
		e.vars["SYNTH_HOLD"] = "0:" + started + ",40000000:" + stopped
		release := func(f string) {
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var stoppedAt time.Time
		r := e.runWatched(context.Background(), func(p *running) {
			offsiteFailed := func() bool {
				return p.gone() || strings.Contains(p.stderr.String(), "offsite backup skipped") || strings.Contains(p.stderr.String(), "target=offsite error=")
			}
			testenv.WaitForWhile(t, "the offsite restic's lock", func() bool {
				ents, _ := os.ReadDir(filepath.Join(offsite, "locks"))
				return len(ents) > 0
			}, offsiteFailed)
			release(started)
			testenv.WaitForWhile(t, "offsite pack uploads", func() bool {
				n := 0
				filepath.WalkDir(filepath.Join(offsite, "data"), func(_ string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						n++
					}
					return nil
				})
				return n >= 1
			}, offsiteFailed)
			g.Stop()
			stoppedAt = time.Now()
			release(stopped)
		}, "backup", "--offsite")
		mustRun(t, r, 0, "backup --offsite (offsite killed mid-backup)")
		t.Logf("backup finished %s after the offsite server was killed", time.Since(stoppedAt).Round(time.Millisecond))
		if !strings.Contains(r.stderr, "offsite backup failed") {
			t.Errorf("no warning:\n%s", r.stderr)
		}
		if !strings.Contains(e.alerts(), "Offsite Backup Failed") {
			t.Errorf("no offsite alert; alerts.log: %q", e.alerts())
		}
		latest := e.checkLocal(1)
		m := manifestOf(t, e.restic(), latest)
		if m.Components["synthetic"].Size != 150000000 {
			t.Errorf("local snapshot holds %d bytes, want 150000000", m.Components["synthetic"].Size)
		}
		// Back up: the offsite repository has no complete run from it.
		if err := g.Start(); err != nil {
			t.Fatal(err)
		}
		if n := completeRuns(runsOf(t, admin)); n != 0 {
			t.Errorf("%d complete offsite runs from a backup whose offsite side was killed, want 0", n)
		}
		testenv.WaitNoLeftoverProcesses(t, time.Minute, "restic", "timetiles-backup")
	})
}

// One read of the database feeds both repositories: the same pg_dump bytes
// (same checksum in both manifests, same bytes dumped back from both). A
// second backup of unchanged data adds only a little offsite (dedup).
func TestOffsiteSameDumpAndDedup(t *testing.T) {
	t.Parallel()
	g := testenv.StartVersityGW(t)
	g.CreateBucket(t, offsiteBucket, false)
	e := newEnv(t, true)
	e.vars["BACKUP_CHECKSUM"] = "sha256"
	ak, sk := g.CreateUser(t, offsiteBucket, "dedup", testenv.S3NoDelete)
	e.useS3(g, "dedup", ak, sk)
	admin := e.s3Admin(g, "dedup")

	before := g.BucketBytes(t, offsiteBucket, "dedup/")
	mustRun(t, e.run("backup", "--offsite"), 0, "backup --offsite")
	first := g.BucketBytes(t, offsiteBucket, "dedup/") - before
	mustRun(t, e.run("backup", "--offsite"), 0, "backup --offsite (unchanged data)")
	second := g.BucketBytes(t, offsiteBucket, "dedup/") - before - first
	t.Logf("offsite bytes added: first backup %d, second backup of unchanged data %d (%.1f%%)",
		first, second, 100*float64(second)/float64(first))
	if first <= 0 || second*10 > first {
		t.Errorf("second backup added %d bytes offsite, first %d: want less than a tenth", second, first)
	}

	local, off := runsOf(t, e.restic()), runsOf(t, admin)
	if completeRuns(local) != 2 || completeRuns(off) != 2 || local[0].ID != off[0].ID {
		t.Fatalf("runs: local %d, offsite %d", len(local), len(off))
	}
	lm, om := manifestOf(t, e.restic(), local[0]), manifestOf(t, admin, off[0])
	ldb, odb := lm.Components["db"], om.Components["db"]
	if ldb.ChecksumAlgorithm != "sha256" || ldb.Checksum == "" || ldb.Checksum != odb.Checksum || ldb.Size != odb.Size {
		t.Fatalf("db in the manifests: local %s %s (%d bytes), offsite %s %s (%d bytes)",
			ldb.ChecksumAlgorithm, ldb.Checksum, ldb.Size, odb.ChecksumAlgorithm, odb.Checksum, odb.Size)
	}
	lsum, _ := dumpSum(t, e.restic(), local[0].Components["db"])
	osum, _ := dumpSum(t, admin, off[0].Components["db"])
	if lsum != ldb.Checksum || osum != ldb.Checksum {
		t.Errorf("dumped back: local %s, offsite %s, manifest %s", lsum, osum, ldb.Checksum)
	}
	if lm.Components["uploads"].Size != om.Components["uploads"].Size {
		t.Errorf("uploads: local %d bytes, offsite %d", lm.Components["uploads"].Size, om.Components["uploads"].Size)
	}
}
