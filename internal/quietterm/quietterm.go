// SPDX-License-Identifier: Apache-2.0

// Package quietterm keeps the terminal styling libraries from probing the
// terminal while the program starts.
//
// bubbletea's init (tea_init.go, a workaround its authors remove in v2) asks
// lipgloss whether the background is dark; on a terminal, termenv then
// writes an OSC 11 and a cursor-position query to stdout and waits up to
// 5 s for answers that a terminal which does not answer (a serial console,
// some web and CI terminals, `script` in a pipeline) never sends, and the
// queries stay on the screen as escape sequences. Every command paid this,
// even `version`.
//
// This package imports nothing but syscall, so Go initialises it before
// golang.org/x/sys/unix (its import path sorts first, and its only import
// is one of unix's), hence before termenv, lipgloss and bubbletea. Its init
// sets TERM=dumb, the value for which termenv never queries the terminal;
// the CLI's main package calls Restore from its own init, which runs after
// every imported package's, so the commands and the processes they start
// see the operator's TERM. The interactive picker, the one place that draws
// styled output, asks the terminal itself just before it draws.
// TestVersionOnSilentTerminal (cmd/timetiles-backup) holds this to account.
package quietterm

import "syscall"

var (
	term    string
	hadTerm bool
)

func init() {
	term, hadTerm = syscall.Getenv("TERM")
	_ = syscall.Setenv("TERM", "dumb")
}

// Restore puts the operator's TERM back.
func Restore() {
	if hadTerm {
		_ = syscall.Setenv("TERM", term)
	} else {
		_ = syscall.Unsetenv("TERM")
	}
}
