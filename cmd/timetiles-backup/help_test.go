// SPDX-License-Identifier: Apache-2.0

package main

import (
	"go/ast"
	"go/token"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// hiddenFlags are deliberately left out of --help.
var hiddenFlags = map[string][]string{
	// --time sets a run's snapshot time: for retention tests and imports.
	"BackupCommand": {"time"},
}

// runFlags finds, per command type, the flags its Run method defines.
func runFlags(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	forEachGoFile(t, ".", func(_ string, af *ast.File) {
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || fd.Name.Name != "Run" || len(fd.Recv.List) != 1 {
				continue
			}
			star, ok := fd.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			typ := star.X.(*ast.Ident).Name
			out[typ] = []string{}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) < 2 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || !strings.HasSuffix(sel.Sel.Name, "Var") {
					return true
				}
				if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					name, _ := strconv.Unquote(lit.Value)
					out[typ] = append(out[typ], name)
				}
				return true
			})
		}
	})
	return out
}

// TestHelpStyle checks every command's --help, whoever wrote the command:
// the same layout, every flag documented, lines that fit a terminal.
func TestHelpStyle(t *testing.T) {
	t.Parallel() // shares nothing with other tests: own directories, cluster, repository, ports
	flags := runFlags(t)
	optionLine := regexp.MustCompile(`^  --[a-z][a-z-]*(=[A-Z][A-Z:-]*)? {2,}\S`)
	for name, factory := range Commands(&Meta{}) {
		cmd, _ := factory()
		typ := reflect.TypeOf(cmd).Elem().Name()
		help := cmd.Help()
		syn := cmd.Synopsis()
		t.Run(name, func(t *testing.T) {
			if !strings.HasPrefix(help, "Usage: timetiles-backup "+name) {
				t.Errorf("help does not start with %q", "Usage: timetiles-backup "+name)
			}
			if syn == "" || !unicode.IsUpper([]rune(syn)[0]) || strings.HasSuffix(syn, ".") || len(syn) > 75 {
				t.Errorf("synopsis %q: a capitalised phrase without a final period, at most 75 characters", syn)
			}
			for i, l := range strings.Split(help, "\n") {
				if len([]rune(l)) > 80 {
					t.Errorf("help line %d is %d characters (max 80): %q", i+1, len([]rune(l)), l)
				}
				if strings.TrimRight(l, " ") != l {
					t.Errorf("help line %d has trailing spaces", i+1)
				}
			}
			fl, parsed := flags[typ]
			if !parsed {
				t.Fatalf("no Run method found for %s", typ)
			}
			usesCommon := strings.Contains(help, commonFlagsHelp)
			if len(fl) > 0 || usesCommon {
				if !usesCommon || !strings.HasSuffix(help, exitCodesHelp) {
					t.Errorf("help must end with the common options and the exit codes (commonFlagsHelp, exitCodesHelp)")
				}
			}
			hidden := map[string]bool{}
			for _, h := range hiddenFlags[typ] {
				hidden[h] = true
			}
			own := 0
			for _, f := range fl {
				if f == "env-file" || f == "plugin-dir" || f == "log-level" || hidden[f] {
					continue
				}
				own++
				if !regexp.MustCompile(`(?m)^  --` + regexp.QuoteMeta(f) + `\b`).MatchString(help) {
					t.Errorf("flag --%s is not documented in the Options section", f)
				}
			}
			if own > 0 {
				i := strings.Index(help, "\nOptions:\n")
				if i < 0 {
					t.Fatal("no Options: section")
				}
				sect := help[i+len("\nOptions:\n") : strings.Index(help, "\nCommon options:")]
				for _, l := range strings.Split(strings.TrimRight(sect, "\n"), "\n") {
					if strings.HasPrefix(l, "  --") && !optionLine.MatchString(l) {
						t.Errorf("option line not in the common layout (\"  --name[=VALUE]  text\"): %q", l)
					}
				}
			}
		})
	}
}
