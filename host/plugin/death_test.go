// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/internal/testenv"
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

// processEnded: a running process is not ended; killed, it is (a zombie
// before it is reaped, gone after).
func TestProcessEnded(t *testing.T) {
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if processEnded(pid) {
		t.Fatal("a running process counts as ended")
	}
	cmd.Process.Kill()
	testenv.WaitFor(t, "the killed process to be a zombie", func() bool {
		stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return strings.Contains(string(stat), ") Z ")
	})
	if !processEnded(pid) {
		t.Error("a zombie counts as running")
	}
	cmd.Wait()
	if !processEnded(pid) {
		t.Error("a reaped process counts as running")
	}
}
