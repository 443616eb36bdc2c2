// SPDX-License-Identifier: Apache-2.0

package host

import "github.com/timetiles/timetiles-backup/host/plugin"

// EnvPluginDir names the plugin directory searched first.
const EnvPluginDir = "TIMETILES_BACKUP_PLUGIN_DIR"

// EnvSearchPath, set to 1 (or true, yes), makes a run as root search
// $PATH for plugins too. Users other than root always search $PATH; root
// does not by default, because a directory on root's $PATH that another
// user can write would let that user plant a plugin (which receives
// RESTIC_PASSWORD). Even then, as root, a plugin found there runs only if
// nobody but root can change it (CheckPluginBinary).
const EnvSearchPath = "TIMETILES_BACKUP_SEARCH_PATH"

// Transitional names for what moved to host/plugin, so that files changed
// in parallel keep compiling; removed once every caller names host/plugin.
type Candidate = plugin.Candidate

const BinaryPrefix = plugin.BinaryPrefix

var (
	KindOfName = plugin.KindOfName
	SearchDirs = plugin.SearchDirs
	Discover   = plugin.Discover
)
