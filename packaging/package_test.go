// SPDX-License-Identifier: Apache-2.0

// Package packaging tests the release artifacts: the .deb and the tarball
// built by scripts/package.sh (make package) install the CLI and the bundled
// plugins where the CLI finds them.
package packaging

import (
	"bytes"
	"compress/gzip"
	"io"
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
			!strings.Contains(string(info), "Depends: restic (>= 0.16)\n") || !strings.Contains(string(info), "Recommends: cron\n") {
			t.Fatalf("dpkg-deb --info: %v\n%s", err, info)
		}
		for _, script := range []string{"postinst", "postrm"} {
			if !regexp.MustCompile(`(?m)^ +\d+ bytes, +\d+ lines +\* +` + script + ` `).Match(info) {
				t.Errorf("no executable %s maintainer script:\n%s", script, info)
			}
		}
		root := t.TempDir()
		if out, err := exec.Command("dpkg", "-x", debs[0], root).CombinedOutput(); err != nil {
			t.Fatalf("dpkg -x: %v %s", err, out)
		}
		for _, f := range []string{"etc/logrotate.d/timetiles-backup", "usr/share/doc/timetiles-backup/env.production.example", "var/lib/timetiles-backup",
			"usr/share/bash-completion/completions/timetiles-backup", "usr/share/zsh/vendor-completions/_timetiles-backup"} {
			if _, err := os.Stat(filepath.Join(root, f)); err != nil {
				t.Errorf("%s missing from the package", f)
			}
		}
		checkDocs(t, root)
		checkPlugins(t, filepath.Join(root, "usr", "bin", "timetiles-backup"), filepath.Join(root, "usr", "lib", "timetiles-backup"))
	})

	t.Run("deb install remove purge", func(t *testing.T) { debLifecycle(t, debs[0]) })

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

// checkDocs: the license and changelog where Debian puts them, a man page
// for the CLI and each command, a logrotate rule for every log.
func checkDocs(t *testing.T, root string) {
	t.Helper()
	doc := filepath.Join(root, "usr", "share", "doc", "timetiles-backup")
	cp, err := os.ReadFile(filepath.Join(doc, "copyright"))
	if err != nil || !bytes.HasPrefix(cp, []byte("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")) ||
		!regexp.MustCompile(`(?m)^Files: \*\nCopyright: .+\nLicense: Apache-2.0$`).Match(cp) ||
		!bytes.Contains(cp, []byte("/usr/share/common-licenses/Apache-2.0")) {
		t.Errorf("copyright (DEP-5, Apache-2.0): %v\n%s", err, cp)
	}
	if cl := gunzip(t, filepath.Join(doc, "changelog.gz")); !regexp.MustCompile(`^timetiles-backup \(\d+\.\d+\.\d+\) \w+; urgency=\w+\n`).MatchString(cl) {
		t.Errorf("changelog.gz:\n%s", cl)
	}
	// The repository's LICENSE is the official text Debian ships.
	if want, err := os.ReadFile("/usr/share/common-licenses/Apache-2.0"); err == nil {
		if got, _ := os.ReadFile(filepath.Join(testenv.RepoRoot(), "LICENSE")); !bytes.Equal(got, want) {
			t.Errorf("LICENSE is not the text of /usr/share/common-licenses/Apache-2.0")
		}
	}
	pages, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "docs", "man", "*.1"))
	if len(pages) < 10 {
		t.Errorf("docs/man has %d pages", len(pages))
	}
	for _, p := range pages {
		gz := filepath.Join(root, "usr", "share", "man", "man1", filepath.Base(p)+".gz")
		want, _ := os.ReadFile(p)
		if got := gunzip(t, gz); got != string(want) {
			t.Errorf("%s is not docs/man/%s", gz, filepath.Base(p))
		}
	}
	lr, _ := os.ReadFile(filepath.Join(root, "etc", "logrotate.d", "timetiles-backup"))
	for _, log := range []string{"/var/log/timetiles/backup.log", "/var/log/timetiles/alerts.log"} {
		if !bytes.Contains(lr, []byte(log)) {
			t.Errorf("logrotate does not rotate %s:\n%s", log, lr)
		}
	}
	if _, err := exec.LookPath("logrotate"); err == nil {
		state := filepath.Join(t.TempDir(), "state")
		if out, err := exec.Command("logrotate", "--debug", "--state", state, filepath.Join(root, "etc", "logrotate.d", "timetiles-backup")).CombinedOutput(); err != nil {
			t.Errorf("logrotate --debug: %v\n%s", err, out)
		}
	}
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("%v", err)
		return ""
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return ""
	}
	b, _ := io.ReadAll(zr)
	return string(b)
}

