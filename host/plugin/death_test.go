// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/sdk"
)

// TestDeadPluginNamedInTheError: a call during which the plugin process
// dies (here it SIGKILLs itself) fails with an error that names the plugin
// and says it exited, not gRPC's "error reading from server: EOF"; a live
// plugin's own Unavailable error keeps its words.
func TestDeadPluginNamedInTheError(t *testing.T) {
	c := buildPlugin(t, "source-mortal", `package main
import ("context";"fmt";"io";"os";"syscall";"github.com/timetiles/timetiles-backup/sdk")
type s struct{}
func (s) Info() sdk.Info { return sdk.Info{Name: "source-mortal", Version: "1.0.0", Components: []string{"db"}} }
func (s) Configure(_ context.Context, c sdk.Config) error {
	if c.Instance == "die" {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return fmt.Errorf("the database server at db:5432 is down: %w", sdk.ErrUnavailable)
}
func (s) Backup(context.Context, sdk.BackupRequest, sdk.BackupStream) error { return nil }
func (s) Restore(context.Context, sdk.RestoreRequest, io.Reader) error { return nil }
func main() { sdk.ServeSource(s{}) }
`)
	m := &Manager{Logger: hclog.NewNullLogger()}
	defer m.Close()
	launch := func() *Plugin {
		p, err := m.Launch(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	err := launch().Source().Configure(context.Background(), sdk.Config{Instance: "die"})
	t.Logf("dead: %v", err)
	if !errors.Is(err, wire.ErrPluginDied) || !errors.Is(err, sdk.ErrUnavailable) ||
		!strings.Contains(err.Error(), "plugin timetiles-backup-source-mortal exited unexpectedly") || strings.Contains(err.Error(), "EOF") {
		t.Errorf("the dead plugin's error: %v", err)
	}

	err = launch().Source().Configure(context.Background(), sdk.Config{Instance: "live"})
	t.Logf("live: %v", err)
	if errors.Is(err, wire.ErrPluginDied) || !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "the database server at db:5432 is down") {
		t.Errorf("the live plugin's own error: %v", err)
	}
}
