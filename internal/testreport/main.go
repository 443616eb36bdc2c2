// SPDX-License-Identifier: Apache-2.0

// Command testreport reads the event stream of `go test -json` on its
// standard input and makes it readable: one line per package, the full
// output of every failed test, and at the end every skipped test with its
// reason, every failure, and the slowest tests. scripts/test.sh pipes the
// whole suite through it.
//
//	go test -json ./... | go run ./internal/testreport -allow scripts/skip-allowlist.txt -json-out test.json
//
// With -ci (scripts/test.sh sets it when CI=true) a skipped test fails the
// run unless the allow-list names it with the reason it cannot run on that
// kind of machine. The exit status is 1 when a test or a package failed, or
// when -ci finds a skip that is not allowed.
//
// The event format is cmd/test2json's (go doc test2json); it is read with
// encoding/json alone, so the tool needs nothing outside the standard
// library.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time        time.Time
	Action      string
	Package     string
	ImportPath  string // build-output and build-fail events
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
}

// test is what is known about one test (or subtest) of one package.
type test struct {
	pkg, name string
	action    string // run, pass, fail, skip
	elapsed   float64
	output    []string
}

// pkgState is one package's progress.
type pkgState struct {
	name    string
	action  string // pass, fail, skip
	elapsed float64
	output  []string // package-level output (no Test)
	tests   map[string]*test
	order   []string
}

// report accumulates the stream.
type report struct {
	module string // the module path, trimmed from package names when printed
	pkgs   map[string]*pkgState
	order  []string
	builds map[string][]string // build output by import path
	failed map[string]bool     // import paths whose build failed
	out    io.Writer
}

func newReport(module string, out io.Writer) *report {
	return &report{module: module, pkgs: map[string]*pkgState{}, builds: map[string][]string{}, failed: map[string]bool{}, out: out}
}

func (r *report) pkg(name string) *pkgState {
	p := r.pkgs[name]
	if p == nil {
		p = &pkgState{name: name, tests: map[string]*test{}}
		r.pkgs[name] = p
		r.order = append(r.order, name)
	}
	return p
}

// short names a package relative to the module root (./host), as the
// allow-list does.
func (r *report) short(pkg string) string {
	if r.module != "" {
		if pkg == r.module {
			return "."
		}
		if rest, ok := strings.CutPrefix(pkg, r.module+"/"); ok {
			return "./" + rest
		}
	}
	return pkg
}

// add takes one event and prints what is worth printing as it happens: a
// line per finished package and the output of a failed test.
func (r *report) add(e event) {
	switch e.Action {
	case "build-output":
		r.builds[e.ImportPath] = append(r.builds[e.ImportPath], e.Output)
		return
	case "build-fail":
		r.failed[e.ImportPath] = true
		fmt.Fprintf(r.out, "BUILD FAIL %s\n%s", r.short(e.ImportPath), strings.Join(r.builds[e.ImportPath], ""))
		return
	}
	if e.Package == "" {
		return
	}
	p := r.pkg(e.Package)
	if e.Test == "" {
		switch e.Action {
		case "output":
			p.output = append(p.output, e.Output)
		case "pass", "fail", "skip":
			p.action, p.elapsed = e.Action, e.Elapsed
			r.packageDone(p, e.FailedBuild)
		}
		return
	}
	t := p.tests[e.Test]
	if t == nil {
		t = &test{pkg: e.Package, name: e.Test, action: "run"}
		p.tests[e.Test] = t
		p.order = append(p.order, e.Test)
	}
	switch e.Action {
	case "output":
		t.output = append(t.output, e.Output)
	case "pass", "fail", "skip":
		t.action, t.elapsed = e.Action, e.Elapsed
		if e.Action == "fail" && !strings.Contains(e.Test, "/") {
			// The whole top-level test with its subtests, as go test prints it.
			fmt.Fprintf(r.out, "== FAIL %s %s (%.2fs)\n", r.short(e.Package), e.Test, e.Elapsed)
			for _, name := range p.order {
				if name == e.Test || strings.HasPrefix(name, e.Test+"/") {
					fmt.Fprint(r.out, strings.Join(p.tests[name].output, ""))
				}
			}
		}
	}
}

