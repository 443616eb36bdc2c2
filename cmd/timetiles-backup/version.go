// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strings"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/internal/wire"
)

// VersionCommand is `timetiles-backup version`.
type VersionCommand struct {
	*Meta
}

func (c *VersionCommand) Synopsis() string { return "Print the version" }

func (c *VersionCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup version

  Prints the version of timetiles-backup, its plugin protocol version and
  the plugin API versions it speaks.`)
}

func versionString() string {
	return fmt.Sprintf("%s (plugin protocol %d, API versions %v)", host.Version, wire.ProtocolVersion, plugin.SupportedAPIVersions)
}

func (c *VersionCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *VersionCommand) run(args []string) error {
	if len(args) > 0 {
		return c.fail(usageError("version takes no arguments"), c.Help())
	}
	c.UI.Output("timetiles-backup " + versionString())
	return nil
}
