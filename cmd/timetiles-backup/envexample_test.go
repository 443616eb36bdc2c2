// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/joho/godotenv"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/sdk"
)

// bundledInfos starts every bundled plugin (plugins/*) and returns its Info.
func bundledInfos(t *testing.T) []sdk.Info {
	t.Helper()
	bin := testenv.BuildBinaries(t)
	dirs, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "plugins", "*"))
	if err != nil || len(dirs) < 4 {
		t.Fatalf("bundled plugins: %v %v", dirs, err)
	}
	m := &plugin.Manager{Logger: hclog.NewNullLogger()}
	defer m.Close()
	var infos []sdk.Info
	for _, d := range dirs {
		name := filepath.Base(d)
		kind, _ := plugin.KindOfName(name)
		p, err := m.Launch(context.Background(), plugin.Candidate{Name: name, Kind: kind, Path: filepath.Join(bin, plugin.BinaryPrefix+name)})
		if err != nil {
			t.Fatalf("plugin %s: %v", name, err)
		}
		infos = append(infos, p.Info)
	}
	return infos
}

// internalKeys are names the code uses that are not configuration: the
// fd channel and go-plugin's handshake cookie, set by the host for plugins.
var internalKeys = map[string]bool{wire.EnvFDChannel: true, wire.Handshake.MagicCookieKey: true}

var keyLiteral = regexp.MustCompile(`^(BACKUP|TIMETILES|RESTIC)_[A-Z0-9_]+$`)

// codeKeys finds every variable-name string literal in the host's (its
// subpackages included), the CLI's and the SDK's code (tests excluded).
func codeKeys(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	dirs := []string{"host", "cmd/timetiles-backup", "sdk"}
	subs, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "host", "*", "*.go"))
	for _, f := range subs {
		if d, _ := filepath.Rel(testenv.RepoRoot(), filepath.Dir(f)); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, dir := range dirs {
		forEachGoFile(t, filepath.Join(testenv.RepoRoot(), dir), func(f string, af *ast.File) {
			ast.Inspect(af, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && keyLiteral.MatchString(s) && !internalKeys[s] {
						out[s] = filepath.Join(dir, filepath.Base(f))
					}
				}
				return true
			})
		})
	}
	return out
}

// forEachGoFile parses every non-test Go file of dir.
func forEachGoFile(t *testing.T, dir string, fn func(path string, f *ast.File)) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		fn(f, af)
	}
}

// TestEnvExampleInSync: examples/env.production.example lists every
// variable the host reads and every bundled plugin declares, exactly once,
// with the default the code declares; and the host declares every variable
// its code names.
func TestEnvExampleInSync(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	known := map[string]config.KnownKey{}
	for _, k := range config.KnownKeys(bundledInfos(t)) {
		known[k.Name] = k
	}
	for k, file := range codeKeys(t) {
		if _, ok := known[k]; !ok {
			t.Errorf("%s (named in %s) is read but declared nowhere: add it to config.HostKeys (host/config/keys.go) and to examples/env.production.example", k, file)
		}
	}

	path := filepath.Join(testenv.RepoRoot(), "examples", "env.production.example")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := godotenv.Unmarshal(string(data)); err != nil {
		t.Fatalf("the example is not a valid env file: %v", err)
	}
	assign := regexp.MustCompile(`^#?([A-Z][A-Z0-9_]*)=`)
	lines := strings.Split(string(data), "\n")
	seen := map[string]int{}
	for i, l := range lines {
		m := assign.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		k := m[1]
		seen[k]++
		kk, ok := known[k]
		if !ok {
			t.Errorf("line %d: %s is not read by timetiles-backup or a bundled plugin", i+1, k)
			continue
		}
		// The comment block right above names the declared default.
		var block []string
		for j := i - 1; j >= 0 && strings.HasPrefix(lines[j], "#") && !assign.MatchString(lines[j]); j-- {
			block = append(block, lines[j])
		}
		if kk.Default != "" && !contains(block, "# Default: "+kk.Default) {
			t.Errorf("line %d: %s: the comment above must say \"# Default: %s\" (the declared default)", i+1, k, kk.Default)
		}
		if kk.Default == "" {
			for _, b := range block {
				if strings.HasPrefix(b, "# Default: ") {
					t.Errorf("line %d: %s has no declared default but the example gives %q", i+1, k, b)
				}
			}
		}
	}
	var missing []string
	for k := range known {
		switch seen[k] {
		case 0:
			missing = append(missing, k)
		case 1:
		default:
			t.Errorf("%s appears %d times", k, seen[k])
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("missing from examples/env.production.example: %s", strings.Join(missing, ", "))
	}
}
