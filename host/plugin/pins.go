// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"encoding/hex"
	"strings"

	"github.com/timetiles/timetiles-backup/internal/configerr"
)

// EnvPluginChecksums pins plugin binaries by SHA-256:
// "name=sha256hex,name=sha256hex", e.g.
// "target-restic=9f86d0…,source-postgres=60303a…" (sha256sum of each
// binary). A pinned plugin whose binary hashes differently is refused
// before it runs (go-plugin's SecureConfig); plugins without a pin run as
// before.
const EnvPluginChecksums = "BACKUP_PLUGIN_CHECKSUMS"

// ParsePluginChecksums reads EnvPluginChecksums strictly: an entry that
// cannot be read is an error, never skipped, because a pin silently dropped
// would leave its plugin unpinned.
func ParsePluginChecksums(spec string) (map[string]string, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	pins := map[string]string{}
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, sum, ok := strings.Cut(entry, "=")
		name, sum = strings.TrimSpace(name), strings.ToLower(strings.TrimSpace(sum))
		if !ok || name == "" {
			return nil, configerr.Errorf("%s entry %q is not name=sha256: write e.g. target-restic=<64 hex digits from `sha256sum timetiles-backup-target-restic`>", EnvPluginChecksums, entry)
		}
		if _, known := KindOfName(name); !known {
			return nil, configerr.Errorf("%s names %q, which is not a plugin name: use the name `timetiles-backup plugins` shows (source-…, target-…, notify-…)", EnvPluginChecksums, name)
		}
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			return nil, configerr.Errorf("%s: the pin for plugin %s is not a SHA-256 hex digest (64 hex digits): %q", EnvPluginChecksums, name, sum)
		}
		if _, dup := pins[name]; dup {
			return nil, configerr.Errorf("%s pins plugin %s twice: keep one entry", EnvPluginChecksums, name)
		}
		pins[name] = sum
	}
	return pins, nil
}
