// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/sdk"
)

// CheckTimeout bounds one plugin's Check call (sdk.Checker asks plugins to
// answer within 30 seconds; sdk/conformance checks it).
const CheckTimeout = 60 * time.Second

// PluginCheck is what one plugin reported when asked to check itself
// (`timetiles-backup init`).
type PluginCheck struct {
	// Role is what the plugin is for: its component ("db"), its target
	// instance ("local", "offsite") or "notifier".
	Role    string
	Plugin  string
	Version string
	// Findings are what the plugin verified and what is wrong, with fixes.
	Findings []sdk.Finding
	// Unsupported: the plugin cannot check itself (built before the Check
	// call, or without sdk.Checker). It started and accepted its
	// configuration; there are no findings.
	Unsupported bool
	// Err: the plugin did not start, refused its configuration, or its
	// check failed.
	Err error
	// Running is the started, configured plugin (nil when Err says it did
	// not start); the Runner stops it on Close.
	Running *plugin.Plugin
}

// Problems counts what must be fixed: error findings, and Err.
func (c *PluginCheck) Problems() int {
	n := 0
	if c.Err != nil {
		n++
	}
	for _, f := range c.Findings {
		if f.Severity == sdk.SeverityError {
			n++
		}
	}
	return n
}

// CheckPlugin starts and configures plugin name as instance and asks it to
// check itself.
func (r *Runner) CheckPlugin(ctx context.Context, name, instance, role string) *PluginCheck {
	pc := &PluginCheck{Role: role, Plugin: name}
	p, err := r.Start(ctx, name, instance)
	if err != nil {
		pc.Err = r.ScrubError(err)
		return pc
	}
	pc.Running, pc.Version = p, p.Info.Version
	cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	fs, err := p.Checker().Check(cctx)
	switch {
	case errors.Is(err, sdk.ErrUnimplemented):
		pc.Unsupported = true
	case err != nil:
		pc.Err = r.ScrubError(err)
	}
	for _, f := range fs {
		f.Detail, f.Problem, f.Fix = r.Scrub(f.Detail), r.Scrub(f.Problem), r.Scrub(f.Fix)
		pc.Findings = append(pc.Findings, f)
	}
	return pc
}

// checkAll runs CheckPlugin for each of names (with instances and roles)
// at once and returns the results in the same order.
func (r *Runner) checkAll(ctx context.Context, names, instances, roles []string) []*PluginCheck {
	r.Candidates() // discovery runs once, before the goroutines read its result
	out := make([]*PluginCheck, len(names))
	var wg sync.WaitGroup
	for i := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = r.CheckPlugin(ctx, names[i], instances[i], roles[i])
		}()
	}
	wg.Wait()
	return out
}

// CheckSources asks the source of every component of BACKUP_SOURCES to
// check itself, in BACKUP_SOURCES order.
func (r *Runner) CheckSources(ctx context.Context) ([]*PluginCheck, error) {
	order, sources, err := r.SourceMap()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(order))
	for i, c := range order {
		names[i] = sources[c]
	}
	return r.checkAll(ctx, names, order, order), nil
}

// TargetInstances are the target instances this configuration uses: the
// local one, and the offsite one when RESTIC_OFFSITE_REPOSITORY is set (or
// the target is not target-restic, whose offsite settings the host does
// not know).
func (r *Runner) TargetInstances() []string {
	if r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget) != config.DefaultTarget || r.Cfg.Get("RESTIC_OFFSITE_REPOSITORY") != "" {
		return []string{Local, Offsite}
	}
	return []string{Local}
}

// CheckTargets asks the target of every instance (TargetInstances) to
// check itself.
func (r *Runner) CheckTargets(ctx context.Context) []*PluginCheck {
	insts := r.TargetInstances()
	names := make([]string, len(insts))
	for i := range insts {
		names[i] = r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget)
	}
	return r.checkAll(ctx, names, insts, insts)
}

// CheckNotifiers asks every notifier of BACKUP_NOTIFIERS to check itself.
func (r *Runner) CheckNotifiers(ctx context.Context) []*PluginCheck {
	names := r.Notifiers()
	insts, roles := make([]string, len(names)), make([]string, len(names))
	for i := range names {
		roles[i] = "notifier"
	}
	return r.checkAll(ctx, names, insts, roles)
}

// CheckSettings checks the host's own settings a backup reads (the ones
// no plugin declares), as `backup --dry-run` does.
func (r *Runner) CheckSettings() error {
	if _, err := r.ChecksumAlgorithm(); err != nil {
		return err
	}
	_, err := r.duration("BACKUP_OFFSITE_STALL_TIMEOUT", 0)
	return err
}
