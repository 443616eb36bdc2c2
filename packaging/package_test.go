// Package packaging tests the release artifacts: the .deb and the tarball
// built by scripts/package.sh (make package) install the CLI and the bundled
// plugins where the CLI finds them.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

var bundled = []string{"notify-alert", "notify-ntfy", "source-postgres", "source-volume", "target-restic"}

// checkPlugins runs `timetiles-backup plugins` from an installed tree, with
// no plugin directory configured and nothing on PATH: every bundled plugin
// must be found next to the CLI and start.
func checkPlugins(t *testing.T, cli, libDir string) {
	t.Helper()
	cmd := exec.Command(cli, "plugins")
	// Both bundled notifiers configured, so that both are started.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "BACKUP_NOTIFIERS=notify-alert,notify-ntfy", "NTFY_URL=http://127.0.0.1:9/packaging"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s plugins: %v\n%s", cli, err, out)
	}
	for _, p := range bundled {
		// Every bundled plugin carries the version the CLI reports.
		re := regexp.MustCompile(`(?m)^` + p + ` +\w+ +0\.9\.1-test +\[1\] +ok\b.* ` + regexp.QuoteMeta(filepath.Join(libDir, "timetiles-backup-"+p)) + `$`)
		if !re.Match(out) {
			t.Errorf("plugin %s not found ok in %s:\n%s", p, libDir, out)
		}
	}
	v, err := exec.Command(cli, "version").Output()
	if err != nil || !strings.HasPrefix(string(v), "timetiles-backup 0.9.1-test ") {
		t.Errorf("version: %q %v", v, err)
	}
}

func TestPackages(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed")
	}
	testenv.Tool(t, "nfpm")
	dist := t.TempDir()
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "scripts", "package.sh"))
	cmd.Env = append(os.Environ(), "DIST="+dist, "VERSION=0.9.1-test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/package.sh: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "timetiles-backup_0.9.1*_*.deb"))
	tars, _ := filepath.Glob(filepath.Join(dist, "timetiles-backup-0.9.1-test-linux-*.tar.gz"))
	if len(debs) != 1 || len(tars) != 1 {
		t.Fatalf("artifacts: %v %v", debs, tars)
	}

	t.Run("deb", func(t *testing.T) {
		info, err := exec.Command("dpkg-deb", "--info", debs[0]).CombinedOutput()
		if err != nil || !strings.Contains(string(info), "Package: timetiles-backup") || !strings.Contains(string(info), "Version: 0.9.1~test") ||
			!strings.Contains(string(info), "Recommends: restic, cron") {
			t.Fatalf("dpkg-deb --info: %v\n%s", err, info)
		}
		root := t.TempDir()
		if out, err := exec.Command("dpkg", "-x", debs[0], root).CombinedOutput(); err != nil {
			t.Fatalf("dpkg -x: %v %s", err, out)
		}
		for _, f := range []string{"etc/logrotate.d/timetiles-backup", "usr/share/doc/timetiles-backup/env.production.example", "var/lib/timetiles-backup"} {
			if _, err := os.Stat(filepath.Join(root, f)); err != nil {
				t.Errorf("%s missing from the package", f)
			}
		}
		checkPlugins(t, filepath.Join(root, "usr", "bin", "timetiles-backup"), filepath.Join(root, "usr", "lib", "timetiles-backup"))
	})

	t.Run("tarball", func(t *testing.T) {
		dir := t.TempDir()
		if out, err := exec.Command("tar", "-C", dir, "-xzf", tars[0]).CombinedOutput(); err != nil {
			t.Fatalf("tar: %v %s", err, out)
		}
		top := filepath.Join(dir, strings.TrimSuffix(filepath.Base(tars[0]), ".tar.gz"))
		checkPlugins(t, filepath.Join(top, "bin", "timetiles-backup"), filepath.Join(top, "lib", "timetiles-backup"))
	})

	t.Run("make install", func(t *testing.T) {
		prefix := filepath.Join(t.TempDir(), "usr", "local")
		cmd := exec.Command("make", "-s", "install", "PREFIX="+prefix, "VERSION=0.9.1-test")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
		checkPlugins(t, filepath.Join(prefix, "bin", "timetiles-backup"), filepath.Join(prefix, "lib", "timetiles-backup"))
	})
}