// debLifecycle installs the package with dpkg into a directory of its own
// (dpkg --root, the maintainer scripts honouring DPKG_ROOT, so the machine's
// own cron and systemd are left alone), schedules the nightly job with the
// installed CLI (a cron file and systemd units), and checks what the
// maintainer scripts do: remove disables the job (cron and systemd ignore
// it), reinstalling brings it back, purge deletes it. `backup auto`
// installs one schedule at a time (cron or systemd), so each is checked in
// a root of its own.
func debLifecycle(t *testing.T, deb string) {
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root installs need root")
	}
	for _, systemd := range []bool{false, true} {
		name := map[bool]string{false: "cron", true: "systemd"}[systemd]
		t.Run(name, func(t *testing.T) { debLifecycleOf(t, deb, systemd) })
	}
}

func debLifecycleOf(t *testing.T, deb string, systemd bool) {
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc/cron.d", "etc/systemd/system"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		os.WriteFile(filepath.Join(root, f), nil, 0o644)
	}
	dpkg := func(args ...string) string {
		t.Helper()
		// restic is not installed in the scratch root: its dependency is
		// checked by dpkg-deb --info above.
		cmd := exec.Command("dpkg", append([]string{"--root=" + root, "--force-script-chrootless", "--force-depends"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	cron := filepath.Join(root, "etc", "cron.d", "timetiles-backup")
	units := filepath.Join(root, "etc", "systemd", "system")
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }

	dpkg("-i", deb)
	cli := filepath.Join(root, "usr", "bin", "timetiles-backup")
	env := filepath.Join(root, "env.production")
	os.WriteFile(env, []byte("RESTIC_PASSWORD=lifecycle-secret\n"), 0o600)
	args := []string{"backup", "auto"}
	if systemd {
		args = append(args, "--systemd", "--unit-dir", units)
	}
	{
		cmd := exec.Command(cli, args...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + root, "TIMETILES_ENV_FILE=" + env, "BACKUP_CRON_FILE=" + cron,
			"BACKUP_LOG_FILE=" + filepath.Join(root, "var", "log", "timetiles", "backup.log")}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	// What `systemctl enable` leaves (systemd does not run in the scratch root).
	wants := filepath.Join(units, "timers.target.wants", "timetiles-backup.timer")
	if systemd {
		os.MkdirAll(filepath.Dir(wants), 0o755)
		os.Symlink(filepath.Join(units, "timetiles-backup.timer"), wants)
	}
	installed := func() bool {
		if systemd {
			return exists(filepath.Join(units, "timetiles-backup.timer"))
		}
		return exists(cron)
	}
	if !installed() {
		t.Fatalf("backup auto %v installed no job", args[2:])
	}
	job, _ := os.ReadFile(cron)

	// remove: the job no longer runs; cron reads only files whose names are
	// letters, digits, "_" and "-" (cron(8)), systemd only units it knows.
	out := dpkg("--remove", "timetiles-backup")
	if exists(cli) {
		t.Fatal("dpkg --remove left the CLI")
	}
	if exists(cron) || exists(filepath.Join(units, "timetiles-backup.timer")) || exists(filepath.Join(units, "timetiles-backup.service")) || exists(wants) {
		t.Errorf("after remove the nightly job is still installed:\n%s", out)
	}
	// Every unit of the routine (backup, prune, verify, restore test).
	if ents, _ := os.ReadDir(units); true {
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".timer") || strings.HasSuffix(e.Name(), ".service") {
				t.Errorf("after remove systemd still reads %s", e.Name())
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Join(root, "etc", "cron.d"))
	for _, e := range entries {
		if regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(e.Name()) {
			t.Errorf("after remove cron still reads /etc/cron.d/%s", e.Name())
		}
	}
	if !strings.Contains(out, "nightly job") {
		t.Errorf("remove does not say the job is disabled:\n%s", out)
	}

	// Reinstalled: the same job is back.
	dpkg("-i", deb)
	if got, _ := os.ReadFile(cron); !bytes.Equal(got, job) || !installed() {
		t.Errorf("reinstalling did not bring the job back: %q", got)
	}

	// remove + purge: the job is gone, disabled copies included.
	dpkg("--purge", "timetiles-backup")
	var left []string
	filepath.WalkDir(filepath.Join(root, "etc"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), "timetiles-backup") {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 || exists(filepath.Join(root, "var", "lib", "timetiles-backup")) {
		t.Errorf("after purge: %v", left)
	}
	if st, _ := os.ReadFile(filepath.Join(root, "var", "lib", "dpkg", "status")); strings.Contains(string(st), "Package: timetiles-backup") {
		t.Errorf("dpkg still knows the package after purge:\n%s", st)
	}
}
