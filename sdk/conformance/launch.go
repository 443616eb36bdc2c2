// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Transports the checks run over.
const (
	// Pipe: the bytes travel through an OS pipe handed to the plugin over
	// its fd channel (the host's default).
	Pipe = "pipe"
	// GRPC: the bytes travel as gRPC chunks (TIMETILES_BACKUP_TRANSPORT=grpc).
	GRPC = "grpc"
)

var transports = []string{Pipe, GRPC}

// callTimeout bounds every call the kit makes.
const callTimeout = 2 * time.Minute

// instance is one started and configured plugin.
type instance struct {
	t    *testing.T
	kind string
	c    *wire.Client
	info *pb.PluginInfo
	// pid is the plugin process, or this test process for an in-process
	// plugin.
	pid   int
	fd    bool
	close func()
	// impl is the in-process implementation, or nil for a binary.
	impl sdk.Plugin
}

// subject is what the fixtures share: a binary or an in-process factory.
type subject struct {
	kind   string
	binary string
	newFn  func() sdk.Plugin
}

func (s subject) validate(t *testing.T) {
	t.Helper()
	if (s.binary == "") == (s.newFn == nil) {
		t.Fatalf("conformance: set exactly one of Binary (a built plugin) and New (an in-process implementation)")
	}
}

// start launches (or serves in process) a plugin and configures it with
// cfg, as the host does: only declared keys reach it.
func (s subject) start(t *testing.T, transport string, instanceName string, cfg map[string]string) *instance {
	t.Helper()
	in := s.launch(t, transport)
	in.configure(instanceName, cfg)
	return in
}

// configure sends the plugin the declared keys of cfg.
func (in *instance) configure(instanceName string, cfg map[string]string) {
	t := in.t
	t.Helper()
	checkDeclared(t, in.info, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	vals := map[string]string{}
	for _, k := range in.info.ConfigKeys {
		if v, ok := cfg[k.Name]; ok {
			vals[k.Name] = v
		}
	}
	if err := in.c.Configure(ctx, convert.ConfigToPB(sdk.Config{Instance: instanceName, Values: vals, APIVersion: apiVersion(in.info)})); err != nil {
		t.Fatalf("Configure with the fixture's configuration failed: %v", err)
	}
}

// launch starts the plugin without configuring it.
func (s subject) launch(t *testing.T, transport string) *instance {
	t.Helper()
	in := &instance{t: t, kind: s.kind, fd: transport == Pipe}
	if s.binary != "" {
		logs := &syncBuffer{}
		c, raw, err := plugin.Launch(s.binary, s.kind, plugin.LaunchOptions{
			FD:     in.fd,
			Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug, Name: filepath.Base(s.binary)}),
		})
		if err != nil {
			t.Fatalf("launching %s as the host does: %v", s.binary, err)
		}
		in.close = func() {
			raw.Kill()
			if c.FD != nil {
				c.FD.Close()
			}
		}
		t.Cleanup(func() {
			in.close()
			if t.Failed() {
				t.Logf("plugin log:\n%s", logs.String())
			}
		})
		in.c = c
		if rc := raw.ReattachConfig(); rc != nil {
			in.pid = rc.Pid
		}
	} else {
		in.impl = s.newFn()
		c, stop, err := plugin.ServeInProcess(s.kind, in.impl, in.fd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		in.c, in.close, in.pid = c, stop, os.Getpid()
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	info, err := in.c.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	in.info = info
	if apiVersion(info) == 0 {
		t.Fatalf("the plugin implements API versions %v; this SDK implements %d", info.ApiVersions, sdk.APIVersion)
	}
	if info.Kind != s.kind {
		t.Fatalf("Info.Kind is %q, want %q", info.Kind, s.kind)
	}
	if name, ok := strings.CutPrefix(filepath.Base(s.binary), plugin.BinaryPrefix); ok && info.Name != name {
		t.Errorf("Info.Name is %q but the binary is named %s%s: discovery, pins and `timetiles-backup plugins` use the binary's name; make them agree",
			info.Name, plugin.BinaryPrefix, name)
	}
	if in.fd && !slices.Contains(info.Capabilities, sdk.CapFD) {
		t.Fatalf("a plugin started with an fd channel does not declare %q (the SDK adds it): it cannot take pipes", sdk.CapFD)
	}
	if in.pid == 0 {
		t.Fatal("plugin process is not running")
	}
	return in
}

func (in *instance) has(capability string) bool {
	return slices.Contains(in.info.Capabilities, capability)
}

// apiVersion is the version the host would choose (0: none in common).
func apiVersion(info *pb.PluginInfo) uint32 {
	var best uint32
	for _, v := range info.GetApiVersions() {
		if v == sdk.APIVersion && v > best {
			best = v
		}
	}
	return best
}

// checkDeclared fails when the fixture sets a key the plugin does not
// declare: the host passes declared keys only, so the plugin would never
// see it in production.
func checkDeclared(t *testing.T, info *pb.PluginInfo, cfg map[string]string) {
	t.Helper()
	declared := map[string]bool{}
	for _, k := range info.GetConfigKeys() {
		declared[k.Name] = true
	}
	var missing []string
	for k := range cfg {
		if !declared[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("the fixture sets %s, which Info.ConfigKeys does not declare: the host passes declared keys only (never its environment), so the plugin would not see them; declare them",
			strings.Join(missing, ", "))
	}
}

// checkInfo checks what every plugin's Info must hold.
func checkInfo(t *testing.T, in *instance) {
	t.Helper()
	i := in.info
	if i.Name == "" || i.PluginVersion == "" {
		t.Errorf("Info must name the plugin and its version: name %q, version %q", i.Name, i.PluginVersion)
	}
	if i.Kind != in.kind {
		t.Errorf("Info.Kind is %q, want %q", i.Kind, in.kind)
	}
	if k, ok := plugin.KindOfName(i.Name); !ok || k != in.kind {
		t.Errorf("Info.Name %q must start with the kind's prefix (source-, target-, notify-): binaries are named %s<name>", i.Name, plugin.BinaryPrefix)
	}
	seen := map[string]bool{}
	for _, k := range i.ConfigKeys {
		if k.Name == "" || seen[k.Name] {
			t.Errorf("Info.ConfigKeys: empty or duplicate key %q", k.Name)
		}
		seen[k.Name] = true
	}
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer collects plugin logs written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
