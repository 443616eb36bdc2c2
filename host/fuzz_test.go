// SPDX-License-Identifier: Apache-2.0

package host

// Fuzz targets for the values the host reads from the env file and from
// repositories (outside input). `go test` runs them over their seeds;
// `go test -fuzz=FuzzX ./host` explores.

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/retention"
)

func fuzzRunner(values map[string]string) *Runner {
	return NewRunner(config.NewConfig(values), hclog.NewNullLogger(), "")
}

// BACKUP_SOURCES: a valid spec maps every component to a plugin, once.
func FuzzSourceMap(f *testing.F) {
	f.Add(config.DefaultSources)
	f.Add("db=source-postgres, uploads = source-volume")
	f.Add("db=source-postgres,db=source-volume")
	f.Add("=x,y=")
	f.Add(",,")
	f.Fuzz(func(t *testing.T, spec string) {
		order, m, err := fuzzRunner(map[string]string{"BACKUP_SOURCES": spec}).SourceMap()
		if err != nil {
			if !errors.Is(err, config.ErrConfig) {
				t.Fatalf("not a configuration error: %v", err)
			}
			return
		}
		if len(order) == 0 || len(order) != len(m) {
			t.Fatalf("%q: order %v, map %v", spec, order, m)
		}
		for _, c := range order {
			if c == "" || m[c] == "" || c != strings.TrimSpace(c) || m[c] != strings.TrimSpace(m[c]) {
				t.Fatalf("%q: component %q → plugin %q", spec, c, m[c])
			}
		}
	})
}

// BACKUP_KEEP_* and the durations: configuration errors, or sane values.
func FuzzKeepAndDurations(f *testing.F) {
	f.Add("7", "4", "12", "5m")
	f.Add("0", "0", "0", "-1s")
	f.Add(" 3 ", "", "x", "90")
	f.Add("99999999999999999999", "1", "1", "9999999999h")
	f.Fuzz(func(t *testing.T, daily, weekly, monthly, dur string) {
		r := fuzzRunner(map[string]string{config.EnvKeepDaily: daily, config.EnvKeepWeekly: weekly, config.EnvKeepMonthly: monthly,
			"BACKUP_OFFSITE_STALL_TIMEOUT": dur})
		k, err := retention.PolicyFrom(r.Cfg)
		if err != nil {
			if !errors.Is(err, config.ErrConfig) {
				t.Fatalf("not a configuration error: %v", err)
			}
		} else if k.Daily < 0 || k.Weekly < 0 || k.Monthly < 0 || k.Daily+k.Weekly+k.Monthly == 0 {
			t.Fatalf("keep policy %+v from %q %q %q", k, daily, weekly, monthly)
		}
		d, err := r.duration("BACKUP_OFFSITE_STALL_TIMEOUT", time.Minute)
		if err != nil {
			if !errors.Is(err, config.ErrConfig) {
				t.Fatalf("not a configuration error: %v", err)
			}
		} else if d < 0 {
			t.Fatalf("negative duration %v from %q", d, dur)
		}
	})
}

// A run lock file written by another process.
func FuzzParseLockHolder(f *testing.F) {
	f.Add([]byte(`{"pid":42,"started":"2026-01-02T03:04:05Z","command":"timetiles-backup backup"}`))
	f.Add([]byte(`{"pid":-1}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseLockHolder(b)
		if err != nil {
			return
		}
		if h.PID <= 0 {
			t.Fatalf("holder with pid %d", h.PID)
		}
		_ = (&LockedError{Path: "/l", Repository: "/r", Holder: h}).Error()
	})
}
