// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"errors"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/host/config"
)

const sumA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestParsePluginChecksums(t *testing.T) {
	pins, err := ParsePluginChecksums(" target-dir=" + strings.ToUpper(sumA) + " , source-postgres=" + sumA + ",")
	if err != nil || len(pins) != 2 || pins["target-dir"] != sumA || pins["source-postgres"] != sumA {
		t.Fatalf("pins %v, err %v", pins, err)
	}
	for _, tc := range []struct{ spec, want string }{
		{"target-dir", `entry "target-dir" is not name=sha256`},
		{"=" + sumA, "is not name=sha256"},
		{"restic=" + sumA, `names "restic", which is not a plugin name`},
		{"target-dir=abc", "the pin for plugin target-dir is not a SHA-256 hex digest"},
		{"target-dir=" + sumA + ",target-dir=" + sumA, "pins plugin target-dir twice"},
	} {
		_, err := ParsePluginChecksums(tc.spec)
		if !errors.Is(err, config.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want a configuration error saying %q", tc.spec, err, tc.want)
		}
	}
}
