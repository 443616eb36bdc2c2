// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The PostGIS image initialises like the official postgres image: the user,
// password (scram over TCP, special characters intact) and database come
// from POSTGRES_*; PostGIS is installable; the argv of the container's
// processes holds no password; the container is removed at the end.
func TestDockerPostGIS(t *testing.T) {
	d := RequireDocker(t)
	name := "ttb-testenv-" + strconv.Itoa(os.Getpid()) + "-postgres"
	pw := `Sc'ram $ecret #1 "p@ss" \ ü`
	var c *PGContainer
	t.Run("start", func(t *testing.T) {
		c = d.StartPostGIS(t, PGOptions{Name: name, User: "timetiles_user", Password: pw, Database: "timetiles"})
		if got := c.Psql(t, "timetiles", "SELECT current_user || ' ' || current_database()"); got != "timetiles_user timetiles" {
			t.Errorf("user and database = %q", got)
		}
		if _, err := c.psql("timetiles", "SELECT 1", true); err != nil {
			t.Errorf("scram login over TCP with the password: %v", err)
		}
		wrong := *c
		wrong.Password = "wrong"
		if _, err := wrong.psql("timetiles", "SELECT 1", true); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
			t.Errorf("login with a wrong password = %v, want password authentication failed", err)
		}
		if got := c.Psql(t, "timetiles", "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = current_user"); got != "t" {
			t.Errorf("password stored as scram: %q", got)
		}
		c.SeedTimeTiles(t, "timetiles")
		dg := c.Digests(t, "timetiles")
		if dg["public.events"] == "" || !strings.HasPrefix(dg["public.events"], "5000:") || !strings.Contains(dg["objects:extensions"], "postgis") {
			t.Errorf("digests after seeding: %v", dg)
		}
		top := d.Top(name)
		if len(top) == 0 || !strings.Contains(strings.Join(top, "\n"), "postgres") {
			t.Errorf("docker top %s = %q", name, top)
		}
		for _, line := range append(top, Cmdlines()...) {
			if strings.Contains(line, pw) {
				t.Errorf("password in an argv: %s", line)
			}
		}
	})
	if d.Command("inspect", name).Run() == nil {
		t.Errorf("container %s still exists after its test", name)
	}
}

// verdictTB records whether a test was failed or skipped.
type verdictTB struct {
	testing.TB
	fatal, skip string
}

func (v *verdictTB) Helper()                        {}
func (v *verdictTB) Fatalf(format string, a ...any) { v.fatal = fmt.Sprintf(format, a...) }
func (v *verdictTB) Skipf(format string, a ...any)  { v.skip = fmt.Sprintf(format, a...) }

// Without an engine a Docker test fails under CI=true (the test command
// installs Docker there) and is skipped with the reason elsewhere.
func TestRequireDockerFailsUnderCI(t *testing.T) {
	noEngine := errors.New("docker info: Cannot connect to the Docker daemon")
	t.Setenv("CI", "true")
	v := &verdictTB{TB: t}
	if requireDocker(v, nil, noEngine) != nil || v.fatal == "" || v.skip != "" || !strings.Contains(v.fatal, "Cannot connect") {
		t.Errorf("under CI=true: fatal %q, skip %q; want a failure naming the cause", v.fatal, v.skip)
	}
	t.Setenv("CI", "")
	v = &verdictTB{TB: t}
	if requireDocker(v, nil, noEngine) != nil || v.skip == "" || v.fatal != "" || !strings.Contains(v.skip, "scripts/docker-env.sh") {
		t.Errorf("outside CI: fatal %q, skip %q; want a skip saying how to get an engine", v.fatal, v.skip)
	}
	d := &Docker{Bin: "/usr/bin/docker"}
	if got := requireDocker(&verdictTB{TB: t}, d, nil); got != d {
		t.Errorf("with an engine: %v", got)
	}
}
