// SPDX-License-Identifier: Apache-2.0

package main

import (
	"regexp"
	"sort"

	"github.com/hashicorp/cli"
	"github.com/posener/complete"
)

// Shell completion: hashicorp/cli completes command names through
// posener/complete (the shell sets COMP_LINE, the CLI prints the candidates);
// the options of each command come from its --help text (the "  --name"
// lines), so completion, --help and the man pages never disagree.
// packaging/completion.bash and packaging/_timetiles-backup hook it into
// bash and zsh.

// completionArgs are the arguments a command takes, where they are a set.
var completionArgs = map[string]complete.Predictor{
	// The components, and the shell tool's names for them (backup.go).
	"backup":  complete.PredictSet("db", "uploads", "full", "database"),
	"restore": complete.PredictSet("latest"),
}

// optionLine is an option in a --help text: "  --name" or "  --name=VALUE".
var optionLine = regexp.MustCompile(`(?m)^  (--[a-z][a-z-]*)(=([A-Z][A-Z:-]*))?(?: {2,}|$)`)

// helpOptions lists the options a help text documents, with what their
// value is (empty for a switch).
func helpOptions(help string) map[string]string {
	out := map[string]string{}
	for _, m := range optionLine.FindAllStringSubmatch(help, -1) {
		out[m[1]] = m[3]
	}
	return out
}

// completingCommand adds completion to a command.
type completingCommand struct {
	cli.Command
	args complete.Predictor
}

func (c completingCommand) AutocompleteArgs() complete.Predictor {
	if c.args == nil {
		return complete.PredictNothing
	}
	return c.args
}

func (c completingCommand) AutocompleteFlags() complete.Flags {
	flags := complete.Flags{}
	for name, value := range helpOptions(c.Help()) {
		switch value {
		case "":
			flags[name] = complete.PredictNothing
		case "PATH", "FILE":
			flags[name] = complete.PredictFiles("*")
		case "DIR":
			flags[name] = complete.PredictDirs("*")
		case "LEVEL":
			flags[name] = complete.PredictSet("trace", "debug", "info", "warn", "error")
		default:
			flags[name] = complete.PredictAnything
		}
	}
	return flags
}

// completing wraps every command of the table with its completion.
func completing(cmds map[string]cli.CommandFactory) map[string]cli.CommandFactory {
	out := make(map[string]cli.CommandFactory, len(cmds))
	for name, f := range cmds {
		out[name] = func() (cli.Command, error) {
			c, err := f()
			if err != nil {
				return nil, err
			}
			return completingCommand{Command: c, args: completionArgs[name]}, nil
		}
	}
	return out
}

// commandNames is every command, sorted.
func commandNames(cmds map[string]cli.CommandFactory) []string {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
