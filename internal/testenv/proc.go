// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// proc is one process as read from /proc (Linux).
type proc struct {
	pid, ppid int
	state     byte   // R, S, D, Z, ...
	comm      string // kernel name, at most 15 bytes
	start     uint64 // start time, clock ticks after boot
	argv      []string
}

// readProcs reads every process of /proc. Processes that exit while we read
// are left out.
func readProcs() map[int]*proc {
	procs := map[int]*proc{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			procs[pid] = p
		}
	}
	return procs
}

func readProc(pid int) (*proc, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || closing < open {
		return nil, false
	}
	f := strings.Fields(string(stat[closing+1:])) // f[0] is field 3 (state)
	if len(f) < 20 {
		return nil, false
	}
	p := &proc{pid: pid, comm: string(stat[open+1 : closing])}
	p.state = f[0][0]
	p.ppid, _ = strconv.Atoi(f[1])
	p.start, _ = strconv.ParseUint(f[19], 10, 64) // field 22
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(cmdline) > 0 {
		p.argv = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	}
	return p, true
}

func (p *proc) cmdline() string {
	if len(p.argv) == 0 {
		return "[" + p.comm + "]"
	}
	return strings.Join(p.argv, " ")
}

// descendants returns every descendant of pid in procs.
func descendants(procs map[int]*proc, pid int) map[int]bool {
	children := map[int][]int{}
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	out := map[int]bool{}
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			if c != pid && !out[c] {
				out[c] = true
				queue = append(queue, c)
			}
		}
	}
	return out
}

// ChildProcesses returns the PIDs of all descendants of pid (children,
// grandchildren, ...), sorted.
func ChildProcesses(pid int) []int {
	var pids []int
	for c := range descendants(readProcs(), pid) {
		pids = append(pids, c)
	}
	sort.Ints(pids)
	return pids
}

// LeftoverProcesses lists ("PID cmdline") the live processes whose argv[0]
// base name (or kernel comm, when argv is empty) contains one of names and
// that this test process started: its descendants, and orphans that were
// re-parented to one of its ancestors (init or a subreaper) after this
// process started. Zombies, the test process itself, its ancestors and other
// test binaries (*.test) are not counted, so concurrent test runs of other
// packages on the same machine do not interfere.
func LeftoverProcesses(t testing.TB, names ...string) []string {
	t.Helper()
	if len(names) == 0 {
		t.Fatalf("testenv.LeftoverProcesses: no names given")
	}
	procs := readProcs()
	self := os.Getpid()
	me, ok := procs[self]
	if !ok {
		t.Fatalf("testenv.LeftoverProcesses: cannot read /proc/%d", self)
	}
	ancestors := map[int]bool{}
	for p := procs[me.ppid]; p != nil && !ancestors[p.pid]; p = procs[p.ppid] {
		ancestors[p.pid] = true
	}
	ancestors[1] = true
	mine := descendants(procs, self)

	var out []string
	for _, p := range procs {
		if p.pid == self || ancestors[p.pid] || p.state == 'Z' || p.state == 'X' {
			continue
		}
		if !mine[p.pid] && !(ancestors[p.ppid] && p.start >= me.start) {
			continue
		}
		name := p.comm
		if len(p.argv) > 0 {
			name = filepath.Base(p.argv[0])
		}
		if strings.HasSuffix(name, ".test") {
			continue
		}
		for _, n := range names {
			if strings.Contains(name, n) {
				out = append(out, fmt.Sprintf("%d %s", p.pid, p.cmdline()))
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// WaitNoLeftoverProcesses waits up to timeout for LeftoverProcesses(names...)
// to be empty (children die asynchronously, e.g. via Pdeathsig) and reports
// the survivors with t.Errorf otherwise.
func WaitNoLeftoverProcesses(t testing.TB, timeout time.Duration, names ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := LeftoverProcesses(t, names...)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes still running %s after the test's work ended:\n%s", timeout, strings.Join(left, "\n"))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Cmdlines returns the command line (arguments joined by spaces) of every
// process that has one, for tests asserting no secret appears in any argv.
func Cmdlines() []string {
	var out []string
	for _, p := range readProcs() {
		if len(p.argv) > 0 {
			out = append(out, strings.Join(p.argv, " "))
		}
	}
	sort.Strings(out)
	return out
}
