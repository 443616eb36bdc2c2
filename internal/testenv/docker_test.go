// SPDX-License-Identifier: Apache-2.0

package testenv

import (
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
