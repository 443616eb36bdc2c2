// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
)

// EnvCPUProfile, set to a directory, makes the CLI and every plugin write a
// CPU profile of its whole life there, as <program>-<pid>.cpu.pprof (read
// with `go tool pprof`). docs/performance.md shows what it found.
const EnvCPUProfile = "TIMETILES_BACKUP_CPUPROFILE"

// StartProfile starts the CPU profile EnvCPUProfile asks for and returns
// the function that writes it; without the variable both do nothing.
// Errors are logged, never fatal: a profile is a diagnostic.
func StartProfile() (stop func()) {
	dir := os.Getenv(EnvCPUProfile)
	if dir == "" {
		return func() {}
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.cpu.pprof", filepath.Base(os.Args[0]), os.Getpid()))
	f, err := os.Create(path)
	if err != nil {
		Logger.Warn("cannot write the CPU profile", "error", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		Logger.Warn("cannot start the CPU profile", "error", err)
		return func() {}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
}
