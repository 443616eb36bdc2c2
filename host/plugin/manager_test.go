// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/internal/wire"
)

// buildPlugin builds a plugin from one Go file of this module into a
// directory of its own and returns the plugin's candidate there.
func buildPlugin(t *testing.T, name, source string) Candidate {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	cmd := exec.Command("go", "build", "-o", filepath.Join(bin, BinaryPrefix+name), src)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(string(out))
	}
	c := Discover([]string{bin})
	if len(c) != 1 {
		t.Fatalf("discovered %v", c)
	}
	return c[0]
}

func TestIncompatiblePluginRefused(t *testing.T) {
	c := buildPlugin(t, "source-future", `package main
import ("context";"io";"github.com/timetiles/timetiles-backup/sdk")
type s struct{}
func (s) Info() sdk.Info { return sdk.Info{Name: "source-future", Version: "9.0.0", APIVersions: []uint32{99}} }
func (s) Configure(context.Context, sdk.Config) error { return nil }
func (s) Backup(context.Context, sdk.BackupRequest, sdk.BackupStream) error { return nil }
func (s) Restore(context.Context, sdk.RestoreRequest, io.Reader) error { return nil }
func main() { sdk.ServeSource(s{}) }
`)
	m := &Manager{Logger: hclog.NewNullLogger()}
	defer m.Close()
	_, err := m.Launch(context.Background(), c)
	if !errors.Is(err, ErrIncompatible) {
		t.Fatalf("err = %v, want ErrIncompatible", err)
	}
	for _, want := range []string{"source-future", "9.0.0", "[99]", "[1]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not name %s", err, want)
		}
	}
}

func TestOtherHandshakeProtocolRefused(t *testing.T) {
	// A plugin speaking the next go-plugin protocol, with our cookie.
	c := buildPlugin(t, "source-oldproto", fmt.Sprintf(`package main
import ("context";"github.com/hashicorp/go-plugin";"google.golang.org/grpc")
type p struct{ plugin.NetRPCUnsupportedPlugin }
func (p) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (p) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) { return nil, nil }
func main() {
	plugin.Serve(&plugin.ServeConfig{GRPCServer: plugin.DefaultGRPCServer, Plugins: plugin.PluginSet{"source": p{}},
		HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: %d, MagicCookieKey: %q, MagicCookieValue: %q}})
}
`, wire.Handshake.ProtocolVersion+1, wire.Handshake.MagicCookieKey, wire.Handshake.MagicCookieValue))
	m := &Manager{Logger: hclog.NewNullLogger()}
	defer m.Close()
	_, err := m.Launch(context.Background(), c)
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "source-oldproto") || !strings.Contains(err.Error(), "protocol 1") {
		t.Fatalf("err = %v, want ErrIncompatible naming the plugin and our protocol", err)
	}
}

func TestPluginEnvironmentHasNoSecrets(t *testing.T) {
	t.Setenv("RESTIC_PASSWORD", "host-secret-value")
	for _, kv := range baseEnv() {
		if strings.Contains(kv, "host-secret-value") {
			t.Fatalf("plugin environment carries a host secret: %s", kv)
		}
	}
}
