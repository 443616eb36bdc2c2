// SPDX-License-Identifier: Apache-2.0

// Package bench measures what the plugin architecture costs: CPU time and
// peak memory of every process (host, plugins, their children) read from
// /proc, the transport micro-benchmarks (go test -bench ./bench) and the
// side-by-side harness bench/cmd/ttbench (see docs/performance.md).
package bench

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTick is the unit of utime/stime in /proc/<pid>/stat: USER_HZ, 100 on
// every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// Proc is one process as read from /proc.
type Proc struct {
	Pid, PPid int
	// Name is the base name of argv[0] (the kernel's comm when argv is empty).
	Name string
	// CPU is user + system time of all the process's threads, not counting
	// its children.
	CPU time.Duration
	// HWM is the peak resident set size (VmHWM) in bytes.
	HWM uint64
	// argv reports that Name comes from argv (a zombie has none).
	argv bool
}

// ReadProc reads one process; false when it is gone.
func ReadProc(pid int) (Proc, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Proc{}, false
	}
	// "pid (comm) state ppid … utime(14) stime(15) …"; comm may hold spaces.
	open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || closing < open {
		return Proc{}, false
	}
	f := strings.Fields(string(stat[closing+1:])) // f[0] is field 3
	if len(f) < 13 {
		return Proc{}, false
	}
	p := Proc{Pid: pid, Name: string(stat[open+1 : closing])}
	p.PPid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	p.CPU = time.Duration(ut+st) * clockTick
	if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(cmd) > 0 {
		argv0, _, _ := bytes.Cut(cmd, []byte{0})
		p.Name, p.argv = filepath.Base(string(argv0)), true
	}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				p.HWM = kb << 10
			}
		}
	}
	return p, true
}

// Tree returns root and all its live descendants.
func Tree(root int) []Proc {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 1 {
				parent[pid], _ = strconv.Atoi(f[1])
			}
		}
	}
	in := map[int]bool{root: true}
	for changed := true; changed; {
		changed = false
		for pid, pp := range parent {
			if in[pp] && !in[pid] {
				in[pid], changed = true, true
			}
		}
	}
	var out []Proc
	for pid := range in {
		if p, ok := ReadProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// Sampler watches a process tree: for every process ever seen it keeps the
// latest CPU time and the peak VmHWM. A process's last sample before it
// exits stands for it (VmHWM only grows, so the peak is at most one
// interval's growth short).
type Sampler struct {
	root  int
	every time.Duration
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	seen  map[int]Proc
	// Watch, when set, is called at every sample (e.g. to measure a
	// temporary directory); it runs on the sampler's goroutine.
	watch func()
}

// StartSampler samples root's tree every interval until Stop.
func StartSampler(root int, every time.Duration, watch func()) *Sampler {
	s := &Sampler{root: root, every: every, stop: make(chan struct{}), done: make(chan struct{}), seen: map[int]Proc{}, watch: watch}
	s.sample()
	go s.loop()
	return s
}

func (s *Sampler) loop() {
	defer close(s.done)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sample()
		}
	}
}

func (s *Sampler) sample() {
	procs := Tree(s.root)
	s.mu.Lock()
	for _, p := range procs {
		if old, ok := s.seen[p.Pid]; ok {
			switch {
			case !p.argv:
				// A zombie: keep what was seen alive.
				p.Name, p.argv, p.HWM = old.Name, old.argv, max(old.HWM, p.HWM)
			case p.Name != old.Name:
				// It called exec: a new program (a child seen between fork
				// and exec shows its parent's name and memory).
			default:
				p.HWM = max(old.HWM, p.HWM)
			}
		}
		s.seen[p.Pid] = p
	}
	s.mu.Unlock()
	if s.watch != nil {
		s.watch()
	}
}

// Stop ends sampling and returns every process seen, by PID.
func (s *Sampler) Stop() map[int]Proc {
	out := s.Now()
	close(s.stop)
	<-s.done
	return out
}

// Now samples once more and returns every process seen, by PID.
func (s *Sampler) Now() map[int]Proc {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.seen)
}

// GiB is 2^30 bytes.
const GiB = 1 << 30

// MiB is 2^20 bytes.
const MiB = 1 << 20

// PerGiB returns CPU seconds per GiB moved.
func PerGiB(cpu time.Duration, bytes int64) float64 {
	if bytes <= 0 {
		return 0
	}
	return cpu.Seconds() / (float64(bytes) / GiB)
}
