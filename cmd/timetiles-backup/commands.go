// SPDX-License-Identifier: Apache-2.0

package main

import (
	"github.com/hashicorp/cli"
)

// Commands maps command names to factories. One file per command.
func Commands(m *Meta) map[string]cli.CommandFactory {
	return map[string]cli.CommandFactory{
		"backup":        func() (cli.Command, error) { return &BackupCommand{Meta: m}, nil },
		"backup list":   func() (cli.Command, error) { return &ListCommand{Meta: m}, nil },
		"backup prune":  func() (cli.Command, error) { return &PruneCommand{Meta: m}, nil },
		"backup verify": func() (cli.Command, error) { return &VerifyCommand{Meta: m}, nil },
		"restore":       func() (cli.Command, error) { return &RestoreCommand{Meta: m}, nil },
		"plugins":       func() (cli.Command, error) { return &PluginsCommand{Meta: m}, nil },
		"version":       func() (cli.Command, error) { return &VersionCommand{Meta: m}, nil },
		"config":        func() (cli.Command, error) { return &ConfigCommand{Meta: m}, nil },
		"init":          func() (cli.Command, error) { return &InitCommand{Meta: m}, nil },
		"backup auto":   func() (cli.Command, error) { return &AutoCommand{Meta: m}, nil },
		"alert":         func() (cli.Command, error) { return &AlertCommand{Meta: m}, nil },
		"alert test":    func() (cli.Command, error) { return &AlertTestCommand{Meta: m}, nil },
		"status":        func() (cli.Command, error) { return &StatusCommand{Meta: m}, nil },
	}
}
