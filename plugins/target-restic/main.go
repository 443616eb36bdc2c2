// SPDX-License-Identifier: Apache-2.0

// Command timetiles-backup-target-restic stores streams and directories as
// snapshots in a restic repository (local, S3-compatible or rest-server).
package main

import "github.com/timetiles/timetiles-backup/sdk"

func main() { sdk.ServeTarget(&Target{}) }