// packageDone prints a package's line; for a failed package without a
// failed test (a panic, a timeout, a failing TestMain) its own output too.
func (r *report) packageDone(p *pkgState, failedBuild string) {
	switch p.action {
	case "skip":
		return // no test files
	case "pass":
		fmt.Fprintf(r.out, "ok    %-40s %7.1fs\n", r.short(p.name), p.elapsed)
		return
	}
	fmt.Fprintf(r.out, "FAIL  %-40s %7.1fs\n", r.short(p.name), p.elapsed)
	if failedBuild != "" {
		return // printed with build-fail
	}
	anyFailed := false
	for _, t := range p.tests {
		anyFailed = anyFailed || t.action == "fail"
	}
	if !anyFailed {
		fmt.Fprint(r.out, strings.Join(p.output, ""))
	}
	for _, name := range p.order {
		if t := p.tests[name]; t.action == "run" {
			fmt.Fprintf(r.out, "--- DID NOT FINISH: %s (%s)\n%s", name, r.short(p.name), strings.Join(t.output, ""))
		}
	}
}

// logLine is the start of a line written by t.Log/t.Skip: indented, then
// file.go:line: .
var logLine = regexp.MustCompile(`^\s+[^\s:]+\.go:\d+: `)

// skipReason is what the test said last before it skipped: its last log
// entry (the t.Skip message), continuation lines included.
func skipReason(output []string) string {
	var lines []string
	for _, o := range output {
		lines = append(lines, strings.Split(strings.TrimRight(o, "\n"), "\n")...)
	}
	start := -1
	for i, l := range lines {
		if logLine.MatchString(l) {
			start = i
		}
	}
	if start < 0 {
		return "(no reason given)"
	}
	var msg []string
	for i := start; i < len(lines); i++ {
		l := lines[i]
		if i > start && (strings.HasPrefix(strings.TrimSpace(l), "--- ") || strings.HasPrefix(l, "=== ") || logLine.MatchString(l)) {
			break
		}
		if i == start {
			l = logLine.ReplaceAllString(l, "")
		}
		msg = append(msg, strings.TrimSpace(l))
	}
	return strings.Join(msg, " ")
}

// allowEntry is one line of the skip allow-list: a package (./dir), a test
// name (path.Match pattern, subtests with /) and why it cannot run on the
// kind of machine that skips it.
type allowEntry struct {
	pkg, test, reason string
	used              bool
}

// readAllowList parses the allow-list: "PACKAGE TEST REASON…" per line,
// blank lines and # comments ignored. A line without a reason is an error:
// the list exists to say why.
func readAllowList(r io.Reader) ([]*allowEntry, error) {
	var list []*allowEntry
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: %q: want PACKAGE TEST REASON (e.g. ./host TestX needs a GPU, CI machines have none)", n, line)
		}
		if _, err := path.Match(f[1], ""); err != nil {
			return nil, fmt.Errorf("line %d: test pattern %q: %v", n, f[1], err)
		}
		reason := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(line, f[0])), f[1]))
		list = append(list, &allowEntry{pkg: f[0], test: f[1], reason: reason})
	}
	return list, sc.Err()
}

func (r *report) allowed(list []*allowEntry, t *test) *allowEntry {
	for _, a := range list {
		if a.pkg != r.short(t.pkg) && a.pkg != t.pkg {
			continue
		}
		if ok, _ := path.Match(a.test, t.name); ok {
			a.used = true
			return a
		}
	}
	return nil
}

