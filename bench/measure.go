// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Sample is one measured run of a command.
type Sample struct {
	Wall time.Duration
	// CPU is user + system time of the command and every descendant it
	// waited for (the rusage wait4 reports): the whole process tree.
	CPU time.Duration
	// Procs are the per-process samples (when sampling was asked for).
	Procs map[int]Proc
	// TempPeak is the largest size the watched temporary directory reached.
	TempPeak int64
}

// RunOptions control what Run measures besides wall and CPU time.
type RunOptions struct {
	// SampleEvery samples the process tree (CPU, VmHWM) at this interval;
	// zero disables sampling (it costs CPU of its own).
	SampleEvery time.Duration
	// TempDir, when set, is watched (total bytes of the files in it) at
	// SampleEvery, or every 20 ms without tree sampling.
	TempDir string
}

// Run runs cmd to completion and measures it. A non-zero exit is an error
// that carries the command's output.
func Run(cmd *exec.Cmd, o RunOptions) (Sample, error) {
	var out bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &out
	}
	var s Sample
	var mu sync.Mutex
	watchTemp := func() {
		if o.TempDir == "" {
			return
		}
		n := DirBytes(o.TempDir)
		mu.Lock()
		s.TempPeak = max(s.TempPeak, n)
		mu.Unlock()
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return s, err
	}
	var sampler *Sampler
	stopTemp := make(chan struct{})
	tempDone := make(chan struct{})
	switch {
	case o.SampleEvery > 0:
		sampler = StartSampler(cmd.Process.Pid, o.SampleEvery, watchTemp)
		close(tempDone)
	case o.TempDir != "":
		go func() {
			defer close(tempDone)
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				watchTemp()
				select {
				case <-stopTemp:
					return
				case <-t.C:
				}
			}
		}()
	default:
		close(tempDone)
	}
	err := cmd.Wait()
	s.Wall = time.Since(start)
	close(stopTemp)
	<-tempDone
	if sampler != nil {
		s.Procs = sampler.Stop()
	}
	watchTemp()
	if cmd.ProcessState != nil {
		s.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		tail := out.String()
		if len(tail) > 4000 {
			tail = "…" + tail[len(tail)-4000:]
		}
		return s, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, tail)
	}
	return s, nil
}

// DirBytes is the total size of the regular files under dir.
func DirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// Median returns the median of xs (the mean of the middle two for an even
// count).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Peaks groups per-process samples by role and returns each role's largest
// VmHWM. role maps a process name to a role ("" to ignore the process).
func Peaks(procs map[int]Proc, role func(name string) string) map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range procs {
		if r := role(p.Name); r != "" {
			out[r] = max(out[r], p.HWM)
		}
	}
	return out
}

// CPUByRole sums per-process CPU samples by role.
func CPUByRole(procs map[int]Proc, role func(name string) string) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, p := range procs {
		if r := role(p.Name); r != "" {
			out[r] += p.CPU
		}
	}
	return out
}

// Env returns os.Environ() without the named variables, plus extra.
func Env(drop []string, extra ...string) []string {
	var env []string
outer:
	for _, kv := range os.Environ() {
		for _, d := range drop {
			if strings.HasPrefix(kv, d+"=") {
				continue outer
			}
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
