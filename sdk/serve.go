// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
)

// EnvLogLevel sets a plugin's log level (trace, debug, info, warn, error).
const EnvLogLevel = "TIMETILES_BACKUP_LOG_LEVEL"

// Logger is the plugin's logger: hclog on stderr in JSON, which the host
// parses and re-logs with the plugin's name. Never write to stdout.
var Logger = hclog.New(&hclog.LoggerOptions{
	Name:       "plugin",
	Output:     os.Stderr,
	JSONFormat: true,
	Level:      hclog.LevelFromString(envDefault(EnvLogLevel, "info")),
})

func envDefault(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// ServeSource serves a Source plugin; call it from main. It never returns.
func ServeSource(s Source) { serve(KindSource, s) }

// ServeTarget serves a Target plugin; call it from main.
func ServeTarget(t Target) { serve(KindTarget, t) }

// ServeNotifier serves a Notifier plugin; call it from main.
func ServeNotifier(n Notifier) { serve(KindNotifier, n) }

func serve(kind string, impl Plugin) {
	rt := newRuntime()
	rt.stopProfile = StartProfile()
	go rt.drainOnSignal()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         plugin.PluginSet{kind: &grpcPlugin{kind: kind, impl: impl, rt: rt}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, wire.ServerOptions()...)
			return grpc.NewServer(opts...)
		},
		Logger: Logger,
	})
	// The host closed the plugin (go-plugin stops the gRPC server without
	// waiting for calls in flight): operations still running are cancelled
	// and get to finish their cleanup — a restore removes its staging
	// directory or database — before the process exits.
	rt.cancel()
	rt.waitOps(10 * time.Second)
	rt.stopProfile()
	os.Exit(0)
}

// waitOps waits for the operations in flight, at most d.
func (rt *pluginRuntime) waitOps(d time.Duration) bool {
	done := make(chan struct{})
	go func() { rt.ops.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// runtime is per plugin process: the fd inbox and the operations in flight,
// so that SIGTERM (sent by the host, or by the kernel when the host dies)
// stops children such as restic or pg_dump before the process exits.
type pluginRuntime struct {
	inbox  *wire.Inbox
	root   context.Context
	cancel context.CancelFunc
	ops    sync.WaitGroup
	// stopProfile writes the CPU profile of EnvCPUProfile (or does nothing).
	stopProfile func()
}

func newRuntime() *pluginRuntime {
	ctx, cancel := context.WithCancel(context.Background())
	return &pluginRuntime{inbox: wire.OpenInbox(), root: ctx, cancel: cancel, stopProfile: func() {}}
}

func (rt *pluginRuntime) drainOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGHUP)
	<-ch
	Logger.Warn("terminating: stopping operations in flight")
	rt.cancel()
	if !rt.waitOps(10 * time.Second) {
		Logger.Error("operations did not stop within 10s")
	}
	rt.stopProfile()
	os.Exit(1)
}

// op starts an operation: its context ends with the call or the process.
func (rt *pluginRuntime) op(ctx context.Context) (context.Context, func()) {
	rt.ops.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(rt.root, cancel)
	return ctx, func() { stop(); cancel(); rt.ops.Done() }
}

// recoverInto turns a panic in plugin code into an error for the host.
func recoverInto(err *error, what string) {
	if r := recover(); r != nil {
		Logger.Error("plugin panicked", "call", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = wire.ToStatus(fmt.Errorf("plugin panicked in %s: %v", what, r))
	}
}

// grpcPlugin binds an implementation to go-plugin.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	kind string
	impl Plugin
	rt   *pluginRuntime
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	base := baseServer{impl: p.impl, rt: p.rt}
	switch p.kind {
	case KindSource:
		pb.RegisterSourceServiceServer(s, &sourceServer{baseServer: base, impl: p.impl.(Source)})
	case KindTarget:
		pb.RegisterTargetServiceServer(s, &targetServer{baseServer: base, impl: p.impl.(Target)})
	case KindNotifier:
		pb.RegisterNotifierServiceServer(s, &notifierServer{baseServer: base, impl: p.impl.(Notifier)})
	default:
		return fmt.Errorf("unknown plugin kind %q", p.kind)
	}
	return nil
}

// GRPCClient returns the host-side client for the kind (tests dispense it
// from an in-process plugin).
func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return wire.NewClient(p.kind, c), nil
}
