// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/retention"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/internal/rootonly"
	"github.com/timetiles/timetiles-backup/internal/version"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Version of timetiles-backup: internal/version's, set at build time from
// the git tags (scripts/version.sh).
var Version = version.Version

// Instances of the target plugin.
const (
	Local   = "local"
	Offsite = "offsite"
)

// Runner carries out commands: it launches the plugins a command needs,
// wires them and reports.
type Runner struct {
	Cfg        *config.Config
	Log        hclog.Logger
	PluginDir  string
	Manager    *Manager
	candidates []Candidate
}

// NewRunner prepares a runner; call Close when done.
func NewRunner(cfg *config.Config, log hclog.Logger, pluginDir string) *Runner {
	if pluginDir == "" {
		pluginDir = cfg.Get(config.EnvPluginDir)
	}
	m := &Manager{Logger: log, Transport: cfg.Get("TIMETILES_BACKUP_TRANSPORT")}
	m.Checksums, m.ChecksumsErr = ParsePluginChecksums(cfg.Get(EnvPluginChecksums))
	return &Runner{Cfg: cfg, Log: log, PluginDir: pluginDir, Manager: m}
}

// Close stops every plugin.
func (r *Runner) Close() { r.Manager.Close() }

// Candidates lists the plugin binaries found.
func (r *Runner) Candidates() []Candidate {
	if r.candidates == nil {
		r.candidates = Discover(r.SearchDirs())
	}
	return r.candidates
}

// SearchDirs lists the directories searched for plugins, in order.
func (r *Runner) SearchDirs() []string {
	return SearchDirs(r.PluginDir, r.pathEnv())
}

// pathEnv is $PATH when it is searched for plugins: always for users
// other than root, for root only when config.EnvSearchPath asks for it.
func (r *Runner) pathEnv() string {
	if on, _ := r.searchPath(); on || !rootonly.Applies() {
		return os.Getenv("PATH")
	}
	return ""
}

func (r *Runner) searchPath() (bool, error) {
	switch v := strings.ToLower(strings.TrimSpace(r.Cfg.Get(config.EnvSearchPath))); v {
	case "", "0", "false", "no", "off":
		return false, nil
	case "1", "true", "yes", "on":
		return true, nil
	default:
		return false, config.Configf("%s=%q: set 1 to search $PATH for plugins when run as root, or leave it unset", config.EnvSearchPath, v)
	}
}

// PathNote says, for messages listing the directories searched, whether
// $PATH was one of them.
func (r *Runner) PathNote() string {
	if r.pathEnv() == "" {
		return " ($PATH is not searched when run as root; set " + config.EnvSearchPath + "=1 to search it)"
	}
	return ""
}

// CheckDiscovery checks what plugin discovery relies on, before any plugin
// runs: the value of config.EnvSearchPath; as root, that nobody but root can
// change the explicit plugin directory; and that every checksum pin names
// a plugin that was found (a misspelled pin would pin nothing). Every
// error is a configuration error.
func (r *Runner) CheckDiscovery() error {
	if _, err := r.searchPath(); err != nil {
		return err
	}
	if r.PluginDir != "" {
		if err := CheckPluginDir(r.PluginDir); err != nil {
			return err
		}
	}
	if r.Manager.ChecksumsErr != nil {
		return r.Manager.ChecksumsErr
	}
	found := map[string]bool{}
	var names []string
	for _, c := range r.Candidates() {
		found[c.Name] = true
		names = append(names, c.Name)
	}
	var pins []string
	for name := range r.Manager.Checksums {
		pins = append(pins, name)
	}
	sort.Strings(pins)
	for _, name := range pins {
		if !found[name] {
			list := strings.Join(names, ", ")
			if list == "" {
				list = "none"
			}
			return config.Configf("%s pins plugin %s, but no plugin of that name was found (plugins found: %s; searched %s%s): correct the name or remove the pin",
				EnvPluginChecksums, name, list, strings.Join(r.SearchDirs(), ", "), r.PathNote())
		}
	}
	return nil
}

