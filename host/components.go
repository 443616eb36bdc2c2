// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"sort"

	"github.com/timetiles/timetiles-backup/sdk"
)

// The host decides what to do with a component from what its source
// declares (sdk.ComponentSpec), never from its name: a third-party source's
// database is restored as a database, and backed up before the directories
// its rows refer to, when it says so.

// orderComponents puts the components whose sources declare BackupFirst
// before the others, each group in the order given (BACKUP_SOURCES order).
// Backups and restores both follow it.
func orderComponents(comps []string, srcs map[string]*Plugin) []string {
	out := append([]string(nil), comps...)
	sort.SliceStable(out, func(i, j int) bool {
		return srcs[out[i]].Spec(out[i]).BackupFirst && !srcs[out[j]].Spec(out[j]).BackupFirst
	})
	return out
}

// ComponentSpecs asks the source plugins of comps what they declare about
// them (their Info; they are not configured). A component without a source
// in BACKUP_SOURCES gets the zero spec: Restore reports it.
func (r *Runner) ComponentSpecs(ctx context.Context, comps []string) (map[string]sdk.ComponentSpec, error) {
	_, sources, err := r.SourceMap()
	if err != nil {
		return nil, err
	}
	out := map[string]sdk.ComponentSpec{}
	infos := map[string]sdk.Info{} // one launch per plugin
	for _, c := range comps {
		name, ok := sources[c]
		if !ok {
			out[c] = sdk.ComponentSpec{Name: c}
			continue
		}
		info, ok := infos[name]
		if !ok {
			cand, err := r.find(name)
			if err != nil {
				return nil, err
			}
			p, err := r.Manager.Launch(ctx, cand)
			if err != nil {
				return nil, err
			}
			info = sdk.InfoFromPB(p.Info)
			infos[name] = info
		}
		out[c] = info.Spec(c)
	}
	return out, nil
}
