// SPDX-License-Identifier: Apache-2.0

// Package testenv gives the project's real-process tests real things to work
// with: throwaway PostgreSQL clusters, realistic upload trees and a way to
// compare them, the pinned tools from scripts/tools.sh, the project's own
// binaries, and views of the process table. It is imported by tests only.
package testenv

import (
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

const modulePath = "github.com/timetiles/timetiles-backup"

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the module root (the directory holding this module's
// go.mod). It panics if it cannot be found: nothing in the test can work then.
func RepoRoot() string {
	rootOnce.Do(func() {
		var starts []string
		if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
			starts = append(starts, filepath.Dir(file))
		}
		if wd, err := os.Getwd(); err == nil {
			starts = append(starts, wd)
		}
		for _, s := range starts {
			if d, ok := findModuleRoot(s); ok {
				rootDir = d
				return
			}
		}
		rootErr = fmt.Errorf("testenv: no go.mod for module %s above %v", modulePath, starts)
	})
	if rootErr != nil {
		panic(rootErr)
	}
	return rootDir
}

// findModuleRoot walks up from dir to the go.mod that declares this module.
func findModuleRoot(dir string) (string, bool) {
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				f := strings.Fields(line)
				if len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == modulePath {
					return dir, true
				}
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// toolBins maps the names scripts/tools.sh understands to the file it links
// into .tools/bin.
var toolBins = map[string]string{
	"restic":             "restic",
	"restic-floor":       "restic-0.16",
	"restic-lowkdf":      "restic-lowkdf",
	"rest-server":        "rest-server",
	"versitygw":          "versitygw",
	"buf":                "buf",
	"protoc-gen-go":      "protoc-gen-go",
	"protoc-gen-go-grpc": "protoc-gen-go-grpc",
	"nfpm":               "nfpm",
}

var (
	toolMu    sync.Mutex
	toolLocks = map[string]*sync.Mutex{}
)

// Tool returns the absolute path of a pinned tool in .tools/bin, building it
// with scripts/tools.sh first if it is missing (that can take a minute).
// Names: restic, restic-floor (restic 0.16.4), restic-lowkdf (NewRepo),
// rest-server, versitygw.
func Tool(t testing.TB, name string) string {
	t.Helper()
	bin, ok := toolBins[name]
	if !ok {
		t.Fatalf("testenv.Tool: unknown tool %q", name)
	}
	root := RepoRoot()
	exe := filepath.Join(root, ".tools", "bin", bin)
	if isExecutable(exe) {
		return exe
	}

	toolMu.Lock()
	mu := toolLocks[name]
	if mu == nil {
		mu = new(sync.Mutex)
		toolLocks[name] = mu
	}
	toolMu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if isExecutable(exe) {
		return exe
	}

	// Other test binaries (go test ./... runs packages in parallel) may be
	// building the same tool: serialise across processes with a file lock.
	unlock, err := lockFile(filepath.Join(root, ".tools", ".lock-"+name))
	if err != nil {
		t.Fatalf("testenv.Tool(%s): %v", name, err)
	}
	defer unlock()
	if isExecutable(exe) {
		return exe
	}
	t.Logf("testenv: building %s with scripts/tools.sh (first time only)", name)
	cmd := exec.Command(filepath.Join(root, "scripts", "tools.sh"), name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv.Tool(%s): scripts/tools.sh %s: %v\n%s", name, name, err, out)
	}
	if !isExecutable(exe) {
		t.Fatalf("testenv.Tool(%s): scripts/tools.sh succeeded but %s is missing", name, exe)
	}
	return exe
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path) // follows the .tools/bin symlink
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// lockFile takes an exclusive flock on path (created if needed).
func lockFile(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// BuildBinaries builds the CLI (cmd/timetiles-backup), every main package
// under plugins/ and internal/testplugins/ (named timetiles-backup-<dir>) and
// every main package under
// examples/ that belongs to this module (named <dir>) into one directory
// shared by the whole test process, and returns that directory. Packages that
// do not exist yet are skipped. The build runs once per process; a failure is
// reported to every caller.
func BuildBinaries(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		sweepStaleBinDirs()
		binDir = filepath.Join(os.TempDir(), "timetiles-backup-bin-"+strconv.Itoa(os.Getpid()))
		if err := os.RemoveAll(binDir); err != nil {
			binErr = err
			return
		}
		if err := os.MkdirAll(binDir, 0o755); err != nil {
			binErr = err
			return
		}
		binErr = buildBinaries(RepoRoot(), binDir)
	})
	if binErr != nil {
		t.Fatalf("testenv.BuildBinaries: %v", binErr)
	}
	return binDir
}

// sweepStaleBinDirs removes binary directories left by test processes that
// no longer run, so repeated test runs do not fill the temp directory.
func sweepStaleBinDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "timetiles-backup-bin-*"))
	for _, m := range matches {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(m), "timetiles-backup-bin-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			os.RemoveAll(m)
		}
	}
}

