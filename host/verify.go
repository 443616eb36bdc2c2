// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/host/stream"
	"github.com/timetiles/timetiles-backup/sdk"
)

// restic's --read-data-subset forms: "n/t", "x%" (x may have decimals) and
// a size "nK", "nM", "nG", "nT".
var subsetRE = regexp.MustCompile(`^([0-9]+/[0-9]+|[0-9]+(\.[0-9]+)?%|[0-9]+[KMGTkmgt])$`)

// VerifyOptions select what `backup verify` checks.
type VerifyOptions struct {
	Offsite bool
	// ReadDataSubset overrides BACKUP_VERIFY_READ_DATA_SUBSET; "0" or
	// "none" checks the structure only.
	ReadDataSubset string
	// RestoreTest restores the latest run's database into a scratch
	// database, checks it and drops it (sources with CapRestoreTest).
	RestoreTest bool
}

// ComponentCheck is one component of a run read back and compared with the
// run manifest.
type ComponentCheck struct {
	Component string
	Snapshot  string
	Directory bool
	// Size read back and the size the manifest recorded.
	Size, WantSize uint64
	// Checksum of the bytes read back (computed by the host) and the one
	// the manifest recorded; empty for directories.
	ChecksumAlgorithm      string
	Checksum, WantChecksum string
	Err                    error
}

// RepositoryCheck is the outcome of verify for one repository.
type RepositoryCheck struct {
	Instance string
	// Check is the target's integrity summary (restic check).
	Check    string
	CheckErr error
	// Run is the run read back end to end.
	Run        string
	Components []ComponentCheck
	// Skipped explains why the repository was not verified (its key may
	// not read): not a failure, never alerted.
	Skipped string
	// Note says why nothing was read back although that is no failure.
	Note string
	// Err is a failure outside the check and the components (listing, no
	// complete run, unreadable manifest).
	Err error
}

// RestoreTestResult is one restore test.
type RestoreTestResult struct {
	Component string
	Snapshot  string
	Database  string
	Duration  time.Duration
	Err       error
}

// VerifyReport is the outcome of `backup verify`.
type VerifyReport struct {
	Subset       string
	Repositories []*RepositoryCheck
	RestoreTests []RestoreTestResult
}

// failure is one failed part of a verify: what failed ("local repository
// check") and why.
type failure struct {
	part string
	err  error
}

// failed lists every failed part, in report order.
func (v *VerifyReport) failed() []failure {
	var fs []failure
	for _, r := range v.Repositories {
		if r.CheckErr != nil {
			fs = append(fs, failure{r.Instance + " repository check", r.CheckErr})
		}
		if r.Err != nil {
			fs = append(fs, failure{r.Instance + " repository", r.Err})
		}
		for _, c := range r.Components {
			if c.Err != nil {
				fs = append(fs, failure{fmt.Sprintf("%s repository, run %s, %s", r.Instance, r.Run, c.Component), c.Err})
			}
		}
	}
	for _, t := range v.RestoreTests {
		if t.Err != nil {
			fs = append(fs, failure{fmt.Sprintf("restore test of %s (snapshot %s)", t.Component, t.Snapshot), t.Err})
		}
	}
	return fs
}

// Failures lists every failure in the report, for the exit code and the
// alert: "PART: CAUSE".
func (v *VerifyReport) Failures() []error {
	var errs []error
	for _, f := range v.failed() {
		errs = append(errs, fmt.Errorf("%s: %w", f.part, f.err))
	}
	return errs
}

// FailedParts names what failed, without the causes: "local repository
// check", "offsite repository, run R, db", "restore test of db (snapshot
// S)".
func (v *VerifyReport) FailedParts() []string {
	var parts []string
	for _, f := range v.failed() {
		parts = append(parts, f.part)
	}
	return parts
}

// Err joins the failures (nil when verify passed).
func (v *VerifyReport) Err() error { return errors.Join(v.Failures()...) }

