// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/timetiles/timetiles-backup/internal/configerr"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// SupportedAPIVersions are the plugin API versions this host speaks.
var SupportedAPIVersions = []uint32{sdk.APIVersion}

// ErrIncompatible marks a plugin that cannot be used with this host.
var ErrIncompatible = errors.New("incompatible plugin")

// Plugin is a running plugin process.
type Plugin struct {
	Candidate
	Info       sdk.Info
	APIVersion uint32
	Client     *wire.Client
	// Instance the plugin was configured as, e.g. "local" or "offsite".
	Instance string
	raw      *goplugin.Client
}

// Has reports whether the plugin declared a capability.
func (p *Plugin) Has(capability string) bool {
	return slices.Contains(p.Info.Capabilities, capability)
}

// Spec returns what the plugin declares about component c: how it is
// restored, whether it is backed up first (sdk.ComponentSpec).
func (p *Plugin) Spec(c string) sdk.ComponentSpec {
	if p == nil {
		return sdk.ComponentSpec{Name: c}
	}
	return p.Info.Spec(c)
}

// Source is the typed client of a source plugin.
func (p *Plugin) Source() *Source { return NewSource(p.Client, p.Info) }

// Target is the typed client of a target plugin.
func (p *Plugin) Target() *Target { return NewTarget(p.Client, p.Info) }

// Notifier is the typed client of a notifier plugin.
func (p *Plugin) Notifier() *Notifier {
	return NewNotifier(p.Client, p.Info)
}

// Checker asks the plugin, whatever its kind, to check itself.
func (p *Plugin) Checker() sdk.Checker { return client{info: p.Info, w: p.Client} }

// Manager launches plugins and stops them all on Close.
type Manager struct {
	Logger hclog.Logger
	// Checksums pins plugin binaries by name: a plugin whose SHA-256 differs
	// is refused (go-plugin SecureConfig).
	Checksums map[string]string
	// ChecksumsErr, when set, says the pins could not be read: every launch
	// fails with it rather than run a plugin unpinned.
	ChecksumsErr error
	// Transport "grpc" disables the fd channel (portable fallback).
	Transport string

	mu      sync.Mutex
	running []*Plugin
	secrets map[string]bool // config keys plugins declared secret
}

// baseEnv is the environment a plugin process gets (PluginEnv).
var baseEnv = PluginEnv

// Launch starts a plugin, checks its API versions and returns it.
func (m *Manager) Launch(ctx context.Context, c Candidate) (*Plugin, error) {
	if m.ChecksumsErr != nil {
		return nil, m.ChecksumsErr
	}
	// As root, only a binary that nobody but root can change (trust.go).
	if err := CheckPluginBinary(c); err != nil {
		return nil, err
	}
	var secure *goplugin.SecureConfig
	if sum, ok := m.Checksums[c.Name]; ok {
		b, err := hex.DecodeString(sum)
		if err != nil || len(b) != sha256.Size {
			return nil, configerr.Errorf("checksum pin for plugin %s is not a SHA-256 hex digest: %q", c.Name, sum)
		}
		secure = &goplugin.SecureConfig{Checksum: b, Hash: sha256.New()}
	}
	logger := m.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	cl, raw, err := Launch(c.Path, c.Kind, LaunchOptions{FD: m.Transport != "grpc", Secure: secure, Logger: logger.Named(c.Name)})
	if err != nil {
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("%w: plugin %s at %s does not match its pinned SHA-256 checksum: reinstall it or update the pin", ErrIncompatible, c.Name, c.Path)
		}
		if strings.Contains(strings.ToLower(err.Error()), "incompatible api version") || strings.Contains(err.Error(), "protocol version") {
			return nil, fmt.Errorf("%w: plugin %s at %s speaks another plugin protocol than this timetiles-backup (protocol %d): %v; install matching versions",
				ErrIncompatible, c.Name, c.Path, wire.ProtocolVersion, err)
		}
		return nil, fmt.Errorf("starting plugin %s (%s): %w", c.Name, c.Path, err)
	}
	fail := func(err error) (*Plugin, error) {
		raw.Kill()
		if cl.FD != nil {
			cl.FD.Close()
		}
		return nil, err
	}
	p := &Plugin{Candidate: c, Client: cl, raw: raw}
	ictx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	info, err := cl.Info(ictx)
	if err != nil {
		return fail(fmt.Errorf("plugin %s did not answer Info: %w", c.Name, err))
	}
	if info.Kind != c.Kind {
		return fail(fmt.Errorf("%w: plugin %s at %s says it is a %s plugin, its name says %s", ErrIncompatible, c.Name, c.Path, info.Kind, c.Kind))
	}
	p.Info = convert.InfoFromPB(info)
	p.APIVersion = chooseAPIVersion(info.ApiVersions)
	if p.APIVersion == 0 {
		return fail(fmt.Errorf("%w: plugin %s %s at %s implements API versions %v; this timetiles-backup implements %v: install a plugin release for this host version",
			ErrIncompatible, c.Name, info.PluginVersion, c.Path, info.ApiVersions, SupportedAPIVersions))
	}
	if !p.Has(sdk.CapFD) && cl.FD != nil {
		cl.FD.Close()
		cl.FD = nil
	}
	m.mu.Lock()
	m.running = append(m.running, p)
	for _, k := range info.ConfigKeys {
		if k.Secret {
			if m.secrets == nil {
				m.secrets = map[string]bool{}
			}
			m.secrets[k.Name] = true
		}
	}
	m.mu.Unlock()
	return p, nil
}