// versionVar is the variable release builds set to the version.
const versionVar = "github.com/timetiles/timetiles-backup/internal/version.Version"

var (
	versionOnce sync.Once
	versionStr  string
)

// Version is the version scripts/version.sh gives this checkout, the one
// BuildBinaries builds into the CLI and every plugin ("0.0.0-unknown" when
// the script cannot run).
func Version() string {
	versionOnce.Do(func() {
		versionStr = "0.0.0-unknown"
		cmd := exec.Command(filepath.Join(RepoRoot(), "scripts", "version.sh"))
		if out, err := cmd.Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
			versionStr = strings.TrimSpace(string(out))
		}
	})
	return versionStr
}

// mainPackage is a main package to build: dir relative to the module root,
// and the binary name.
type mainPackage struct {
	Dir, Name string
}

// findMainPackages lists the main packages BuildBinaries builds, sorted by dir.
func findMainPackages(root string) ([]mainPackage, error) {
	var pkgs []mainPackage
	if isMainPackage(filepath.Join(root, "cmd", "timetiles-backup")) {
		pkgs = append(pkgs, mainPackage{Dir: "cmd/timetiles-backup", Name: "timetiles-backup"})
	}
	for _, top := range []string{"plugins", "internal/testplugins", "examples"} {
		base := filepath.Join(root, top)
		if _, err := os.Stat(base); err != nil {
			continue
		}
		err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				return nil
			}
			n := d.Name()
			if p != base && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			if p == base || !isMainPackage(p) {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			name := n
			if top != "examples" && !strings.HasPrefix(name, "timetiles-backup-") {
				name = "timetiles-backup-" + name
			}
			pkgs = append(pkgs, mainPackage{Dir: filepath.ToSlash(rel), Name: name})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	seen := map[string]string{}
	for _, p := range pkgs {
		if other, dup := seen[p.Name]; dup {
			return nil, fmt.Errorf("binary name %s used by both %s and %s", p.Name, other, p.Dir)
		}
		seen[p.Name] = p.Dir
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Dir < pkgs[j].Dir })
	return pkgs, nil
}

// isMainPackage reports whether dir holds a buildable package main.
func isMainPackage(dir string) bool {
	pkg, err := build.Default.ImportDir(dir, 0)
	return err == nil && pkg.Name == "main"
}

// buildBinaries builds every main package of the module at root into out.
// One `go build -o STAGE/ pkgs...` shares compilation and links in parallel;
// the binaries are then renamed to their final names.
func buildBinaries(root, out string) error {
	pkgs, err := findMainPackages(root)
	if err != nil || len(pkgs) == 0 {
		return err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("go not found in PATH: %w", err)
	}
	stage, err := os.MkdirTemp(out, ".stage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)

	// go build -o DIR/ names each binary after its directory; if two
	// directories share a base name, build them one by one instead.
	bases := map[string]bool{}
	unique := true
	for _, p := range pkgs {
		b := path.Base(p.Dir)
		unique = unique && !bases[b]
		bases[b] = true
	}
	// The binaries carry the checkout's version, as a release build does
	// (Makefile, scripts/package.sh), so that tests see what operators see.
	ldflags := []string{"-ldflags", "-X " + versionVar + "=" + Version()}
	run := func(args ...string) error {
		cmd := exec.Command(goBin, append(append([]string{"build"}, ldflags...), args...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if unique {
		args := []string{"-o", stage + string(filepath.Separator)}
		for _, p := range pkgs {
			args = append(args, "./"+p.Dir)
		}
		if err := run(args...); err != nil {
			return err
		}
		for _, p := range pkgs {
			if err := os.Rename(filepath.Join(stage, path.Base(p.Dir)), filepath.Join(out, p.Name)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range pkgs {
		if err := run("-o", filepath.Join(out, p.Name), "./"+p.Dir); err != nil {
			return err
		}
	}
	return nil
}