func (r *Runner) find(name string) (Candidate, error) {
	if err := r.CheckDiscovery(); err != nil {
		return Candidate{}, err
	}
	for _, c := range r.Candidates() {
		if c.Name == name {
			return c, nil
		}
	}
	return Candidate{}, fmt.Errorf("%w: plugin %q not found: looked for %s%s in %s%s; install it there or set %s",
		config.ErrConfig, name, BinaryPrefix, name, strings.Join(r.SearchDirs(), ", "), r.PathNote(), config.EnvPluginDir)
}

// UsedPlugins names the plugins this configuration runs: the sources of
// BACKUP_SOURCES, the target BACKUP_TARGET and the notifiers
// BACKUP_NOTIFIERS, sorted, each once.
func (r *Runner) UsedPlugins() ([]string, error) {
	set := map[string]bool{r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget): true}
	_, sources, err := r.SourceMap()
	if err != nil {
		return nil, err
	}
	for _, n := range sources {
		set[n] = true
	}
	for _, n := range r.Notifiers() {
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// Start launches and configures a plugin by name.
func (r *Runner) Start(ctx context.Context, name, instance string) (*Plugin, error) {
	c, err := r.find(name)
	if err != nil {
		return nil, err
	}
	p, err := r.Manager.Launch(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := r.Manager.Configure(ctx, p, r.Cfg, instance, nil); err != nil {
		return nil, err
	}
	return p, nil
}

// SourceMap returns component → source plugin name, in order.
func (r *Runner) SourceMap() ([]string, map[string]string, error) {
	spec := r.Cfg.GetDefault("BACKUP_SOURCES", config.DefaultSources)
	m := map[string]string{}
	var order []string
	for _, kv := range strings.Split(spec, ",") {
		comp, name, ok := strings.Cut(kv, "=")
		comp, name = strings.TrimSpace(comp), strings.TrimSpace(name) // "uploads = source-volume" (found by FuzzSourceMap)
		if !ok || comp == "" || name == "" {
			return nil, nil, config.Configf("BACKUP_SOURCES=%q: each entry must be component=plugin, e.g. %s", spec, config.DefaultSources)
		}
		if _, dup := m[comp]; dup {
			return nil, nil, config.Configf("BACKUP_SOURCES names component %q twice", comp)
		}
		m[comp] = name
		order = append(order, comp)
	}
	return order, m, nil
}

// Hostname is the fixed host name recorded in snapshots, so that a
// container's changing hostname never splits retention groups.
func (r *Runner) Hostname() string {
	if h := r.Cfg.Get("BACKUP_HOSTNAME"); h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}

// ChecksumAlgorithm is the stream checksum recorded in manifests.
func (r *Runner) ChecksumAlgorithm() (string, error) {
	a := r.Cfg.GetDefault("BACKUP_CHECKSUM", sdk.DefaultChecksum)
	if _, err := sdk.NewChecksum(a); err != nil {
		return "", config.Configf("BACKUP_CHECKSUM=%q: use %s or %s", a, sdk.ChecksumXXH3, sdk.ChecksumSHA256)
	}
	return a, nil
}

// BackupOptions selects what a backup run does.
type BackupOptions struct {
	Components []string
	Offsite    bool
	// Time overrides the snapshot time (tests, imports); zero means now.
	Time time.Time
	// Tags are added to every snapshot of the run, e.g. SafetyTag. Each
	// holds a ":" so it is never read as a component name.
	Tags []string
	// Progress, when set, receives the targets' progress reports (from
	// another goroutine).
	Progress func(ProgressEvent)
}

// ComponentReport is one component's outcome in a run.
type ComponentReport struct {
	Component string
	Plugin    string
	Result    *StreamResult
}

// BackupReport is the outcome of a backup run.
type BackupReport struct {
	RunID      string
	Time       time.Time
	Components []ComponentReport
	// Manifests by target instance; missing where the run is incomplete.
	Manifests map[string]string
	LocalErr  error
	// OffsiteErr is a warning: the local backup stands.
	OffsiteErr error
	// CatchUp is what the offsite catch-up did (nil when it did not run:
	// no --offsite, or tonight's offsite side failed); CatchUpErr is a
	// warning like OffsiteErr: tonight's run is complete offsite, earlier
	// ones are still missing there.
	CatchUp    *CatchUpReport
	CatchUpErr error
}

// Backup runs one backup: every component streamed into the local target
// and, with Offsite, the offsite target at the same time.
func (r *Runner) Backup(ctx context.Context, opts BackupOptions) (*BackupReport, error) {
	comps, sources, err := r.Components(opts.Components)
	if err != nil {
		return nil, err
	}
	algo, err := r.ChecksumAlgorithm()
	if err != nil {
		return nil, err
	}
	stall, err := r.duration("BACKUP_OFFSITE_STALL_TIMEOUT", 5*time.Minute)
	if err != nil {
		return nil, err
	}
	if opts.Offsite {
		if _, err := retention.PolicyFrom(r.Cfg); err != nil { // the catch-up applies it
			return nil, err
		}
	}
	now := opts.Time
	if now.IsZero() {
		now = time.Now()
	}
	rep := &BackupReport{RunID: runs.NewRunID(now), Time: now, Manifests: map[string]string{}}
	log := r.Log.With("run", rep.RunID)

	// The sources start meanwhile; a missing one still fails the run
	// before any stream starts.
	starting := r.startSources(ctx, comps, sources)
	defer starting.wait() // none is left starting when Backup returns
	targetName := r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget)
	local, err := r.Start(ctx, targetName, Local)
	if err != nil {
		return nil, err
	}
	if _, err := r.initTarget(ctx, local); err != nil {
		rep.LocalErr = fmt.Errorf("local repository: %w", err)
		return rep, rep.LocalErr
	}
	sinks := []Sink{{Name: Local, P: local}}
	if opts.Offsite {
		off, err := r.Start(ctx, targetName, Offsite)
		if err == nil {
			// An unreachable offsite backend must not hold up the local
			// backup: restic itself retries for 15 minutes.
			ictx, cancel := withTimeout(ctx, stall)
			_, err = r.initTarget(ictx, off)
			if err != nil && ictx.Err() != nil && ctx.Err() == nil {
				err = fmt.Errorf("no answer within %s (BACKUP_OFFSITE_STALL_TIMEOUT): %w", stall, err)
			}
			cancel()
		}
		if err != nil {
			if errors.Is(err, config.ErrConfig) {
				return nil, err
			}
			rep.OffsiteErr = fmt.Errorf("offsite repository: %w", err)
			log.Warn("offsite backup skipped", "error", rep.OffsiteErr)
		} else {
			sinks = append(sinks, Sink{Name: Offsite, P: off, StallTimeout: stall})
		}
	}
	if opts.Progress != nil {
		pctx, pcancel := context.WithCancel(ctx)
		defer pcancel()
		for _, s := range sinks {
			watchProgress(pctx, s.P, s.Name, opts.Progress)
		}
	}
	srcs, err := starting.wait()
	if err != nil {
		return nil, err
	}
	// A component declared BackupFirst (a database) is dumped before the
	// directories its rows refer to are snapshotted.
	comps = orderComponents(comps, srcs)
	host := r.Hostname()
	okBy := map[string]bool{}
	for _, s := range sinks {
		okBy[s.Name] = true
	}
	manifests := map[string]*runs.Manifest{}
	for _, s := range sinks {
		manifests[s.Name] = &runs.Manifest{Tool: runs.ToolTag, Version: Version, RunID: rep.RunID, Host: host, Time: now, Components: map[string]runs.ManifestComponent{}, Tags: opts.Tags}
	}
	// Every target starts on the run manifest now, while the components
	// stream, and stores it only when it is committed at the end
	// (PendingWrite): the manifest adds no restic start-up to the run.
	pending := r.beginManifests(ctx, sinks, manifests[Local])
	defer pending.abort(ctx, sinks, "", errors.New("the backup run did not complete"))
	for _, c := range comps {
		if err := ctx.Err(); err != nil {
			rep.LocalErr = fmt.Errorf("interrupted: %w", err)
			return rep, rep.LocalErr
		}
		live := sinks[:0:0]
		for _, s := range sinks {
			if okBy[s.Name] {
				live = append(live, s)
			}
		}
		log.Info("backing up", "component", c, "source", sources[c], "targets", len(live))
		res := StreamBackup(ctx, srcs[c], live, StreamSpec{
			Component: c, RunID: rep.RunID, Host: host, Time: now, Checksum: algo,
			Tags:         append([]string{runs.ToolTag, c, runs.RunTagPrefix + rep.RunID}, opts.Tags...),
			SourceFailed: func(err error) { go pending.abort(ctx, sinks, "", err) },
		})
		rep.Components = append(rep.Components, ComponentReport{Component: c, Plugin: sources[c], Result: res})
		reportDone(opts.Progress, rep.RunID, res)
		for _, s := range live {
			err := res.Err(s.Name)
			if err != nil {
				okBy[s.Name] = false
				log.Error("component failed", "component", c, "target", s.Name, "error", err)
				continue
			}
			sr := sinkResult(res, s.Name)
			mc := runs.ManifestComponent{Snapshot: sr.Snapshot.ID, Plugin: sources[c], FileName: res.Header.GetFileName(),
				MediaType: res.Header.GetMediaType(), Directory: res.Header.GetLocalPath() != "",
				Size: res.Trailer.GetSize(), BytesAdded: sr.BytesAdded}
			if mc.Directory {
				mc.Size = sr.Snapshot.Size // what the target read from the directory
			}
			if !mc.Directory {
				mc.ChecksumAlgorithm = res.Trailer.GetChecksumAlgorithm()
				mc.Checksum = hex.EncodeToString(res.Trailer.GetChecksum())
			}
			manifests[s.Name].Components[c] = mc
			log.Info("component stored", "component", c, "target", s.Name, "snapshot", sr.Snapshot.ID,
				"bytes", mc.Size, "added", sr.BytesAdded, "transport", res.Transport)
		}
		if res.SourceErr != nil {
			// A failed source fails the run everywhere: stop here.
			break
		}
	}
	for _, s := range sinks {
		var err error
		if !okBy[s.Name] {
			err = firstErr(rep, s.Name)
			pending.abort(ctx, sinks, s.Name, err)
		} else {
			var id string
			mctx, cancel := withTimeout(ctx, s.StallTimeout)
			id, err = pending.commit(mctx, r, s, manifests[s.Name])
			cancel()
			rep.Manifests[s.Name] = id
		}
		if err == nil {
			continue
		}
		if s.Name == Local {
			rep.LocalErr = err
		} else {
			rep.OffsiteErr = fmt.Errorf("offsite: %w", err)
		}
	}
	if rep.LocalErr != nil {
		return rep, rep.LocalErr
	}
	state := r.readCatchUpState()
	synced := false
	switch {
	case len(sinks) < 2 || rep.OffsiteErr != nil || rep.Manifests[Offsite] == "":
	case !state.catchUpNeeded(time.Now()):
		// No run since the offsite repository was last known complete.
		synced = true
		log.Debug("offsite catch-up: nothing can be missing", "synced_run", state.OffsiteSyncedRun)
	default:
		rep.CatchUp, rep.CatchUpErr = r.CatchUp(ctx, local, sinks[1].P, rep.RunID)
		if rep.CatchUpErr != nil {
			log.Warn("offsite catch-up failed", "error", rep.CatchUpErr)
		} else if rep.CatchUp.Skipped == "" {
			synced = true
			state.Checked = time.Now()
		}
	}
	state.LocalLastRun = rep.RunID
	if synced {
		state.OffsiteSyncedRun = rep.RunID
	}
	r.writeCatchUpState(state)
	return rep, nil
}

func sinkResult(res *StreamResult, sink string) SinkResult {
	for _, s := range res.Sinks {
		if s.Sink == sink {
			return s
		}
	}
	return SinkResult{}
}

func firstErr(rep *BackupReport, sink string) error {
	for _, c := range rep.Components {
		if err := c.Result.Err(sink); err != nil {
			return fmt.Errorf("%s: %w", c.Component, err)
		}
	}
	return errors.New("run incomplete")
}

func (r *Runner) writeManifest(ctx context.Context, t *Plugin, m *runs.Manifest) (string, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	snap, err := WriteBytes(ctx, t, manifestHeader(m), b)
	if err != nil {
		return "", fmt.Errorf("writing the run manifest: %w", err)
	}
	return snap.ID, nil
}

func (r *Runner) initTarget(ctx context.Context, t *Plugin) (bool, error) {
	return InitRepository(ctx, r.Log, t, true)
}

// InitRepository creates the repository of a target instance when it does
// not exist. The offsite repository is created with the local one's
// storage parameters (restic: its chunker parameters), so runs the
// catch-up copies deduplicate with the others; opensNext as in
// InitRequest.
func InitRepository(ctx context.Context, log hclog.Logger, t *Plugin, opensNext bool) (bool, error) {
	if opensNext {
		ctx = sdk.WithInitOpensNext(ctx)
	}
	if t.Instance == Offsite {
		ctx = sdk.WithInitParamsFrom(ctx, Local)
	}
	created, err := t.Target().Init(ctx)
	if err != nil {
		return false, err
	}
	if created {
		log.Info("repository created", "target", t.Name, "instance", t.Instance)
	}
	return created, nil
}

// withTimeout bounds ctx by d; d ≤ 0 means no bound.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func (r *Runner) duration(key string, def time.Duration) (time.Duration, error) {
	v := r.Cfg.Get(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, config.Configf("%s=%q is not a duration: use e.g. 5m or 90s", key, v)
	}
	return d, nil
}

