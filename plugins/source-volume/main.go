// SPDX-License-Identifier: Apache-2.0

// Command timetiles-backup-source-volume is the Source plugin for TimeTiles'
// uploads directory (component "uploads"): a host directory (UPLOAD_HOST_DIR,
// TimeTiles' bind mount) or a Docker named volume (BACKUP_UPLOADS_VOLUME).
package main

import "github.com/timetiles/timetiles-backup/sdk"

func main() { sdk.ServeSource(newSource()) }
