// SPDX-License-Identifier: Apache-2.0

// Command timetiles-backup backs up a TimeTiles server (PostgreSQL and the
// uploads directory) into restic repositories through plugins.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-plugin"

	"github.com/timetiles/timetiles-backup/internal/quietterm"
	"github.com/timetiles/timetiles-backup/sdk"
)

// The terminal is not probed at start (internal/quietterm): the operator's
// TERM comes back once every package is initialised.
func init() { quietterm.Restore() }

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func realMain(args []string, stdin *os.File, stdout, stderr *os.File) int {
	// Plugins die with the host (Pdeathsig), and every exit path kills them.
	defer plugin.CleanupClients()
	defer sdk.StartProfile()() // TIMETILES_BACKUP_CPUPROFILE (docs/performance.md)
	// The first SIGINT/SIGTERM cancels the work: plugins stop restic and
	// pg_dump, nothing half-written is committed, the failure is alerted,
	// exit 130. A second one ends the process at once (the default action);
	// the plugins follow it through Pdeathsig.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	ui := &cli.BasicUi{Reader: stdin, Writer: stdout, ErrorWriter: stderr}
	// Log lines go through a switch that progress bars take over while
	// they are drawn (progress.go).
	m := &Meta{UI: ui, Ctx: ctx, Stdin: stdin, Stderr: &switchWriter{w: stderr}}
	c := newCLI(m, args, stdout, stderr)
	code, err := c.Run()
	if err != nil { // the command line itself (mitchellh/cli printed nothing)
		ui.Error(err.Error())
		return exitCode(ctx, reported(usageError("%s", err.Error())))
	}
	if code == 127 { // mitchellh/cli's "no such command", already printed
		return exitCode(ctx, reported(usageError("no such command")))
	}
	return code // a command's Run: exitCode of the error it returned
}

// newCLI is the command line: the commands, their help, and shell completion
// (a shell sets COMP_LINE and reads the candidates from stdout; see
// completion.go).
func newCLI(m *Meta, args []string, stdout, stderr io.Writer) *cli.CLI {
	return &cli.CLI{
		Name:                       "timetiles-backup",
		Version:                    "timetiles-backup " + versionString(), // as `version` prints it
		Args:                       args,
		Commands:                   completing(Commands(m)),
		Autocomplete:               true,
		AutocompleteNoDefaultFlags: true,
		HelpWriter:                 stdout,
		ErrorWriter:                stderr,
	}
}
