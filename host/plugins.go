// SPDX-License-Identifier: Apache-2.0

package host

import "github.com/timetiles/timetiles-backup/host/plugin"

// Plugin is the transitional name of plugin.Plugin for the stream files
// that host/stream replaces (pipeline.go, pending.go, restore.go and the
// read helpers of verify.go); it goes with them. Everything else names
// host/plugin.
type Plugin = plugin.Plugin