// summary prints the skips, the failures and the slowest tests, and
// returns whether the run failed.
func (r *report) summary(allow []*allowEntry, ci bool, slowest int) bool {
	var all []*test
	failedPkgs := 0
	for _, name := range r.order {
		p := r.pkgs[name]
		if p.action == "fail" || p.action == "" {
			failedPkgs++
		}
		for _, tn := range p.order {
			all = append(all, p.tests[tn])
		}
	}
	if failedPkgs == 0 && len(r.failed) > 0 {
		failedPkgs = len(r.failed) // a build failed and no package said so
	}

	var skipped, failed, unfinished []*test
	passed := 0
	for _, t := range all {
		switch t.action {
		case "skip":
			skipped = append(skipped, t)
		case "fail":
			failed = append(failed, t)
		case "run":
			unfinished = append(unfinished, t)
		case "pass":
			passed++
		}
	}

	bad := false
	fmt.Fprintf(r.out, "\n== skipped tests: %d\n", len(skipped))
	for _, t := range skipped {
		mark := ""
		if a := r.allowed(allow, t); a != nil {
			mark = "  [allow-listed: " + a.reason + "]"
		} else if ci {
			mark = "  [NOT ALLOWED under CI]"
			bad = true
		}
		fmt.Fprintf(r.out, "SKIP  %s %s: %s%s\n", r.short(t.pkg), t.name, skipReason(t.output), mark)
	}
	for _, a := range allow {
		if !a.used {
			fmt.Fprintf(r.out, "note: allow-list entry %s %s did not skip in this run (it runs here)\n", a.pkg, a.test)
		}
	}
	if bad {
		fmt.Fprintln(r.out, "CI=true: a test skipped that is not on the allow-list: make it run on this machine (install what it needs in scripts/install-deps.sh), or add it to the allow-list with the reason it cannot run on this kind of machine.")
	}

	fmt.Fprintf(r.out, "\n== failed tests: %d\n", len(failed)+len(unfinished))
	for _, t := range failed {
		fmt.Fprintf(r.out, "FAIL  %s %s (%.2fs)\n", r.short(t.pkg), t.name, t.elapsed)
	}
	for _, t := range unfinished {
		fmt.Fprintf(r.out, "FAIL  %s %s (did not finish)\n", r.short(t.pkg), t.name)
	}

	var top []*test
	for _, t := range all {
		if !strings.Contains(t.name, "/") && t.action != "run" {
			top = append(top, t)
		}
	}
	sort.SliceStable(top, func(i, j int) bool { return top[i].elapsed > top[j].elapsed })
	if len(top) > slowest {
		top = top[:slowest]
	}
	fmt.Fprintf(r.out, "\n== %d slowest tests\n", len(top))
	for _, t := range top {
		fmt.Fprintf(r.out, "%7.1fs  %s %s\n", t.elapsed, r.short(t.pkg), t.name)
	}

	fmt.Fprintf(r.out, "\n== %d passed, %d failed, %d skipped; %d of %d packages failed\n",
		passed, len(failed)+len(unfinished), len(skipped), failedPkgs, len(r.order))
	return bad || len(failed) > 0 || len(unfinished) > 0 || failedPkgs > 0
}

func main() {
	allowPath := flag.String("allow", "", "skip allow-list file (PACKAGE TEST REASON per line)")
	ci := flag.Bool("ci", os.Getenv("CI") == "true", "fail on a skip the allow-list does not name (default: CI=true)")
	jsonOut := flag.String("json-out", "", "also write the raw event stream to this file")
	module := flag.String("module", "", "module path, trimmed from package names (./host)")
	slowest := flag.Int("slowest", 10, "how many of the slowest tests to list")
	flag.Parse()

	var allow []*allowEntry
	if *allowPath != "" {
		f, err := os.Open(*allowPath)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testreport: %v\n", err)
			os.Exit(2)
		}
		allow, err = readAllowList(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "testreport: %s: %v\n", *allowPath, err)
			os.Exit(2)
		}
	}
	var raw io.Writer = io.Discard
	if *jsonOut != "" {
		f, err := os.Create(*jsonOut)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testreport: %v\n", err)
			os.Exit(2)
		}
		defer f.Close()
		raw = f
	}
	r := newReport(*module, os.Stdout)
	if err := r.read(os.Stdin, raw); err != nil {
		fmt.Fprintf(os.Stderr, "testreport: %v\n", err)
		os.Exit(2)
	}
	if r.summary(allow, *ci, *slowest) {
		os.Exit(1)
	}
}

// read consumes the event stream, copying it to raw. A line that is not an
// event (go test's own messages) is printed as it is.
func (r *report) read(in io.Reader, raw io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		fmt.Fprintf(raw, "%s\n", line)
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(r.out, "%s\n", line)
			continue
		}
		r.add(e)
	}
	return sc.Err()
}
