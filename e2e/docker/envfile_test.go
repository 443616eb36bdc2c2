// SPDX-License-Identifier: Apache-2.0

package dockere2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// The quoting the operator guide recommends for values with $, #, spaces
// and quotes gives the same value to bash (`source .env.production`, as
// TimeTiles' deploy scripts do), to `docker compose --env-file` (which
// hands DB_PASSWORD to the database container) and to timetiles-backup.
func TestEnvFileQuotingAgrees(t *testing.T) {
	d := testenv.RequireDocker(t)
	cases := []struct{ line, want string }{
		{`V='pa$s #1 "x" and spaces'`, `pa$s #1 "x" and spaces`},
		{`V="it's \$ecret # x"`, `it's $ecret # x`},
		{`V="Time Tiles # O'Reilly's maps"`, `Time Tiles # O'Reilly's maps`},
	}
	for _, c := range cases {
		dir := t.TempDir()
		env := filepath.Join(dir, ".env.production")
		if err := os.WriteFile(env, []byte("# settings\n"+c.line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "c.yml"), []byte("services:\n  x:\n    image: "+testenv.BaseImage+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "-c", `set -euo pipefail; source ./.env.production; printf %s "$V"`)
		cmd.Dir = dir
		bash, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: bash could not source it: %v", c.line, err)
		}
		// The variables compose interpolates the compose file with.
		cc := d.Command("compose", "-p", "quoting", "-f", "c.yml", "--env-file", ".env.production", "config", "--environment")
		cc.Dir = dir
		out, err := cc.Output()
		if err != nil {
			t.Fatalf("%s: docker compose config --environment: %v", c.line, err)
		}
		composeV := "<unset>"
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(l, "V="); ok {
				composeV = v
			}
		}
		hc, err := config.LoadConfig(env, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		got := map[string]string{"bash": string(bash), "docker compose": composeV, "timetiles-backup": hc.Get("V")}
		for who, v := range got {
			if v != c.want {
				t.Errorf("%s: %s reads %q, want %q", c.line, who, v, c.want)
			}
		}
	}
}
