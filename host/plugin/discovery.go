// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/timetiles/timetiles-backup/sdk"
)

// BinaryPrefix starts every plugin binary's name: a plugin named
// "source-postgres" is the executable timetiles-backup-source-postgres.
const BinaryPrefix = "timetiles-backup-"

// KindOfName derives a plugin's kind from its name: "source-…",
// "target-…", "notify-…" (or "notifier-…").
func KindOfName(name string) (string, bool) {
	switch {
	case strings.HasPrefix(name, "source-"):
		return sdk.KindSource, true
	case strings.HasPrefix(name, "target-"):
		return sdk.KindTarget, true
	case strings.HasPrefix(name, "notify-"), strings.HasPrefix(name, "notifier-"):
		return sdk.KindNotifier, true
	}
	return "", false
}

// Candidate is a plugin binary found on disk.
type Candidate struct {
	Name string // e.g. "source-postgres"
	Kind string // sdk.KindSource, sdk.KindTarget, sdk.KindNotifier
	Path string
	// Shadowed lists later paths with the same name that were not used.
	Shadowed []string
}

// SearchDirs returns the directories searched, in order: the explicit
// directory (flag or TIMETILES_BACKUP_PLUGIN_DIR), the directory of the
// running executable (and its ../lib/timetiles-backup for packaged
// installs), then the directories of pathEnv ($PATH, or "" when $PATH is
// not searched: see config.EnvSearchPath).
func SearchDirs(explicit, pathEnv string) []string {
	var dirs []string
	if explicit != "" {
		dirs = append(dirs, explicit)
	}
	if exe, err := os.Executable(); err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
		d := filepath.Dir(exe)
		dirs = append(dirs, d, filepath.Join(d, "..", "lib", "timetiles-backup"))
	}
	dirs = append(dirs, filepath.SplitList(pathEnv)...)
	seen := map[string]bool{}
	out := dirs[:0]
	for _, d := range dirs {
		if d == "" {
			continue
		}
		c := filepath.Clean(d)
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// Discover lists plugin binaries in dirs; the first directory wins a name.
func Discover(dirs []string) []Candidate {
	byName := map[string]*Candidate{}
	var order []string
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			n := e.Name()
			if !strings.HasPrefix(n, BinaryPrefix) || strings.ContainsAny(n, ".~") {
				continue
			}
			name := strings.TrimPrefix(n, BinaryPrefix)
			kind, ok := KindOfName(name)
			if !ok {
				continue
			}
			p := filepath.Join(d, n)
			st, err := os.Stat(p)
			if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
				continue
			}
			if c, ok := byName[name]; ok {
				c.Shadowed = append(c.Shadowed, p)
				continue
			}
			byName[name] = &Candidate{Name: name, Kind: kind, Path: p}
			order = append(order, name)
		}
	}
	sort.Strings(order)
	out := make([]Candidate, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	return out
}
