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

func TestIncompatiblePluginRefused(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte(`package main
import ("context";"io";"github.com/timetiles/timetiles-backup/sdk")
type s struct{}
func (s) Info() sdk.Info { return sdk.Info{Name: "source-future", Version: "9.0.0", APIVersions: []uint32{99}} }
func (s) Configure(context.Context, sdk.Config) error { return nil }
func (s) Backup(context.Context, sdk.BackupRequest, sdk.BackupStream) error { return nil }
func (s) Restore(context.Context, sdk.RestoreRequest, io.Reader) error { return nil }
func main() { sdk.ServeSource(s{}) }
`), 0o644)
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	cmd := exec.Command("go", "build", "-o", filepath.Join(bin, BinaryPrefix+"source-future"), src)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(string(out))
	}
	m := &Manager{Logger: hclog.NewNullLogger()}
	defer m.Close()
	c := Discover([]string{bin})
	if len(c) != 1 {
		t.Fatalf("discovered %v", c)
	}
	_, err := m.Launch(context.Background(), c[0])
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
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	// A plugin speaking the next go-plugin protocol, with our cookie.
	os.WriteFile(src, []byte(fmt.Sprintf(`package main
import ("context";"github.com/hashicorp/go-plugin";"google.golang.org/grpc")
type p struct{ plugin.NetRPCUnsupportedPlugin }
func (p) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (p) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) { return nil, nil }
func main() {
	plugin.Serve(&plugin.ServeConfig{GRPCServer: plugin.DefaultGRPCServer, Plugins: plugin.PluginSet{"source": p{}},
		HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: %d, MagicCookieKey: %q, MagicCookieValue: %q}})
}
`, wire.Handshake.ProtocolVersion+1, wire.Handshake.MagicCookieKey, wire.Handshake.MagicCookieValue)), 0o644)
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	cmd := exec.Command("go", "build", "-o", filepath.Join(bin, BinaryPrefix+"source-oldproto"), src)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(string(out))
	}
	m := &Manager{Logger: hclog.NewNullLogger()}
	defer m.Close()
	_, err := m.Launch(context.Background(), Discover([]string{bin})[0])
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