// DeclaredSecret reports whether a plugin this manager started declares
// key as a secret (ConfigKey.Secret): its value is then scrubbed like the
// host's own secrets, whatever its name.
func (m *Manager) DeclaredSecret(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.secrets[key]
}

func chooseAPIVersion(theirs []uint32) uint32 {
	var best uint32
	for _, v := range theirs {
		if slices.Contains(SupportedAPIVersions, v) && v > best {
			best = v
		}
	}
	return best
}

// Settings are where a plugin's configuration comes from: host/config's
// Config (the process environment over the env file over defaults).
type Settings interface {
	// Lookup returns a key's value and whether it is set.
	Lookup(key string) (string, bool)
	// CheckExecutable refuses, as root, keys naming a program that come
	// from an env file others could change; CheckWrittenPaths the same for
	// keys naming a path written to.
	CheckExecutable(keys []string) error
	CheckWrittenPaths(keys []string) error
}

// Configure sends a plugin the values of the keys it declared.
func (m *Manager) Configure(ctx context.Context, p *Plugin, cfg Settings, instance string, extra map[string]string) error {
	// As root, a program or command the plugin would run is not taken from
	// an env file that others could change (host/config/executables.go).
	// Nor is a path it would write to.
	var executable, written []string
	for _, k := range p.Info.ConfigKeys {
		if k.Executable {
			executable = append(executable, k.Name)
		}
		if k.WrittenPath {
			written = append(written, k.Name)
		}
	}
	if err := cfg.CheckExecutable(executable); err != nil {
		return fmt.Errorf("plugin %s: %w", p.Name, err)
	}
	if err := cfg.CheckWrittenPaths(written); err != nil {
		return fmt.Errorf("plugin %s: %w", p.Name, err)
	}
	vals := map[string]string{}
	for _, k := range p.Info.ConfigKeys {
		if v, ok := cfg.Lookup(k.Name); ok {
			vals[k.Name] = v
		}
	}
	for k, v := range extra {
		vals[k] = v
	}
	p.Instance = instance
	err := p.Client.Configure(ctx, convert.ConfigToPB(sdk.Config{Instance: instance, Values: vals, APIVersion: p.APIVersion}))
	if err != nil {
		if errors.Is(err, sdk.ErrInvalidConfig) {
			// "configuration error" says it once: not again in the
			// plugin's words ("invalid configuration: …").
			return fmt.Errorf("%w: plugin %s: %s", configerr.ErrConfig, p.Name, withoutSentinel(err.Error(), sdk.ErrInvalidConfig))
		}
		return fmt.Errorf("configuring plugin %s: %w", p.Name, err)
	}
	return nil
}

// Close stops every plugin this manager started.
func (m *Manager) Close() {
	m.mu.Lock()
	ps := m.running
	m.running = nil
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Close()
		}()
	}
	wg.Wait()
}

// Close stops the plugin process.
func (p *Plugin) Close() {
	if p.Client.FD != nil {
		p.Client.FD.Close()
	}
	p.raw.Kill()
}

// QuietLifecycle is an hclog Exclude function that drops go-plugin's routine
// lifecycle messages ("starting plugin", "plugin process exited", …) at
// info level and below; what plugins log themselves passes through.
func QuietLifecycle(level hclog.Level, msg string, _ ...interface{}) bool {
	switch msg {
	case "starting plugin", "plugin started", "waiting for RPC address", "plugin process exited",
		"using plugin", "plugin exited", "configuring client automatic mTLS":
		return level <= hclog.Info
	}
	return false
}

// withoutSentinel drops a sentinel error's words from a message that
// already says them another way ("invalid configuration: x" → "x").
func withoutSentinel(msg string, sentinel error) string {
	w := sentinel.Error()
	msg = strings.ReplaceAll(msg, w+": ", "")
	msg = strings.TrimSuffix(msg, ": "+w)
	if msg == w {
		return "the plugin refused its configuration"
	}
	return msg
}
