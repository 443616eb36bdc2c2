// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Starting a plugin process: the host's Manager (manager.go) and the
// conformance kit (sdk/conformance) start plugins the same way.

// PluginEnv is the environment a plugin process gets: enough to find its
// tools, never the host's secrets. Configuration travels over Configure.
// The docker CLI's own variables pass too, so container mode reaches the
// engine the operator's shell reaches (rootless Docker sets DOCKER_HOST).
func PluginEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ", "USER", sdk.EnvLogLevel, sdk.EnvCPUProfile,
		"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, "GOMAXPROCS=2")
}

// LaunchOptions says how to start a plugin.
type LaunchOptions struct {
	// FD gives the plugin an fd channel, so that streams travel as OS
	// pipes; without it they travel as gRPC chunks.
	FD bool
	// Secure, when set, pins the binary's checksum: go-plugin refuses to
	// start a binary that does not match (goplugin.ErrChecksumsDoNotMatch).
	Secure *goplugin.SecureConfig
	// Logger receives go-plugin's messages and the plugin's log.
	Logger hclog.Logger
}

// Launch starts the plugin binary at path the way timetiles-backup does —
// go-plugin over gRPC with mutual TLS, none of the caller's environment
// but PluginEnv, SIGTERM when the caller dies, an fd channel with
// opts.FD — and returns the client for kind (with Client.FD set when the
// channel exists) and go-plugin's client, whose Kill stops the process. On
// error nothing is left running; errors from go-plugin (handshake,
// checksum) are returned as they are.
func Launch(path, kind string, opts LaunchOptions) (*wire.Client, *goplugin.Client, error) {
	cmd := exec.Command(path)
	cmd.Env = PluginEnv()
	// The plugin gets SIGTERM when the caller dies, however it dies; the
	// SDK then stops its children (restic, pg_dump) before exiting.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	var fdc *wire.FDChannel
	var child *os.File
	if opts.FD {
		var err error
		if fdc, child, err = wire.NewFDChannelPair(); err != nil {
			return nil, nil, err
		}
		defer child.Close() // the plugin has its own copy once started
		cmd.ExtraFiles = []*os.File{child}
		cmd.Env = append(cmd.Env, wire.EnvFDChannel+"=3")
	}
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	var raw *goplugin.Client
	// A call that fails because the process died names the plugin and
	// says so (wire.DeathOptions); raw is set before any call is made.
	dead := func() bool { return raw.Exited() || processEnded(pidOf(raw)) }
	dial := append(wire.DialOptions(), wire.DeathOptions(filepath.Base(path), dead)...)
	raw = goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          wire.PluginSet(),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Managed:          true,
		AutoMTLS:         true,
		SkipHostEnv:      true,
		SecureConfig:     opts.Secure,
		StartTimeout:     30 * time.Second,
		// The plugin's log lines: pluginlog.go.
		Logger:          quietStderrLogger{Logger: logger, binary: filepath.Base(path)},
		Stderr:          newPluginLogWriter(logger, path),
		GRPCDialOptions: dial,
	})
	fail := func(err error) (*wire.Client, *goplugin.Client, error) {
		raw.Kill()
		if fdc != nil {
			fdc.Close()
		}
		return nil, nil, err
	}
	rpc, err := raw.Client()
	if err != nil {
		return fail(err)
	}
	v, err := rpc.Dispense(kind)
	if err != nil {
		return fail(fmt.Errorf("dispensing the %s plugin: %w", kind, err))
	}
	c := v.(*wire.Client)
	c.FD = fdc
	return c, raw, nil
}
