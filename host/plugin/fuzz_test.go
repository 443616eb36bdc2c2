// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/host/config"
)

// BACKUP_PLUGIN_CHECKSUMS: a pin is kept only when it is a known plugin
// name and a full SHA-256; anything else is refused, never dropped.
func FuzzPluginChecksums(f *testing.F) {
	sum := strings.Repeat("ab", 32)
	f.Add("target-restic=" + sum)
	f.Add("target-restic=" + sum + ", notify-alert=" + strings.ToUpper(sum))
	f.Add("target-restic=" + sum[:60])
	f.Add("restic=" + sum)
	f.Add("target-restic=" + sum + ",target-restic=" + sum)
	f.Fuzz(func(t *testing.T, spec string) {
		pins, err := ParsePluginChecksums(spec)
		if err != nil {
			if !errors.Is(err, config.ErrConfig) {
				t.Fatalf("not a configuration error: %v", err)
			}
			return
		}
		entries := 0
		for _, e := range strings.Split(spec, ",") {
			if strings.TrimSpace(e) != "" {
				entries++
			}
		}
		if len(pins) != entries {
			t.Fatalf("%q: %d entries, %d pins", spec, entries, len(pins))
		}
		for name, s := range pins {
			b, err := hex.DecodeString(s)
			if _, ok := KindOfName(name); !ok || err != nil || len(b) != 32 || s != strings.ToLower(s) {
				t.Fatalf("%q: pin %s=%s", spec, name, s)
			}
		}
	})
}
