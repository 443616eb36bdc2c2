// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/sdk"
)

// The host decides what to do with a component from what its source
// declares (sdk.ComponentSpec), never from its name: a third-party source's
// database is restored as a database, and backed up before the directories
// its rows refer to, when it says so.

// orderComponents puts the components whose sources declare BackupFirst
// before the others, each group in the order given (BACKUP_SOURCES order).
// Backups and restores both follow it.
func orderComponents(comps []string, srcs map[string]*plugin.Plugin) []string {
	out := append([]string(nil), comps...)
	sort.SliceStable(out, func(i, j int) bool {
		return srcs[out[i]].Spec(out[i]).BackupFirst && !srcs[out[j]].Spec(out[j]).BackupFirst
	})
	return out
}

// ComponentSpecs asks the source plugins of comps what they declare about
// them (their Info; they are not configured), launching each plugin once,
// all at once (~30 ms each). A component without a source in
// BACKUP_SOURCES gets the zero spec: Restore reports it.
func (r *Runner) ComponentSpecs(ctx context.Context, comps []string) (map[string]sdk.ComponentSpec, error) {
	_, sources, err := r.SourceMap()
	if err != nil {
		return nil, err
	}
	r.Candidates() // discovery runs once, before the goroutines read its result
	var names []string
	for _, c := range comps {
		if n, ok := sources[c]; ok && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	infos := make([]sdk.Info, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cand, err := r.find(name)
			if err != nil {
				errs[i] = err
				return
			}
			p, err := r.Manager.Launch(ctx, cand)
			if err != nil {
				errs[i] = err
				return
			}
			infos[i] = p.Info
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // the first plugin's, as a sequential start would report
		}
	}
	out := map[string]sdk.ComponentSpec{}
	for _, c := range comps {
		out[c] = sdk.ComponentSpec{Name: c}
		if i := slices.Index(names, sources[c]); i >= 0 {
			out[c] = infos[i].Spec(c)
		}
	}
	return out, nil
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
