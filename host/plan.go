// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Components resolves the components a backup works on (all of
// BACKUP_SOURCES when none are named) and their source plugins.
func (r *Runner) Components(named []string) ([]string, map[string]string, error) {
	order, sources, err := r.SourceMap()
	if err != nil {
		return nil, nil, err
	}
	comps := named
	if len(comps) == 0 {
		comps = order
	}
	for _, c := range comps {
		if _, ok := sources[c]; !ok {
			return nil, nil, config.Configf("unknown component %q: known components are %s (BACKUP_SOURCES)", c, strings.Join(order, ", "))
		}
	}
	return comps, sources, nil
}

// PlanComponent is one component a backup run would stream.
type PlanComponent struct {
	Component string
	Plugin    string
	Version   string
	// Err is set when the source plugin cannot start or rejects its
	// configuration.
	Err error
}

// PlanTarget is one repository a backup run would write.
type PlanTarget struct {
	Instance string
	Plugin   string
	// Exists is false when the repository is not created yet (the first
	// backup creates it).
	Exists bool
	// Runs counts the restore points already in it (when readable).
	Runs int
	// Err is set when the target cannot start, rejects its configuration,
	// or cannot be read (a write-only offsite key cannot list: the backup
	// still works, so that is Warning, not Err).
	Err     error
	Warning string
}

// Plan is what a backup run would do, found out without writing anything.
type Plan struct {
	Components []PlanComponent
	Targets    []PlanTarget
	Notifiers  []string
}

// Err returns the first error that would make the backup fail (local
// target, a source, any configuration error); an offsite repository that
// cannot be reached is only a warning, as in Backup.
func (p *Plan) Err() error {
	for _, t := range p.Targets {
		if t.Instance == Local && t.Err != nil {
			return fmt.Errorf("local repository: %w", t.Err)
		}
		if t.Err != nil && errors.Is(t.Err, config.ErrConfig) {
			// Backup refuses to start on an offsite configuration error too.
			return fmt.Errorf("%s repository: %w", t.Instance, t.Err)
		}
	}
	for _, c := range p.Components {
		if c.Err != nil {
			return fmt.Errorf("component %s: %w", c.Component, c.Err)
		}
	}
	return nil
}

// Plan starts and configures every plugin a backup with opts would use and
// looks at the repositories (read only: no repository is created, no
// snapshot written). It is `backup --dry-run` and part of `init`.
func (r *Runner) Plan(ctx context.Context, opts BackupOptions) (*Plan, error) {
	comps, sources, err := r.Components(opts.Components)
	if err != nil {
		return nil, err
	}
	if _, err := r.ChecksumAlgorithm(); err != nil {
		return nil, err
	}
	if _, err := r.duration("BACKUP_OFFSITE_STALL_TIMEOUT", 0); err != nil {
		return nil, err
	}
	p := &Plan{}
	insts := []string{Local}
	if opts.Offsite {
		insts = append(insts, Offsite)
	}
	targetName := r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget)
	for _, inst := range insts {
		pt := PlanTarget{Instance: inst, Plugin: targetName}
		t, err := r.Start(ctx, targetName, inst)
		if err == nil {
			var snaps []sdk.Snapshot
			snaps, err = t.Target().List(ctx, nil)
			switch {
			case err == nil:
				pt.Exists = true
				pt.Runs = len(runs.GroupRuns(snaps))
			case errors.Is(err, sdk.ErrNotFound):
				err = nil
			case inst == Offsite && IsPermission(err):
				pt.Exists = true
				pt.Warning = "the offsite key may not list snapshots (write-only): backups still work"
				err = nil
			}
		}
		pt.Err = err
		p.Targets = append(p.Targets, pt)
	}
	srcs := map[string]*plugin.Plugin{}
	for _, c := range comps {
		pc := PlanComponent{Component: c, Plugin: sources[c]}
		s, err := r.Start(ctx, sources[c], c)
		if err == nil {
			pc.Version = s.Info.Version
			srcs[c] = s
		}
		pc.Err = err
		p.Components = append(p.Components, pc)
	}
	// In the order the backup streams them (BackupFirst first).
	byName := map[string]PlanComponent{}
	for _, pc := range p.Components {
		byName[pc.Component] = pc
	}
	for i, c := range orderComponents(comps, srcs) {
		p.Components[i] = byName[c]
	}
	for _, n := range strings.Split(r.Cfg.GetDefault("BACKUP_NOTIFIERS", config.DefaultNotifiers), ",") {
		if n = strings.TrimSpace(n); n != "" {
			p.Notifiers = append(p.Notifiers, n)
		}
	}
	return p, nil
}
