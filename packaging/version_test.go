// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// semverRE is semver.org's regular expression for a valid version.
var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// TestVersionScheme runs scripts/version.sh in a scratch git repository
// through a release's life: before the first tag, on the tag v0.1.0, after
// it, with a modified tree. Every version is valid semver, and dpkg orders
// the .deb versions as releases go: a build between two releases sorts
// above the earlier one and below the next.
func TestVersionScheme(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg is not installed")
	}
	repo := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "scripts", "version.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "scripts", "version.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.org", "GIT_COMMITTER_DATE=2026-12-04T23:30:00Z", "GIT_AUTHOR_DATE=2026-12-04T23:30:00Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	versions := func() (sem, deb string) {
		t.Helper()
		for i, args := range [][]string{nil, {"--deb"}} {
			out, err := exec.Command(filepath.Join(repo, "scripts", "version.sh"), args...).Output()
			if err != nil {
				t.Fatalf("version.sh %v: %v", args, err)
			}
			if i == 0 {
				sem = strings.TrimSpace(string(out))
			} else {
				deb = strings.TrimSpace(string(out))
			}
		}
		if !semverRE.MatchString(sem) {
			t.Errorf("%q is not a semantic version", sem)
		}
		return sem, deb
	}
	dpkgLess := func(a, b string) {
		t.Helper()
		if err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg orders %s not below %s", a, b)
		}
	}
	semLess := func(a, b string) {
		t.Helper()
		if !semver.MustParse(a).LessThan(semver.MustParse(b)) {
			t.Errorf("semver orders %s not below %s", a, b)
		}
	}

	git("init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(repo, "f"), []byte("1\n"), 0o644)
	git("add", ".")
	git("commit", "-qm", "one")
	hash := git("rev-parse", "--short=7", "HEAD")

	// No tag yet: a pre-release of the first release, 0.1.0.
	preSem, preDeb := versions()
	if want := "0.1.0-git20261204+" + hash; preSem != want {
		t.Errorf("untagged: %q, want %q", preSem, want)
	}
	if want := "0.1.0~git20261204." + hash; preDeb != want {
		t.Errorf("untagged .deb: %q, want %q", preDeb, want)
	}

	// The release: the tag's version, the same for dpkg.
	git("tag", "v0.1.0")
	relSem, relDeb := versions()
	if relSem != "0.1.0" || relDeb != "0.1.0" {
		t.Errorf("on v0.1.0: %q %q, want 0.1.0", relSem, relDeb)
	}
	dpkgLess(preDeb, relDeb)
	semLess(preSem, relSem)

	// A commit after it: the next release's pre-release.
	os.WriteFile(filepath.Join(repo, "f"), []byte("2\n"), 0o644)
	git("commit", "-qam", "two")
	hash = git("rev-parse", "--short=7", "HEAD")
	devSem, devDeb := versions()
	if want := "0.2.0-git20261204+" + hash; devSem != want {
		t.Errorf("after v0.1.0: %q, want %q", devSem, want)
	}
	if want := "0.2.0~git20261204." + hash; devDeb != want {
		t.Errorf("after v0.1.0 .deb: %q, want %q", devDeb, want)
	}
	dpkgLess(relDeb, devDeb)
	dpkgLess(devDeb, "0.2.0")
	dpkgLess(devDeb, "0.2.0~rc1")
	semLess(relSem, devSem)
	semLess(devSem, "0.2.0")

	// A modified tree is marked, and still sorts between the releases.
	os.WriteFile(filepath.Join(repo, "f"), []byte("3\n"), 0o644)
	dirtySem, dirtyDeb := versions()
	if dirtySem != devSem+".dirty" || dirtyDeb != devDeb+".dirty" {
		t.Errorf("modified tree: %q %q", dirtySem, dirtyDeb)
	}
	dpkgLess(relDeb, dirtyDeb)
	dpkgLess(dirtyDeb, "0.2.0")

	// The next release tag wins over the earlier one.
	git("commit", "-qam", "three")
	git("tag", "v0.2.0")
	if s, d := versions(); s != "0.2.0" || d != "0.2.0" {
		t.Errorf("on v0.2.0: %q %q", s, d)
	}
	dpkgLess(devDeb, "0.2.0")

	// An explicit VERSION converts the same way (scripts/package.sh).
	out, err := exec.Command(filepath.Join(repo, "scripts", "version.sh"), "--deb", "1.2.3-rc.1+abc").Output()
	if err != nil || strings.TrimSpace(string(out)) != "1.2.3~rc.1.abc" {
		t.Errorf("--deb 1.2.3-rc.1+abc = %q %v", out, err)
	}
	t.Logf("untagged %s / %s; release %s; after it %s / %s", preSem, preDeb, relSem, devSem, devDeb)
}
