// SPDX-License-Identifier: Apache-2.0

package host

import "github.com/timetiles/timetiles-backup/host/plugin"

// Transitional names for what moved to host/plugin, so that files changed
// in parallel keep compiling; removed once every caller names host/plugin.
type (
	Candidate = plugin.Candidate
	Plugin    = plugin.Plugin
	Manager   = plugin.Manager
)

const (
	BinaryPrefix       = plugin.BinaryPrefix
	EnvPluginChecksums = plugin.EnvPluginChecksums
)

var (
	KindOfName           = plugin.KindOfName
	SearchDirs           = plugin.SearchDirs
	Discover             = plugin.Discover
	CheckPluginDir       = plugin.CheckPluginDir
	CheckPluginBinary    = plugin.CheckPluginBinary
	ParsePluginChecksums = plugin.ParsePluginChecksums
	QuietLifecycle       = plugin.QuietLifecycle
	ErrIncompatible      = plugin.ErrIncompatible
	SupportedAPIVersions = plugin.SupportedAPIVersions
)