// ListRuns lists the restore points of a target instance, newest first.
func (r *Runner) ListRuns(ctx context.Context, instance string) ([]*runs.Run, *Plugin, error) {
	snaps, t, err := r.listSnapshots(ctx, instance)
	if err != nil {
		return nil, t, err
	}
	return runs.GroupRuns(snaps), t, nil
}

// ReadManifest fetches and decodes a run's manifest.
func ReadManifest(ctx context.Context, t *Plugin, run *runs.Run) (*runs.Manifest, error) {
	if run.Manifest == nil {
		return nil, nil
	}
	b, err := ReadBytes(ctx, t, run.Manifest.ID, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("reading manifest of run %s: %w", run.ID, err)
	}
	return runs.ParseManifest(b)
}

// RestoreOptions selects what a restore does.
type RestoreOptions struct {
	Selector   string
	Components []string
	Instance   string
	ToDatabase string
	ToDir      string
	// ReplaceDatabase lets a restore into ToDatabase replace an existing
	// database that is not empty (--replace-database).
	ReplaceDatabase bool
}

// RestoreReport says what was restored.
type RestoreReport struct {
	Run      *runs.Run
	Restored []string
	// Notes: what the operator must know or do after the restore, from
	// the sources (sdk.RestoreNote), each "component: note".
	Notes []string
}

