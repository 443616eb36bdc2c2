// SPDX-License-Identifier: Apache-2.0

// Command timetiles-backup-source-postgres is the Source plugin for the
// "db" component: a PostgreSQL database dumped with pg_dump and restored with
// pg_restore or psql, either directly or inside the database's container.
package main

import "github.com/timetiles/timetiles-backup/sdk"

func main() { sdk.ServeSource(&Source{}) }
