// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Version is a parsed `restic version` line such as
// "restic 0.18.1 compiled with go1.26.8 on linux/amd64".
type Version struct {
	Major, Minor, Patch int
	Suffix              string // e.g. "-dev" for development builds
	GoVersion           string // e.g. "go1.26.8"
	Platform            string // e.g. "linux/amd64"
	Raw                 string // the whole line
}

// MinVersion is the oldest supported restic: Ubuntu 24.04's package is 0.16.4.
var MinVersion = Version{Major: 0, Minor: 16, Patch: 0}

var versionRE = regexp.MustCompile(`^restic (\d+)\.(\d+)\.(\d+)(\S*)(?:.*? compiled with (\S+) on (\S+))?.*$`)

// ParseVersion parses the first line of `restic version`.
func ParseVersion(s string) (Version, error) {
	line := strings.TrimSpace(strings.SplitN(strings.TrimSpace(s), "\n", 2)[0])
	m := versionRE.FindStringSubmatch(line)
	if m == nil {
		return Version{}, fmt.Errorf("restic: cannot parse version from %q", truncate(line, 200))
	}
	v := Version{Suffix: m[4], GoVersion: m[5], Platform: m[6], Raw: line}
	var errs [3]error
	v.Major, errs[0] = strconv.Atoi(m[1])
	v.Minor, errs[1] = strconv.Atoi(m[2])
	v.Patch, errs[2] = strconv.Atoi(m[3])
	for _, err := range errs {
		if err != nil { // a number too large for int (found by FuzzParseVersion)
			return Version{}, fmt.Errorf("restic: cannot parse version from %q: %v", truncate(line, 200), err)
		}
	}
	return v, nil
}

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d%s", v.Major, v.Minor, v.Patch, v.Suffix)
}

// AtLeast reports whether v ≥ major.minor.patch. A development build
// ("0.18.1-dev") counts as its base version.
func (v Version) AtLeast(major, minor, patch int) bool {
	if v.Major != major {
		return v.Major > major
	}
	if v.Minor != minor {
		return v.Minor > minor
	}
	return v.Patch >= patch
}

// HasExitCodes: restic ≥ 0.17.0 exits 10 (no repository) and 11 (locked);
// 12 (wrong password) came with 0.17.1. Older versions exit 1 for all of
// them; this package then recognises restic's texts instead.
func (v Version) HasExitCodes() bool { return v.AtLeast(0, 17, 0) }

// HasStdinFromCommand: `backup --stdin-from-command` (0.17.0).
func (v Version) HasStdinFromCommand() bool { return v.AtLeast(0, 17, 0) }

// HasRestoreSubfolder: the `<snapshot>:<subfolder>` syntax. It came with
// restic 0.16.0 (changelog #3871; verified with 0.16.4), so every supported
// version has it.
func (v Version) HasRestoreSubfolder() bool { return v.AtLeast(0, 16, 0) }

// HasRestoreDelete: `restore --delete` (0.17.0). 0.16 says "unknown flag: --delete".
func (v Version) HasRestoreDelete() bool { return v.AtLeast(0, 17, 0) }

// CheckSupported refuses restic versions below MinVersion with a message that
// says how to upgrade.
func CheckSupported(v Version) error {
	if v.AtLeast(MinVersion.Major, MinVersion.Minor, MinVersion.Patch) {
		return nil
	}
	return fmt.Errorf("restic %s is too old: at least restic %s is required "+
		"(Debian 12's apt package is 0.14.0). Upgrade restic: `apt install restic` on Ubuntu 24.04 gives 0.16.4; "+
		"or download a release binary from https://github.com/restic/restic/releases, "+
		"or run `restic self-update` (as root for /usr/bin/restic)", v, MinVersion)
}

// Version runs `restic version`. The result is cached per binary (path, size
// and modification time), so feature checks cost nothing after the first call.
func (r *Repo) Version(ctx context.Context) (Version, error) {
	key := r.binary()
	if p, err := lookPath(key); err == nil {
		if fi, err := os.Stat(p); err == nil {
			key = fmt.Sprintf("%s|%d|%d", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	versionCache.Lock()
	v, ok := versionCache.m[key]
	versionCache.Unlock()
	if ok {
		return v, nil
	}
	res, err := r.run(ctx, invocation{op: "version", args: []string{"version"}, noRepo: true})
	if err != nil {
		return Version{}, err
	}
	v, err = ParseVersion(string(res.stdout))
	if err != nil {
		return Version{}, err
	}
	versionCache.Lock()
	versionCache.m[key] = v
	versionCache.Unlock()
	return v, nil
}

// CheckVersion runs Version and CheckSupported: call it at start-up.
func (r *Repo) CheckVersion(ctx context.Context) (Version, error) {
	v, err := r.Version(ctx)
	if err != nil {
		return Version{}, err
	}
	return v, CheckSupported(v)
}

var versionCache = struct {
	sync.Mutex
	m map[string]Version
}{m: map[string]Version{}}
