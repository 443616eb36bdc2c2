// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"log"
	"os"
	"sync"
	"testing"
)

// runTB lets this program use internal/testenv (throwaway PostgreSQL, pinned
// tools, the project's binaries), whose helpers take a testing.TB. The
// embedded nil TB covers methods testenv does not call; a Fatal unwinds to
// main through a panic and the cleanups run, in reverse order, before exit.
type runTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

type fatal struct{ msg string }

func (t *runTB) Helper()                 {}
func (t *runTB) Name() string            { return "ttbench" }
func (t *runTB) Log(a ...any)            { log.Print(a...) }
func (t *runTB) Logf(f string, a ...any) { log.Printf(f, a...) }
func (t *runTB) Fail()                   { t.mu.Lock(); t.failed = true; t.mu.Unlock() }
func (t *runTB) Failed() bool            { t.mu.Lock(); defer t.mu.Unlock(); return t.failed }
func (t *runTB) FailNow()                { t.Fail(); panic(fatal{"FailNow"}) }
func (t *runTB) Error(a ...any)          { log.Print(a...); t.Fail() }
func (t *runTB) Errorf(f string, a ...any) {
	log.Printf(f, a...)
	t.Fail()
}
func (t *runTB) Fatal(a ...any) { t.Fail(); panic(fatal{fmt.Sprint(a...)}) }
func (t *runTB) Fatalf(f string, a ...any) {
	t.Fail()
	panic(fatal{fmt.Sprintf(f, a...)})
}
func (t *runTB) Skip(a ...any)            { t.Fatal(a...) }
func (t *runTB) Skipf(f string, a ...any) { t.Fatalf(f, a...) }
func (t *runTB) SkipNow()                 { t.FailNow() }
func (t *runTB) Skipped() bool            { return false }
func (t *runTB) Setenv(k, v string)       { os.Setenv(k, v) }
func (t *runTB) Cleanup(f func())         { t.mu.Lock(); t.cleanups = append(t.cleanups, f); t.mu.Unlock() }

// TempDir returns a new directory removed at exit.
func (t *runTB) TempDir() string {
	d, err := os.MkdirTemp("", "ttbench-")
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// cleanup runs the cleanups once, newest first.
func (t *runTB) cleanup() {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}
