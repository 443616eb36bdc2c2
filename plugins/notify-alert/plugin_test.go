// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/timetiles/timetiles-backup/internal/version"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// The built binary, started by go-plugin as the host does, over gRPC.
func TestPluginBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "timetiles-backup-notify-alert")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	hostLog := &syncBuffer{}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          wire.PluginSet(),
		Cmd:              exec.Command(bin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Output: hostLog, Level: hclog.Debug}),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(sdk.KindNotifier)
	if err != nil {
		t.Fatal(err)
	}
	nc := raw.(*wire.Client)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	info, err := nc.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.GetName() != "notify-alert" || info.GetKind() != sdk.KindNotifier || info.GetPluginVersion() != version.Version {
		t.Errorf("info %v", info)
	}
	secret := map[string]bool{}
	for _, k := range info.GetConfigKeys() {
		secret[k.GetName()] = k.GetSecret()
	}
	if !secret[keySMTPPass] || !secret[keyWebhookURL] || secret[keySMTPHost] {
		t.Errorf("secret flags %v", secret)
	}

	// A failing script and a working webhook.
	script := writeScript(t, dir, "alert.sh", "echo 'relay refused' >&2\nexit 4\n")
	srv := startWebhook(t)
	err = nc.Configure(ctx, convert.ConfigToPB(sdk.Config{APIVersion: sdk.APIVersion, Values: map[string]string{
		keyScript: script, keyWebhookURL: srv.URL + "/hook/" + "tok-Secret-7Yh2kk", keySMTPPass: smtpSecret,
	}}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = nc.Notify(ctx, convert.EventToPB(testEvent()))
	if err == nil || !strings.Contains(err.Error(), "script: ") || !strings.Contains(err.Error(), "exit status 4") ||
		!strings.Contains(err.Error(), "relay refused") || !strings.Contains(err.Error(), "delivered by webhook") {
		t.Fatalf("want the script's failure over the wire, got %v", err)
	}
	if srv.hits.Load() != 1 || srv.payload(t, 0)["text"] != testSubject+": "+newAlert(testEvent()).Body {
		t.Errorf("webhook: %d requests", srv.hits.Load())
	}

	// Only the log, with a zero time: the plugin stamps it.
	logFile := filepath.Join(dir, "log", "alerts.log")
	if err := nc.Configure(ctx, convert.ConfigToPB(sdk.Config{APIVersion: sdk.APIVersion, Values: map[string]string{
		keyChannels: "log", keyLog: logFile,
	}})); err != nil {
		t.Fatal(err)
	}
	e := sdk.Event{Kind: "test", Hostname: "tt-prod-1", Body: "Alert pipeline check."}
	delivered, err := nc.Notify(ctx, convert.EventToPB(e))
	if err != nil || !slices.Equal(delivered, []string{"log"}) {
		t.Fatalf("delivered %v, %v", delivered, err)
	}
	logged := readFile(t, logFile)
	year := time.Now().UTC().Format("2006")
	if !strings.HasPrefix(logged, "["+year) || !strings.Contains(logged, "] [TimeTiles tt-prod-1] Test Alert\nAlert pipeline check.\n\nKind:       test\nSeverity:   info\n") {
		t.Errorf("log file:\n%s", logged)
	}

	// An invalid configuration keeps its kind across the wire.
	if err := nc.Configure(ctx, convert.ConfigToPB(sdk.Config{APIVersion: sdk.APIVersion, Values: map[string]string{keyChannels: "pager"}})); err == nil ||
		!strings.Contains(err.Error(), "pager") {
		t.Errorf("configure error %v", err)
	}

	client.Kill()
	assertNoSecret(t, "plugin log", hostLog.String(), smtpSecret, "tok-Secret-7Yh2kk")
	if !strings.Contains(hostLog.String(), "alert channel failed") {
		t.Errorf("the plugin's log should reach the host:\n%s", hostLog)
	}
	_ = os.Remove(bin)
}
