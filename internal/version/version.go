// SPDX-License-Identifier: Apache-2.0

// Package version holds the version of timetiles-backup, shared by the CLI
// and every bundled plugin so that `version` and `plugins` agree.
//
// The build sets it from the git tags (scripts/version.sh) with
//
//	-ldflags "-X github.com/timetiles/timetiles-backup/internal/version.Version=0.2.0-git20261204+4b99d78"
//
// (make build/install, scripts/package.sh and the test binaries of
// internal/testenv all do). A build without it — `go build`, `go run` —
// reports the semver-valid placeholder below.
package version

// Version is a semantic version (https://semver.org): "0.1.0" for a build of
// the tag v0.1.0, "0.2.0-git20261204+4b99d78" for a build after it.
var Version = "0.0.0-dev"
