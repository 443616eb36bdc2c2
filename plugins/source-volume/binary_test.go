// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// TestBinaryServesThePlugin builds timetiles-backup-source-volume and talks
// to it over go-plugin/gRPC as the host does: main serves the source.
func TestBinaryServesThePlugin(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "timetiles-backup-source-volume")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          wire.PluginSet(),
		Cmd:              exec.Command(bin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     30 * time.Second,
		Logger:           hclog.NewNullLogger(),
	})
	defer pc.Kill()
	rpc, err := pc.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(sdk.KindSource)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(*wire.Client)
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.GetName() != "source-volume" || !slices.Equal(info.GetComponents(), []string{"uploads"}) || !slices.Contains(info.GetCapabilities(), sdk.CapPath) {
		t.Errorf("Info over gRPC = %v", info)
	}
	if got, want := convert.InfoFromPB(info).Spec("uploads"), (sdk.ComponentSpec{Name: "uploads", Restore: sdk.RestoreDirectory}); got != want {
		t.Errorf("uploads declared over gRPC as %+v, want %+v (a directory, not backed up first)", got, want)
	}
	err = c.Configure(ctx, convert.ConfigToPB(sdk.Config{Values: map[string]string{"UPLOAD_HOST_DIR": "/x", "BACKUP_UPLOADS_VOLUME": "v"}, APIVersion: sdk.APIVersion}))
	if !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Errorf("Configure with both settings over gRPC = %v, want ErrInvalidConfig", err)
	}
	if err := c.Configure(ctx, convert.ConfigToPB(sdk.Config{Values: map[string]string{"UPLOAD_HOST_DIR": "/x"}, APIVersion: sdk.APIVersion})); err != nil {
		t.Errorf("Configure: %v", err)
	}
}
