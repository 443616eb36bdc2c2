// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/internal/rootonly"
	"github.com/timetiles/timetiles-backup/internal/version"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Version of timetiles-backup: internal/version's, set at build time from
// the git tags (scripts/version.sh).
var Version = version.Version

// Instances of the target plugin.
const (
	Local   = "local"
	Offsite = "offsite"
)

// Runner carries out commands: it launches the plugins a command needs,
// wires them and reports.
type Runner struct {
	Cfg        *config.Config
	Log        hclog.Logger
	PluginDir  string
	Manager    *plugin.Manager
	candidates []plugin.Candidate
}

// NewRunner prepares a runner; call Close when done.
func NewRunner(cfg *config.Config, log hclog.Logger, pluginDir string) *Runner {
	if pluginDir == "" {
		pluginDir = cfg.Get(config.EnvPluginDir)
	}
	m := &plugin.Manager{Logger: log, Transport: cfg.Get("TIMETILES_BACKUP_TRANSPORT")}
	m.Checksums, m.ChecksumsErr = plugin.ParsePluginChecksums(cfg.Get(plugin.EnvPluginChecksums))
	return &Runner{Cfg: cfg, Log: log, PluginDir: pluginDir, Manager: m}
}

// Close stops every plugin.
func (r *Runner) Close() { r.Manager.Close() }

// Candidates lists the plugin binaries found.
func (r *Runner) Candidates() []plugin.Candidate {
	if r.candidates == nil {
		r.candidates = plugin.Discover(r.SearchDirs())
	}
	return r.candidates
}

// SearchDirs lists the directories searched for plugins, in order.
func (r *Runner) SearchDirs() []string {
	return plugin.SearchDirs(r.PluginDir, r.pathEnv())
}

// pathEnv is $PATH when it is searched for plugins: always for users
// other than root, for root only when config.EnvSearchPath asks for it.
func (r *Runner) pathEnv() string {
	if on, _ := r.searchPath(); on || !rootonly.Applies() {
		return os.Getenv("PATH")
	}
	return ""
}

func (r *Runner) searchPath() (bool, error) {
	switch v := strings.ToLower(strings.TrimSpace(r.Cfg.Get(config.EnvSearchPath))); v {
	case "", "0", "false", "no", "off":
		return false, nil
	case "1", "true", "yes", "on":
		return true, nil
	default:
		return false, config.Configf("%s=%q: set 1 to search $PATH for plugins when run as root, or leave it unset", config.EnvSearchPath, v)
	}
}

// PathNote says, for messages listing the directories searched, whether
// $PATH was one of them.
func (r *Runner) PathNote() string {
	if r.pathEnv() == "" {
		return " ($PATH is not searched when run as root; set " + config.EnvSearchPath + "=1 to search it)"
	}
	return ""
}

// CheckDiscovery checks what plugin discovery relies on, before any plugin
// runs: the value of config.EnvSearchPath; as root, that nobody but root can
// change the explicit plugin directory; and that every checksum pin names
// a plugin that was found (a misspelled pin would pin nothing). Every
// error is a configuration error.
func (r *Runner) CheckDiscovery() error {
	if _, err := r.searchPath(); err != nil {
		return err
	}
	if r.PluginDir != "" {
		if err := plugin.CheckPluginDir(r.PluginDir); err != nil {
			return err
		}
	}
	if r.Manager.ChecksumsErr != nil {
		return r.Manager.ChecksumsErr
	}
	found := map[string]bool{}
	var names []string
	for _, c := range r.Candidates() {
		found[c.Name] = true
		names = append(names, c.Name)
	}
	var pins []string
	for name := range r.Manager.Checksums {
		pins = append(pins, name)
	}
	sort.Strings(pins)
	for _, name := range pins {
		if !found[name] {
			list := strings.Join(names, ", ")
			if list == "" {
				list = "none"
			}
			return config.Configf("%s pins plugin %s, but no plugin of that name was found (plugins found: %s; searched %s%s): correct the name or remove the pin",
				plugin.EnvPluginChecksums, name, list, strings.Join(r.SearchDirs(), ", "), r.PathNote())
		}
	}
	return nil
}

func (r *Runner) find(name string) (plugin.Candidate, error) {
	if err := r.CheckDiscovery(); err != nil {
		return plugin.Candidate{}, err
	}
	for _, c := range r.Candidates() {
		if c.Name == name {
			return c, nil
		}
	}
	return plugin.Candidate{}, fmt.Errorf("%w: plugin %q not found: looked for %s%s in %s%s; install it there or set %s",
		config.ErrConfig, name, plugin.BinaryPrefix, name, strings.Join(r.SearchDirs(), ", "), r.PathNote(), config.EnvPluginDir)
}

// UsedPlugins names the plugins this configuration runs: the sources of
// BACKUP_SOURCES, the target BACKUP_TARGET and the notifiers
// BACKUP_NOTIFIERS, sorted, each once.
func (r *Runner) UsedPlugins() ([]string, error) {
	set := map[string]bool{r.Cfg.GetDefault("BACKUP_TARGET", config.DefaultTarget): true}
	_, sources, err := r.SourceMap()
	if err != nil {
		return nil, err
	}
	for _, n := range sources {
		set[n] = true
	}
	for _, n := range r.Notifiers() {
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// Start launches and configures a plugin by name.
func (r *Runner) Start(ctx context.Context, name, instance string) (*plugin.Plugin, error) {
	c, err := r.find(name)
	if err != nil {
		return nil, err
	}
	p, err := r.Manager.Launch(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := r.Manager.Configure(ctx, p, r.Cfg, instance, nil); err != nil {
		return nil, err
	}
	return p, nil
}

// Hostname is the fixed host name recorded in snapshots, so that a
// container's changing hostname never splits retention groups.
func (r *Runner) Hostname() string {
	if h := r.Cfg.Get("BACKUP_HOSTNAME"); h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}

// ChecksumAlgorithm is the stream checksum recorded in manifests.
func (r *Runner) ChecksumAlgorithm() (string, error) {
	a := r.Cfg.GetDefault("BACKUP_CHECKSUM", sdk.DefaultChecksum)
	if _, err := sdk.NewChecksum(a); err != nil {
		return "", config.Configf("BACKUP_CHECKSUM=%q: use %s or %s", a, sdk.ChecksumXXH3, sdk.ChecksumSHA256)
	}
	return a, nil
}

// withTimeout bounds ctx by d; d ≤ 0 means no bound.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func (r *Runner) duration(key string, def time.Duration) (time.Duration, error) {
	v := r.Cfg.Get(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, config.Configf("%s=%q is not a duration: use e.g. 5m or 90s", key, v)
	}
	return d, nil
}
