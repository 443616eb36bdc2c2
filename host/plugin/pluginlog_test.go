// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestPluginLogWriter: the lines a plugin's hclog JSON logger writes come
// out under the plugin's short name, integers as integers, fractions as
// fractions, without hclog's and go-plugin's bookkeeping; a line split
// across writes is put together; a panic is logged as an error.
func TestPluginLogWriter(t *testing.T) {
	var out bytes.Buffer
	host := hclog.New(&hclog.LoggerOptions{Name: "timetiles-backup", Output: &out, Level: hclog.Debug, DisableTime: true})
	var plugin bytes.Buffer
	pl := hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: &plugin, JSONFormat: true, Level: hclog.Debug})
	pl.Info("database dumped", "bytes", int64(8890163), "duration", int64(7403000000), "ratio", 0.25, "database", "timetiles")
	w := newPluginLogWriter(host.Named("source-postgres"), "/usr/lib/timetiles-backup/timetiles-backup-source-postgres")
	line := plugin.Bytes()
	w.Write(line[:10])
	w.Write(line[10:])
	w.Write([]byte("panic: boom\n\tgoroutine 1\n"))
	got := out.String()
	want := "[INFO]  source-postgres: database dumped: bytes=8890163 database=timetiles duration=7403000000 ratio=0.25\n"
	if !strings.HasPrefix(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if !strings.Contains(got, "[ERROR] source-postgres: panic: boom\n") || !strings.Contains(got, "[ERROR] source-postgres: \tgoroutine 1\n") {
		t.Errorf("panic lines: %q", got)
	}
	for _, bad := range []string{"e+0", "@module", "timestamp", "timetiles-backup."} {
		if strings.Contains(got, bad) {
			t.Errorf("%q in %q", bad, got)
		}
	}
}
