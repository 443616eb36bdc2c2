// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// unmarshalRuns reads the runs of `backup list --json`.
func unmarshalRuns(s string, v any) error {
	var out struct {
		Runs json.RawMessage `json:"runs"`
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return err
	}
	if out.Runs == nil {
		return fmt.Errorf("no runs in %q", s)
	}
	return json.Unmarshal(out.Runs, v)
}

// schemaFor maps each command with --json to its schema in docs/json.
var schemaFor = map[string]string{
	"BackupCommand":  "backup.schema.json", // and backup-dry-run.schema.json for --dry-run
	"ListCommand":    "list.schema.json",
	"VerifyCommand":  "verify.schema.json",
	"PruneCommand":   "prune.schema.json",
	"PluginsCommand": "plugins.schema.json",
	"ConfigCommand":  "config.schema.json",
	"StatusCommand":  "status.schema.json",
}

// compileSchema loads docs/json/name; the schemas are valid draft 2020-12.
func compileSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	s, err := c.Compile(filepath.Join(testenv.RepoRoot(), "docs", "json", name))
	if err != nil {
		t.Fatalf("schema %s: %v", name, err)
	}
	return s
}

var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// checkContract validates one real output against its schema and checks
// what a schema cannot say: every key of a fixed object is snake_case.
func checkContract(t *testing.T, what, schema, out string) map[string]any {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, out)
	}
	if err := compileSchema(t, schema).Validate(inst); err != nil {
		t.Errorf("%s does not match docs/json/%s: %v\n%s", what, schema, err, out)
	}
	m, _ := inst.(map[string]any)
	if v, ok := m["schema_version"].(json.Number); !ok || v.String() != "1" {
		t.Errorf("%s: schema_version %v", what, m["schema_version"])
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				// Maps keyed by data (components, repositories) hold names.
				if !snakeKey.MatchString(k) && !strings.HasSuffix(path, ".components") && !strings.HasSuffix(path, ".repositories") &&
					!strings.HasSuffix(path, ".manifests") {
					t.Errorf("%s: key %s%s is not snake_case", what, path, "."+k)
				}
				walk(path+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		}
	}
	walk("", inst)
	return m
}

// TestJSONContractsCoverEveryJSONFlag: every command with --json has its
// schema in docs/json, and every schema there compiles.
func TestJSONContractsCoverEveryJSONFlag(t *testing.T) {
	for typ, flags := range runFlags(t) {
		if !contains(flags, "json") {
			continue
		}
		name, ok := schemaFor[typ]
		if !ok {
			t.Errorf("%s has --json but no schema in docs/json (schemaFor)", typ)
			continue
		}
		if _, err := os.Stat(filepath.Join(testenv.RepoRoot(), "docs", "json", name)); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "docs", "json", "*.schema.json"))
	sort.Strings(files)
	for _, f := range files {
		compileSchema(t, filepath.Base(f))
	}
	if len(files) < 7 {
		t.Errorf("docs/json has %d schemas", len(files))
	}
}

// TestJSONContracts runs every --json output for real (a database and
// uploads backed up into a real restic repository, a broken offsite
// repository for a failed component) and validates each against its schema.
func TestJSONContracts(t *testing.T) {
	e := newEnv(t, true)
	mustRun(t, e.run("init"), 0, "init")

	r := mustRun(t, e.run("backup", "--json"), 0, "backup --json")
	b := checkContract(t, "backup --json", "backup.schema.json", r.stdout)
	if comps, _ := b["components"].([]any); len(comps) != 2 {
		t.Errorf("backup --json: components %v", b["components"])
	}
	if m, _ := b["manifests"].(map[string]any); m["local"] == nil {
		t.Errorf("backup --json: manifests %v", b["manifests"])
	}

	// A failed component: the offsite repository cannot be written. The
	// local run completes (exit 0, offsite warning); the offsite entries
	// carry their error and no checksum (the schema says so too).
	offsite := filepath.Join(e.dir, "offsite")
	e.vars["RESTIC_OFFSITE_REPOSITORY"] = offsite
	mustRun(t, e.run("init"), 0, "init with an offsite repository")
	// restic fails every write into the offsite repository.
	realRestic := e.vars["BACKUP_RESTIC_BIN"]
	wrapper := filepath.Join(e.dir, "restic-offsite-fails")
	if err := os.WriteFile(wrapper, []byte(`#!/bin/sh
case " $* " in *" backup "*)
  case "$RESTIC_REPOSITORY $*" in *`+offsite+`*) echo "Fatal: simulated write failure" >&2; exit 1 ;; esac ;;
esac
exec `+realRestic+` "$@"
`), 0o755); err != nil {
		t.Fatal(err)
	}
	e.vars["BACKUP_RESTIC_BIN"] = wrapper
	r = e.run("backup", "--offsite", "--json")
	e.vars["BACKUP_RESTIC_BIN"] = realRestic
	b = checkContract(t, "backup --offsite --json (offsite failing)", "backup.schema.json", r.stdout)
	failed := 0
	for _, c := range b["components"].([]any) {
		c := c.(map[string]any)
		if c["error"] != nil {
			failed++
			if c["checksum"] != nil || c["checksum_algorithm"] != nil {
				t.Errorf("a failed component carries a checksum: %v", c)
			}
		} else if c["component"] == "db" && c["checksum"] == nil {
			t.Errorf("a stored stream carries no checksum: %v", c)
		}
	}
	if failed == 0 {
		t.Errorf("no failed component with a failing offsite repository:\n%s\n%s", r.stdout, r.stderr)
	}
	delete(e.vars, "RESTIC_OFFSITE_REPOSITORY")

	r = mustRun(t, e.run("backup", "--dry-run", "--json"), 0, "backup --dry-run --json")
	checkContract(t, "backup --dry-run --json", "backup-dry-run.schema.json", r.stdout)

	r = mustRun(t, e.run("backup", "list", "--json"), 0, "backup list --json")
	l := checkContract(t, "backup list --json", "list.schema.json", r.stdout)
	if runs, _ := l["runs"].([]any); len(runs) != 2 {
		t.Errorf("backup list --json: %d runs", len(runs))
	}

	r = mustRun(t, e.run("backup", "verify", "--json"), 0, "backup verify --json")
	checkContract(t, "backup verify --json", "verify.schema.json", r.stdout)

	r = mustRun(t, e.run("backup", "prune", "--dry-run", "--json"), 0, "backup prune --dry-run --json")
	checkContract(t, "backup prune --dry-run --json", "prune.schema.json", r.stdout)

	r = mustRun(t, e.run("plugins", "--json"), 0, "plugins --json")
	p := checkContract(t, "plugins --json", "plugins.schema.json", r.stdout)
	if ps, _ := p["plugins"].([]any); len(ps) < 4 {
		t.Errorf("plugins --json: %v", p["plugins"])
	}

	r = mustRun(t, e.run("config", "--json"), 0, "config --json")
	checkContract(t, "config --json", "config.schema.json", r.stdout)
}
