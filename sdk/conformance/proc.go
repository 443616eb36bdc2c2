// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The process-table view the kit needs: which processes descend from a
// plugin, by name. (This module's internal/testenv has a richer one, but
// internal packages cannot be imported from other modules, and third
// parties run this kit.)

type procEntry struct {
	ppid  int
	state byte
	name  string
}

func readProcTable() map[int]procEntry {
	out := map[int]procEntry{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || closing < open {
			continue
		}
		f := strings.Fields(string(stat[closing+1:]))
		if len(f) < 2 {
			continue
		}
		p := procEntry{state: f[0][0], name: string(stat[open+1 : closing])}
		p.ppid, _ = strconv.Atoi(f[1])
		if argv, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(argv) > 0 {
			p.name = filepath.Base(strings.SplitN(string(argv), "\x00", 2)[0])
		}
		out[pid] = p
	}
	return out
}

// descendants returns pid → name of every live (not zombie) descendant of
// root.
func descendants(root int) map[int]string {
	procs := readProcTable()
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	out := map[int]string{}
	queue := []int{root}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			if _, seen := out[c]; seen || c == root {
				continue
			}
			queue = append(queue, c)
			if p := procs[c]; p.state != 'Z' && p.state != 'X' {
				out[c] = p.name
			}
		}
	}
	return out
}

// newSince returns the processes of now that are not in before.
func newSince(before, now map[int]string) map[int]string {
	out := map[int]string{}
	for pid, name := range now {
		if _, ok := before[pid]; !ok {
			out[pid] = name
		}
	}
	return out
}

func describeProcs(ps map[int]string) string {
	var s []string
	for pid, name := range ps {
		s = append(s, fmt.Sprintf("%s (pid %d)", name, pid))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// waitUntil polls cond every 20 ms for up to d.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writersGone reports whether every write end of the pipe whose read end
// is r has been closed, without reading from it (POLLHUP on a pipe's read
// end means no writer is left, whatever data is still buffered).
func writersGone(r *os.File) bool { return polled(r, unix.POLLIN, unix.POLLHUP) }

// readersGone reports whether every read end of the pipe whose write end
// is w has been closed (POLLERR on a pipe's write end).
func readersGone(w *os.File) bool { return polled(w, unix.POLLOUT, unix.POLLERR) }

// polled polls f once, without waiting, and reports whether flag is set.
func polled(f *os.File, events, flag int16) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	set := false
	_ = rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
		if n, err := unix.Poll(fds, 0); err == nil && n > 0 {
			set = fds[0].Revents&flag != 0
		}
	})
	return set
}
