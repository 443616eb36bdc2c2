// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/metrics"
)

// recordBackup records the outcome of a backup in the state file
// (host.State) for `status`; deferred by BackupCommand.backup once the run
// lock is held, with pointers to what it fills in (ret: the error it
// returns, which decides the exit code).
func (c *BackupCommand) recordBackup(r *host.Runner, rep **host.BackupReport, ret *error, runErr *error, offsite bool, start time.Time) {
	code := c.ExitCode(*ret)
	if code == ExitUsage {
		// A mistyped command line says nothing about the backups.
		return
	}
	rec := &host.BackupRecord{Time: start.UTC().Truncate(time.Second), Finished: time.Now().UTC().Truncate(time.Second),
		ExitStatus: code, Offsite: offsite}
	if *rep != nil {
		rec.RunID = (*rep).RunID
		rec.OffsiteOK = offsite && (*rep).Manifests[host.Local] != "" && (*rep).Manifests[host.Offsite] != ""
	}
	if *runErr != nil {
		rec.Error = r.Scrub((*runErr).Error())
	}
	r.UpdateState(func(s *host.State) { s.LastBackup = rec })
}

// recordVerify records the outcome of a verify (and of its restore drill)
// in the state file. Skipped repositories (a write-only key) keep their
// previous record.
func (c *VerifyCommand) recordVerify(r *host.Runner, rep *host.VerifyReport, err error, offsite bool, start time.Time) {
	at := start.UTC().Truncate(time.Second)
	st := r.UpdateState(func(s *host.State) {
		if s.LastVerify == nil {
			s.LastVerify = map[string]*host.VerifyRecord{}
		}
		if rep == nil {
			// Verify could not start (no repository, a plugin that will
			// not run): a failed verify of what was asked.
			msg := "verify failed"
			if err != nil {
				msg = r.Scrub(err.Error())
			}
			s.LastVerify[host.Local] = &host.VerifyRecord{Time: at, Error: msg}
			if offsite {
				s.LastVerify[host.Offsite] = &host.VerifyRecord{Time: at, Error: msg}
			}
			return
		}
		for _, rc := range rep.Repositories {
			if rc.Skipped != "" {
				continue
			}
			rec := &host.VerifyRecord{Time: at, OK: true, Run: rc.Run}
			if e := errors.Join(rc.CheckErr, rc.Err, componentErrs(rc)); e != nil {
				rec.OK, rec.Error = false, r.Scrub(e.Error())
			}
			s.LastVerify[rc.Instance] = rec
		}
		if len(rep.RestoreTests) > 0 {
			rec := &host.RestoreTestRecord{Time: at, OK: true, Run: runOf(rep)}
			var comps []string
			var errs []error
			for _, t := range rep.RestoreTests {
				if t.Component != "" {
					comps = append(comps, t.Component)
				}
				rec.Duration += t.Duration
				if t.Err != nil {
					errs = append(errs, t.Err)
				}
			}
			rec.Component = strings.Join(comps, ",")
			if e := errors.Join(errs...); e != nil {
				rec.OK, rec.Error = false, r.Scrub(e.Error())
			}
			s.LastRestoreTest = rec
		}
	})
	if path := r.Cfg.Get(config.EnvMetricsFile); path != "" {
		if err := metrics.WriteVerify(path, st); err != nil {
			c.UI.Warn("Warning: " + err.Error())
		}
	}
}

func componentErrs(rc *host.RepositoryCheck) error {
	var errs []error
	for _, cc := range rc.Components {
		errs = append(errs, cc.Err)
	}
	return errors.Join(errs...)
}
