// SPDX-License-Identifier: Apache-2.0

package host

import "github.com/timetiles/timetiles-backup/host/plugin"

// Transitional names for what moved to host/plugin, so that files changed
// in parallel keep compiling; removed once every caller names host/plugin.
type Candidate = plugin.Candidate

const BinaryPrefix = plugin.BinaryPrefix

var (
	KindOfName = plugin.KindOfName
	SearchDirs = plugin.SearchDirs
	Discover   = plugin.Discover
)
