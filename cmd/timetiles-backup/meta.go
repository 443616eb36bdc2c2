// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"flag"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/term"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/sdk"
)

const exitCodesHelp = `Exit codes:
  0    success
  1    failure (an alert was sent where one is configured)
  2    usage or configuration error
  130  interrupted (SIGINT/SIGTERM); nothing half-written was committed`

const commonFlagsHelp = `Common options:
  --env-file=PATH     Env file to read (default: $TIMETILES_ENV_FILE, then
                      /opt/timetiles/.env.production when it exists). The
                      process environment wins over the file.
  --plugin-dir=DIR    Directory searched first for plugins
                      (default: $TIMETILES_BACKUP_PLUGIN_DIR).
  --log-level=LEVEL   trace, debug, info, warn or error (default: info).`

// Meta is shared by every command.
type Meta struct {
	UI     cli.Ui
	Ctx    context.Context
	Stdin  *os.File
	Stderr io.Writer

	envFile   string
	pluginDir string
	logLevel  string
}

// FlagSet returns a flag set with the common options.
func (m *Meta) FlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&m.envFile, "env-file", "", "")
	fs.StringVar(&m.pluginDir, "plugin-dir", "", "")
	fs.StringVar(&m.logLevel, "log-level", "", "")
	return fs
}

// Parse parses flags, reporting a usage error; flags may follow arguments.
func (m *Meta) Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError("%s", err.Error())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// Runner loads the configuration and returns a runner; close it after use.
func (m *Meta) Runner() (*host.Runner, error) {
	cfg, err := m.LoadConfig()
	if err != nil {
		return nil, err
	}
	level := m.logLevel
	if level == "" {
		level = cfg.GetDefault(sdk.EnvLogLevel, "info")
	}
	if hclog.LevelFromString(level) == hclog.NoLevel {
		return nil, config.Configf("log level %q: use trace, debug, info, warn or error", level)
	}
	os.Setenv(sdk.EnvLogLevel, level) // plugins inherit it
	log := hclog.New(&hclog.LoggerOptions{
		Name:   "timetiles-backup",
		Output: m.Stderr,
		Level:  hclog.LevelFromString(level),
	})
	if !log.IsDebug() {
		log = hclog.New(&hclog.LoggerOptions{
			Name: "timetiles-backup", Output: m.Stderr, Level: hclog.LevelFromString(level),
			Exclude: plugin.QuietLifecycle,
		})
	}
	return host.NewRunner(cfg, log, m.pluginDir), nil
}

// start is the prologue of a command that takes no arguments: it parses
// args into fs (the command's flags and the common options, FlagSet),
// refuses positional arguments, loads the configuration and returns a
// runner; close it after use. Errors are reported (fail): a bad flag or an
// extra argument as a usage error followed by help, a configuration that
// cannot be loaded as it is.
func (m *Meta) start(fs *flag.FlagSet, args []string, help string) (*host.Runner, error) {
	if err := m.parseNoArgs(fs, args, help); err != nil {
		return nil, err
	}
	return m.openRunner(nil)
}

// parseNoArgs parses args into fs and refuses positional arguments, both
// reported as usage errors followed by help. For commands that check their
// flags before they load the configuration (then openRunner).
func (m *Meta) parseNoArgs(fs *flag.FlagSet, args []string, help string) error {
	rest, err := m.Parse(fs, args)
	if err != nil {
		return m.fail(err, help)
	}
	if len(rest) > 0 {
		return m.fail(usageError("%s takes no arguments, got %q", fs.Name(), strings.Join(rest, " ")), help)
	}
	return nil
}

// openRunner is Runner with its error reported; alert, when not nil, is
// called with the error first (the jobs that alert when they cannot start).
func (m *Meta) openRunner(alert func(error)) (*host.Runner, error) {
	r, err := m.Runner()
	if err != nil {
		if alert != nil {
			alert(err)
		}
		return nil, m.fail(err, "")
	}
	return r, nil
}

// IsTerminal reports whether stdin is an interactive terminal.
func (m *Meta) IsTerminal() bool {
	return m.Stdin != nil && term.IsTerminal(int(m.Stdin.Fd()))
}

func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// checkComponents reports a component name that BACKUP_SOURCES does not
// know as a usage error (exit 2, no alert): `backup lst` is a typo, not a
// failed backup. A BACKUP_SOURCES that cannot be read is left to the
// command, which reports it as the configuration error it is.
func checkComponents(r *host.Runner, names []string, example string) error {
	order, sources, err := r.SourceMap()
	if err != nil {
		return nil
	}
	for _, n := range names {
		if _, ok := sources[n]; !ok {
			return usageError("unknown component %q: the components are %s (BACKUP_SOURCES), e.g. `timetiles-backup %s %s`",
				n, strings.Join(order, ", "), example, order[0])
		}
	}
	return nil
}