// VerifySubset resolves the data sample: the option, else
// BACKUP_VERIFY_READ_DATA_SUBSET, else 5%. "0" and "none" mean structure
// only (returned as ""). Anything restic would not accept is a
// configuration error.
func (r *Runner) VerifySubset(opt string) (string, error) {
	v, from := strings.TrimSpace(opt), "--read-data-subset"
	if v == "" {
		v, from = strings.TrimSpace(r.Cfg.Get(config.EnvVerifySubset)), config.EnvVerifySubset
	}
	if v == "" {
		return config.DefaultVerifySubset, nil
	}
	s, ok := ParseSubset(v)
	if !ok {
		return "", config.Configf("%s=%q: use a percentage (5%%), a fraction (1/10), a size (500M), or none", from, v)
	}
	return s, nil
}

// ParseSubset checks a --read-data-subset value; "0", "0%" and "none" mean
// structure only and come back as "".
func ParseSubset(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "0" || v == "none" || v == "0%" {
		return "", true
	}
	return v, subsetRE.MatchString(v)
}

// Verify checks the local repository (and with Offsite the offsite one):
// restic check with a data sample, then the latest complete run read back
// through the target and compared, byte count and checksum, with what its
// manifest recorded at backup time; with RestoreTest also a restore of the
// latest run's database into a scratch database. The returned error is a
// configuration error only; failures are in the report (Err).
func (r *Runner) Verify(ctx context.Context, opts VerifyOptions) (*VerifyReport, error) {
	subset, err := r.VerifySubset(opts.ReadDataSubset)
	if err != nil {
		return nil, err
	}
	_, sources, err := r.SourceMap()
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{Subset: subset}
	insts := []string{Local}
	if opts.Offsite {
		insts = append(insts, Offsite)
	}
	for _, inst := range insts {
		rc, t, run, man, err := r.verifyRepository(ctx, inst, subset)
		if err != nil {
			return rep, err
		}
		rep.Repositories = append(rep.Repositories, rc)
		if opts.RestoreTest && inst == Local {
			rep.RestoreTests = r.restoreTests(ctx, t, run, man, sources)
		}
		if ctx.Err() != nil {
			return rep, fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
	return rep, nil
}

func (r *Runner) verifyRepository(ctx context.Context, inst, subset string) (*RepositoryCheck, *plugin.Plugin, *runs.Run, *runs.Manifest, error) {
	rc := &RepositoryCheck{Instance: inst}
	t, err := r.Start(ctx, r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget), inst)
	if err != nil {
		if errors.Is(err, config.ErrConfig) || errors.Is(err, sdk.ErrInvalidConfig) {
			return nil, nil, nil, nil, err
		}
		rc.Err = err
		return rc, nil, nil, nil, nil
	}
	r.Log.Info("checking repository", "repository", inst, "read_data_subset", subset)
	summary, err := t.Target().Verify(ctx, sdk.VerifyRequest{ReadDataSubset: subset})
	if err != nil {
		if inst == Offsite && IsPermission(err) {
			rc.Skipped = "the offsite key may not read the repository (write-only key): offsite verify skipped; verify it with full-access credentials"
			return rc, t, nil, nil, nil
		}
		rc.CheckErr = err
		if errors.Is(err, sdk.ErrNotFound) {
			return rc, t, nil, nil, nil // no repository: nothing to list or read back
		}
	} else {
		rc.Check = summary
	}
	snaps, err := listWith(ctx, t, inst)
	if err != nil {
		rc.Err = err
		return rc, t, nil, nil, nil
	}
	var run *runs.Run
	legacy := false
	for _, x := range runs.GroupRuns(snaps) {
		legacy = legacy || x.Legacy
		if x.Regular() && x.Manifest != nil { // the newest real backup: not a safety or drill run
			run = x
			break
		}
	}
	if run == nil && legacy {
		rc.Note = "only snapshots of TimeTiles' shell tool, without a run manifest to compare with: nothing read back"
		return rc, t, nil, nil, nil
	}
	if run == nil {
		rc.Err = errors.New("the repository holds no complete backup run to read back: run `timetiles-backup backup` first")
		return rc, t, nil, nil, nil
	}
	rc.Run = run.ID
	man, err := ReadManifest(ctx, t, run)
	if err != nil {
		rc.Err = err
		return rc, t, run, nil, nil
	}
	var comps []string
	for c := range man.Components {
		comps = append(comps, c)
	}
	sort.Strings(comps)
	for _, c := range comps {
		mc := man.Components[c]
		cc := ComponentCheck{Component: c, Snapshot: mc.Snapshot, Directory: mc.Directory, WantSize: mc.Size,
			ChecksumAlgorithm: mc.ChecksumAlgorithm, WantChecksum: mc.Checksum}
		if s, ok := run.Components[c]; !ok || s.ID != mc.Snapshot {
			cc.Err = fmt.Errorf("the manifest names snapshot %s, which is not in the repository: %w", mc.Snapshot, sdk.ErrNotFound)
			rc.Components = append(rc.Components, cc)
			continue
		}
		r.Log.Info("reading back", "repository", inst, "component", c, "snapshot", mc.Snapshot)
		if mc.Directory {
			cc.Size, cc.Err = readBackDirectory(ctx, t, mc.Snapshot)
		} else {
			cc.Size, cc.Checksum, cc.Err = readBackStream(ctx, t, mc.Snapshot, mc.ChecksumAlgorithm)
		}
		if cc.Err == nil {
			cc.Err = compareReadBack(cc)
		}
		rc.Components = append(rc.Components, cc)
	}
	return rc, t, run, man, nil
}

func compareReadBack(c ComponentCheck) error {
	if c.Size != c.WantSize {
		return fmt.Errorf("read back %d bytes, the backup recorded %d", c.Size, c.WantSize)
	}
	if !c.Directory && c.WantChecksum != "" && c.Checksum != c.WantChecksum {
		return fmt.Errorf("read back %s %s, the backup recorded %s", c.ChecksumAlgorithm, c.Checksum, c.WantChecksum)
	}
	return nil
}

// readBackStream reads a stored stream through the target and returns its
// size and the host's own checksum of the bytes (algo as recorded). The
// bytes pass through, never held in memory (stream.ReadTo); the target must
// report success, and its trailer's size and checksum must match them.
func readBackStream(ctx context.Context, t *plugin.Plugin, snapshotID, algo string) (uint64, string, error) {
	if _, err := sdk.NewChecksum(algo); err != nil {
		return 0, "", err
	}
	tr, sum, err := stream.ReadTo(ctx, t.Endpoint(), snapshotID, algo, io.Discard)
	if err != nil {
		return 0, "", err
	}
	return tr.Size, hex.EncodeToString(sum), nil
}

// readBackDirectory restores a directory snapshot natively into a scratch
// directory (under TMPDIR; removed afterwards) and returns the bytes of its
// regular files — what the target counted at backup time.
func readBackDirectory(ctx context.Context, t *plugin.Plugin, snapshotID string) (uint64, error) {
	dir, err := os.MkdirTemp("", "timetiles-verify-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := stream.ReadInto(ctx, t.Endpoint(), snapshotID, dir); err != nil {
		return 0, err
	}
	var total uint64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += uint64(fi.Size())
		}
		return nil
	})
	return total, err
}

