// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"fmt"
	"strings"
)

// Man pages: timetiles-backup(1) and one per command
// (timetiles-backup-backup-list(1) for `backup list`), made from the very
// text `--help` prints: the root page from the command list of
// `timetiles-backup --help`, each command's page from its Help(). They are
// committed in docs/man/ and installed by the .deb; TestManPagesCurrent
// fails when they differ from what the code says, and
// `make man` (go test -run TestManPagesCurrent -update-man) rewrites them.

// manName is the page name of a command: "timetiles-backup-backup-list".
func manName(command string) string {
	if command == "" {
		return "timetiles-backup"
	}
	return "timetiles-backup-" + strings.ReplaceAll(command, " ", "-")
}

// roffEscape makes a line of plain text safe in roff: backslashes doubled,
// and a line starting with a control character (. or ') guarded.
func roffEscape(line string) string {
	line = strings.ReplaceAll(line, `\`, `\e`)
	line = strings.ReplaceAll(line, "-", `\-`)
	if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "'") {
		line = `\&` + line
	}
	return line
}

// manPage renders one page: NAME from the synopsis, SYNOPSIS from the
// help's "Usage:" line, DESCRIPTION the rest of the help text as printed
// (layout kept), SEE ALSO the related pages.
func manPage(command, synopsis, help string, seeAlso []string) []byte {
	var b bytes.Buffer
	name := manName(command)
	fmt.Fprintf(&b, ".\\\" Generated from the --help text by TestManPagesCurrent (cmd/timetiles-backup/manpage.go); do not edit.\n")
	fmt.Fprintf(&b, ".TH %s 1 \"\" \"timetiles-backup\" \"timetiles-backup manual\"\n", strings.ToUpper(name))
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", roffEscape(name), roffEscape(synopsis))
	lines := strings.Split(strings.TrimSpace(help), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "Usage: ") {
		fmt.Fprintf(&b, ".SH SYNOPSIS\n.nf\n%s\n.fi\n", roffEscape(strings.TrimPrefix(lines[0], "Usage: ")))
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	b.WriteString(".SH DESCRIPTION\n.nf\n")
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString(roffEscape(l) + "\n")
	}
	b.WriteString(".fi\n")
	if len(seeAlso) > 0 {
		refs := make([]string, len(seeAlso))
		for i, s := range seeAlso {
			refs[i] = `\fB` + roffEscape(s) + `\fR(1)`
		}
		fmt.Fprintf(&b, ".SH SEE ALSO\n%s\n", strings.Join(refs, ",\n"))
	}
	return b.Bytes()
}

// manPages renders every page, by file name ("timetiles-backup-backup.1").
func manPages() (map[string][]byte, error) {
	cmds := Commands(&Meta{})
	names := commandNames(cmds)
	pages := map[string][]byte{}
	var all []string
	for _, n := range names {
		all = append(all, manName(n))
	}
	// The root page: the text of `timetiles-backup --help`.
	var root bytes.Buffer
	c := newCLI(&Meta{}, []string{"--help"}, &root, &root)
	c.Version = ""
	if _, err := c.Run(); err != nil {
		return nil, err
	}
	pages["timetiles-backup.1"] = manPage("", "back up and restore a TimeTiles server with restic", "Usage: timetiles-backup COMMAND [options] [args]\n\n"+
		strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(root.String()), "Usage: timetiles-backup [--version] [--help] <command> [<args>]"))+
		"\n\nEvery command prints its own help with --help; its manual page is\ntimetiles-backup-COMMAND(1), e.g. timetiles-backup-backup-list(1).", all)
	for _, n := range names {
		cmd, err := cmds[n]()
		if err != nil {
			return nil, err
		}
		pages[manName(n)+".1"] = manPage(n, cmd.Synopsis(), cmd.Help(), []string{"timetiles-backup"})
	}
	return pages, nil
}
