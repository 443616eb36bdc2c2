// SPDX-License-Identifier: Apache-2.0

// Command ttcpu runs a command and prints where its CPU time went, process
// by process (every descendant, sampled from /proc), with its wall time:
//
//	go run ./bench/cmd/ttcpu -- timetiles-backup backup db
//
// It is how docs/performance.md attributes the CPU of a backup to the
// host, the plugins, restic and pg_dump.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"time"

	"github.com/timetiles/timetiles-backup/bench"
)

func main() {
	every := flag.Duration("every", 20*time.Millisecond, "sampling interval")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: ttcpu [-every 20ms] -- command [args…]")
		os.Exit(2)
	}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	s, err := bench.Run(cmd, bench.RunOptions{SampleEvery: *every})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	by := map[string]time.Duration{}
	for _, p := range s.Procs {
		by[p.Name] += p.CPU
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return by[names[i]] > by[names[j]] })
	fmt.Printf("wall %.2f s, CPU %.2f s (rusage of the tree)\n", s.Wall.Seconds(), s.CPU.Seconds())
	for _, n := range names {
		fmt.Printf("  %-40s %6.2f s\n", n, by[n].Seconds())
	}
}