// restoreTests restores each component of run whose source supports
// restore tests into a scratch database that is dropped again.
func (r *Runner) restoreTests(ctx context.Context, t *plugin.Plugin, run *runs.Run, man *runs.Manifest, sources map[string]string) []RestoreTestResult {
	if t == nil || run == nil || man == nil {
		return []RestoreTestResult{{Err: errors.New("no complete backup run to restore from")}}
	}
	var out []RestoreTestResult
	for _, c := range run.ComponentNames() {
		name, ok := sources[c]
		if !ok {
			continue
		}
		src, err := r.Start(ctx, name, c)
		if err != nil {
			out = append(out, RestoreTestResult{Component: c, Err: err})
			continue
		}
		if !src.Has(sdk.CapRestoreTest) {
			continue
		}
		mc := man.Components[c]
		snap := run.Components[c]
		db := scratchDatabaseName()
		r.Log.Info("restore test", "component", c, "snapshot", snap.ID, "scratch_database", db)
		start := time.Now()
		err = StreamRestore(ctx, t, src, snap, &mc, stream.RestoreOptions{Component: c, ToDatabase: db, Scratch: true})
		out = append(out, RestoreTestResult{Component: c, Snapshot: snap.ID, Database: db, Duration: time.Since(start), Err: err})
	}
	if len(out) == 0 {
		out = append(out, RestoreTestResult{Err: fmt.Errorf("no component of run %s has a source that runs restore tests (source-postgres does)", run.ID)})
	}
	return out
}

func scratchDatabaseName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "timetiles_verify_" + hex.EncodeToString(b)
}