// ResolveRestore finds the run a restore selects. The returned error wraps
// sdk.ErrNotFound when nothing matches.
func (r *Runner) ResolveRestore(ctx context.Context, opts RestoreOptions) (*runs.Run, []*runs.Run, *Plugin, error) {
	order, _, err := r.SourceMap()
	if err != nil {
		return nil, nil, nil, err
	}
	all, t, err := r.ListRuns(ctx, opts.Instance)
	if err != nil {
		return nil, nil, nil, err
	}
	want := opts.Components
	if len(want) == 0 && (opts.Selector == "" || opts.Selector == "latest") {
		want = order
	}
	run, err := runs.SelectRun(all, opts.Selector, want)
	return run, all, t, err
}

// Restore restores the components of a run.
func (r *Runner) Restore(ctx context.Context, run *runs.Run, t *Plugin, opts RestoreOptions) (*RestoreReport, error) {
	_, sources, err := r.SourceMap()
	if err != nil {
		return nil, err
	}
	// The manifest (one more restic start: a key derivation, ~0.9 s) is
	// read while the first component already streams: it is needed only
	// to check the stream's size and checksum at its end, before the
	// source sees end of file (docs/performance.md, P7).
	manifest := sync.OnceValues(func() (*runs.Manifest, error) { return ReadManifest(ctx, t, run) })
	ready := make(chan struct{})
	go func() { defer close(ready); _, _ = manifest() }()
	defer func() { <-ready }()
	comps := run.ComponentNames()
	if len(opts.Components) > 0 {
		for _, c := range opts.Components {
			if _, ok := run.Components[c]; !ok {
				return nil, fmt.Errorf("%w: run %s has no component %q (it has %s)", sdk.ErrNotFound, run.ID, c, strings.Join(comps, ", "))
			}
		}
		comps = opts.Components
	}
	rep := &RestoreReport{Run: run}
	for _, c := range comps {
		if _, ok := sources[c]; !ok {
			return rep, config.Configf("no source plugin for component %q in BACKUP_SOURCES", c)
		}
	}
	// Every source starts (and declares its components) before the first
	// byte is restored; the declared order is the backup's.
	srcs, err := r.startSources(ctx, comps, sources).wait()
	if err != nil {
		return rep, err
	}
	comps = orderComponents(comps, srcs)
	for _, c := range comps {
		src := srcs[c]
		component := func() (*runs.ManifestComponent, error) {
			man, err := manifest()
			if err != nil || man == nil {
				return nil, err
			}
			if m, ok := man.Components[c]; ok {
				return &m, nil
			}
			return nil, nil
		}
		snap := run.Components[c]
		r.Log.Info("restoring", "component", c, "snapshot", snap.ID, "run", run.ID)
		ctx, notes := withRestoreNotes(ctx)
		ropts := &pb.RestoreOptions{Component: c, ToDatabase: opts.ToDatabase, ToDirectory: opts.ToDir, ReplaceDatabase: opts.ReplaceDatabase}
		if bothRestorePaths(t, src) {
			// The manifest says which way the backup took: read it first.
			mc, merr := component()
			if merr != nil {
				return rep, merr
			}
			err = StreamRestore(ctx, t, src, snap, mc, ropts)
		} else {
			// Guess the default algorithm; a backup that recorded another
			// one is read again (the source rolled the first attempt back).
			err = streamRestore(ctx, t, src, snap, sdk.DefaultChecksum, component, ropts)
			var guess errChecksumGuess
			if errors.As(err, &guess) {
				r.Log.Info("reading again with the backup's checksum algorithm", "component", c, "algorithm", guess.algo)
				err = streamRestore(ctx, t, src, snap, guess.algo, component, ropts)
			}
		}
		if err != nil {
			return rep, fmt.Errorf("restoring %s from snapshot %s: %w", c, snap.ID, err)
		}
		rep.Restored = append(rep.Restored, c)
		for _, n := range *notes {
			rep.Notes = append(rep.Notes, c+": "+n)
		}
	}
	return rep, nil
}
