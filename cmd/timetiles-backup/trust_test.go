// SPDX-License-Identifier: Apache-2.0
package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/sdk"
)

// hangingHolder starts a backup that holds the run lock until the test
// ends (a synthetic source that hangs half-way) and waits for its restic.
func (e *env) hangingHolder() {
	e.t.Helper()
	saved := map[string]string{}
	for k, v := range map[string]string{"BACKUP_SOURCES": "synthetic=source-synthetic", "SYNTH_SIZE": "64000000", "SYNTH_FAIL_AFTER": "4000000", "SYNTH_MODE": "hang"} {
		saved[k] = e.vars[k]
		e.vars[k] = v
	}
	holder, _, _ := e.command(context.Background(), "backup")
	if err := holder.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = holder.Wait(); close(done) }()
	e.t.Cleanup(func() { holder.Process.Kill(); <-done })
	waitFor(e.t, "the holder's restic", func() bool { return findProcess(holder.Process.Pid, "restic") != 0 })
	for k, v := range saved {
		if v == "" {
			delete(e.vars, k)
		} else {
			e.vars[k] = v
		}
	}
}

// The run lock is keyed on the repository the file system finds: a
// symlink to the repository, or another spelling of its path, is the same
// repository and waits for the same lock.
func TestRunLockKeyedOnResolvedRepository(t *testing.T) {
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "100000"
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("baseline: %d %s", r.code, r.stderr)
	}
	e.hangingHolder()
	link := filepath.Join(e.dir, "repo-link")
	if err := os.Symlink(e.repo, link); err != nil {
		t.Fatal(err)
	}
	before := len(e.snapshots())
	for _, spelling := range []string{link, "local:" + link, e.repo + "/", filepath.Join(e.dir, "state", "..", "repo")} {
		e.vars["RESTIC_REPOSITORY"] = spelling
		r := e.run("backup")
		if r.code != 1 || !strings.Contains(r.stderr, "another timetiles-backup run holds the lock") {
			t.Errorf("backup of %s while a run holds %s: exit %d, want 1 naming the holder\n%s", spelling, e.repo, r.code, r.stderr)
		}
	}
	if n := len(e.snapshots()); n != before {
		t.Errorf("%d snapshots after the refused runs, want %d", n, before)
	}
}

// The lock file is never opened through a symbolic link nor a hard link: a
// link planted in the state directory must not make a root run create,
// write or truncate the file it points at.
func TestLockFileNeverFollowsLinks(t *testing.T) {
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "100000"
	state := e.vars["BACKUP_STATE_DIR"]
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	lockPath := host.NewRunner(config.NewConfig(e.vars), hclog.NewNullLogger(), "").LockPath()
	victim := filepath.Join(e.dir, "precious")
	const content = "root's precious file\n"
	for _, plant := range []struct {
		name string
		link func(victim, path string) error
		want string
	}{
		{"symlink", os.Symlink, "is a symbolic link"},
		{"hard link", os.Link, "has 2 names"},
	} {
		if err := os.WriteFile(victim, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(lockPath)
		if err := plant.link(victim, lockPath); err != nil {
			t.Fatal(err)
		}
		r := e.run("backup")
		if r.code != 2 || !strings.Contains(r.stderr, lockPath) || !strings.Contains(r.stderr, plant.want) || !strings.Contains(r.stderr, "rm "+lockPath) {
			t.Errorf("%s as lock file: exit %d, want 2 naming %s (%q) and the fix\n%s", plant.name, r.code, lockPath, plant.want, r.stderr)
		}
		if b, err := os.ReadFile(victim); err != nil || string(b) != content {
			t.Errorf("%s as lock file: the file it points at now holds %q (%v)", plant.name, b, err)
		}
		if n := len(e.snapshots()); n != 0 {
			t.Errorf("%s as lock file: %d snapshots, want 0", plant.name, n)
		}
	}
	// Removed, as the message says: the run works.
	os.Remove(lockPath)
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("after removing the link: exit %d\n%s", r.code, r.stderr)
	}
}

// nobody is the uid and gid of Debian's "nobody": a user other than root.
const nobody = 65534

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the ownership rules apply to runs as root; this test needs root (CI runs as root)")
	}
}

// plant writes an executable shell script at path that appends "ran" to
// marker and then runs then (when set) with its arguments, or fails.
func plant(t *testing.T, path, marker, then string) string {
	t.Helper()
	body := "#!/bin/sh\necho ran >> " + marker + "\n"
	if then != "" {
		body += "exec " + then + " \"$@\"\n"
	} else {
		body += "exit 1\n"
	}
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return path
}

func mkdir(t *testing.T, dir string, mode os.FileMode) string {
	t.Helper()
	if err := os.Mkdir(dir, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Lchown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func ran(marker string) bool {
	_, err := os.Stat(marker)
	return err == nil
}

// As root, a plugin directory or binary that another user owns or can
// write — or a directory or link on the way to it — is refused with exit 2,
// naming the path at fault and the fix; the planted plugin never runs, and
// nothing is backed up. (Before, a world-writable plugin directory was
// searched first and its plugins shadowed the bundled ones, receiving
// RESTIC_PASSWORD.)
func TestRootRefusesPluginsOthersCanChange(t *testing.T) {
	requireRoot(t)
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "100000"
	marker := filepath.Join(e.dir, "planted-ran")
	for _, tc := range []struct {
		name  string
		setup func(base string) (pluginDir, atFault, fix string)
	}{
		{"plugin directory writable by others", func(base string) (string, string, string) {
			d := mkdir(t, filepath.Join(base, "plugins"), 0o777)
			plant(t, filepath.Join(d, "timetiles-backup-target-restic"), marker, "")
			return d, d, "chmod go-w " + d
		}},
		{"plugin directory owned by another user", func(base string) (string, string, string) {
			d := mkdir(t, filepath.Join(base, "plugins"), 0o755)
			plant(t, filepath.Join(d, "timetiles-backup-target-restic"), marker, "")
			chown(t, d, nobody)
			return d, d, "chown root:root " + d
		}},
		{"sticky plugin directory writable by others", func(base string) (string, string, string) {
			d := mkdir(t, filepath.Join(base, "plugins"), os.ModeSticky|0o777)
			plant(t, filepath.Join(d, "timetiles-backup-target-restic"), marker, "")
			return d, d, "chmod go-w " + d
		}},
		{"plugin binary writable by its group", func(base string) (string, string, string) {
			d := mkdir(t, filepath.Join(base, "plugins"), 0o755)
			p := plant(t, filepath.Join(d, "timetiles-backup-target-restic"), marker, "")
			os.Chmod(p, 0o775)
			return d, p, "chmod go-w " + p
		}},
		{"plugin binary owned by another user", func(base string) (string, string, string) {
			d := mkdir(t, filepath.Join(base, "plugins"), 0o755)
			p := plant(t, filepath.Join(d, "timetiles-backup-target-restic"), marker, "")
			chown(t, p, nobody)
			return d, p, "chown root:root " + p
		}},
		{"a directory above writable by others", func(base string) (string, string, string) {
			open := mkdir(t, filepath.Join(base, "open"), 0o777)
			d := mkdir(t, filepath.Join(open, "plugins"), 0o755)
			plant(t, filepath.Join(d, "timetiles-backup-target-restic"), marker, "")
			return d, open, "chmod go-w " + open
		}},
		{"a symbolic link owned by another user", func(base string) (string, string, string) {
			d := mkdir(t, filepath.Join(base, "plugins"), 0o755)
			plant(t, filepath.Join(d, "timetiles-backup-target-restic"), marker, "")
			link := filepath.Join(base, "link")
			os.Symlink(d, link)
			chown(t, link, nobody)
			return link, link, "chown root:root " + link
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(marker)
			dir, atFault, fix := tc.setup(t.TempDir())
			for _, args := range [][]string{{"backup"}, {"plugins"}, {"config"}} {
				r := e.run(append(args, "--plugin-dir", dir)...)
				out := r.stdout + r.stderr
				if r.code != 2 || !strings.Contains(out, atFault+" ") || !strings.Contains(out, fix) {
					t.Errorf("%v: exit %d, want 2 naming %s and `%s`\n%s", args, r.code, atFault, fix, out)
				}
			}
			if ran(marker) {
				t.Errorf("the planted plugin ran")
			}
			if n := len(e.snapshots()); n != 0 {
				t.Errorf("%d snapshots, want 0", n)
			}
		})
	}
	// The same plugins in a directory only root can change are used.
	d := mkdir(t, filepath.Join(t.TempDir(), "plugins"), 0o755)
	if err := os.Link(filepath.Join(e.bin, "timetiles-backup-source-synthetic"), filepath.Join(d, "timetiles-backup-source-synthetic")); err != nil {
		t.Fatal(err)
	}
	if r := e.run("backup", "--plugin-dir", d); r.code != 0 {
		t.Fatalf("backup with a root-only plugin directory: exit %d\n%s", r.code, r.stderr)
	}
}

// cli runs the CLI with exactly env (plus HOME), as uid when it is not 0.
func (e *env) cli(uid int, env []string, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, "timetiles-backup"), args...)
	cmd.Env = env
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return result{code, stdout.String(), stderr.String()}
}

// `plugins` and `config` run no binary the run would not use, and root does
// not search $PATH for plugins unless TIMETILES_BACKUP_SEARCH_PATH=1; users
// other than root do.
func TestPluginDiscoveryRunsOnlyWhatTheRunUses(t *testing.T) {
	requireRoot(t)
	e := newEnv(t, false)
	marker := filepath.Join(e.dir, "planted-ran")
	// An unused plugin in the (root-only) plugin directory …
	extra := mkdir(t, filepath.Join(t.TempDir(), "plugins"), 0o755)
	plant(t, filepath.Join(extra, "timetiles-backup-notify-unused"), marker, "")
	// … and one in a directory on $PATH that another user owns.
	pathDir := mkdir(t, filepath.Join(t.TempDir(), "bin"), 0o755)
	os.Chmod(filepath.Dir(pathDir), 0o755) // t.TempDir's: nobody must reach the binaries
	os.Chmod(filepath.Dir(filepath.Dir(pathDir)), 0o755)
	plant(t, filepath.Join(pathDir, "timetiles-backup-source-onpath"), marker, "")
	chown(t, pathDir, nobody)
	envPath := "PATH=" + pathDir + ":" + os.Getenv("PATH")

	e.extraEnv = []string{envPath}
	r := e.run("plugins", "--plugin-dir", extra)
	if r.code != 0 || !strings.Contains(r.stdout, "not started (not used by this configuration)") || !strings.Contains(r.stdout, "notify-unused") {
		t.Errorf("plugins: exit %d, want 0 listing notify-unused as not started\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "source-onpath") {
		t.Errorf("root searched $PATH without being asked:\n%s", r.stdout)
	}
	if r := e.run("config", "--plugin-dir", extra); r.code != 0 {
		t.Errorf("config: exit %d\n%s", r.code, r.stderr)
	}
	if ran(marker) {
		t.Fatalf("plugins/config ran a plugin this configuration does not use")
	}

	// Asked explicitly: $PATH is searched; the plugin found there is listed
	// (refused: another user owns its directory) and not run.
	e.vars["TIMETILES_BACKUP_SEARCH_PATH"] = "1"
	r = e.run("plugins", "--plugin-dir", extra)
	if !strings.Contains(r.stdout, "source-onpath") || !strings.Contains(r.stdout, "refused") || ran(marker) {
		t.Errorf("plugins with %s=1: exit %d\n%s%s", "TIMETILES_BACKUP_SEARCH_PATH", r.code, r.stdout, r.stderr)
	}
	delete(e.vars, "TIMETILES_BACKUP_SEARCH_PATH")

	// A user other than root searches $PATH (and still runs nothing unused).
	envFile := filepath.Join(pathDir, "env")
	os.WriteFile(envFile, []byte("BACKUP_HOSTNAME=x\n"), 0o644)
	chown(t, envFile, nobody)
	r = e.cli(nobody, []string{envPath, "HOME=" + pathDir, "TIMETILES_ENV_FILE=" + envFile}, "plugins")
	if !strings.Contains(r.stdout, "source-onpath") || !strings.Contains(r.stdout, "not started") || ran(marker) {
		t.Errorf("plugins as nobody: exit %d, want source-onpath listed, not started\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// A checksum pin that names no plugin found (a typo) pins nothing: it is a
// configuration error naming the pin and the plugins found.
func TestPinNamingNoPluginIsConfigError(t *testing.T) {
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "100000"
	e.vars["BACKUP_PLUGIN_CHECKSUMS"] = "target-restik=" + strings.Repeat("ab", 32)
	for _, args := range [][]string{{"backup"}, {"plugins"}, {"config"}} {
		r := e.run(args...)
		out := r.stdout + r.stderr
		if r.code != 2 || !strings.Contains(out, "pins plugin target-restik") || !strings.Contains(out, "plugins found: ") || !strings.Contains(out, "target-restic") {
			t.Errorf("%v: exit %d, want 2 naming the pin and the plugins found\n%s", args, r.code, out)
		}
	}
	if n := len(e.snapshots()); n != 0 {
		t.Errorf("%d snapshots, want 0", n)
	}
}

// As root, a variable naming a program or command is refused from an env
// file that another user owns or can write (or that lies in a directory
// such a user can write): exit 2 naming the file, the variable and the
// fix; the program never runs. The same file's other values are read, and
// the same program from root's own environment runs.
func TestRootRefusesProgramsFromEnvFileOthersCanChange(t *testing.T) {
	requireRoot(t)
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "100000"
	marker := filepath.Join(e.dir, "program-ran")
	realRestic := e.vars["BACKUP_RESTIC_BIN"]
	wrapper := plant(t, filepath.Join(e.dir, "restic-wrapper"), marker, realRestic)
	hook := plant(t, filepath.Join(e.dir, "hook"), marker, "")
	snapshots := func() []restic.Snapshot {
		if _, err := os.Stat(filepath.Join(e.repo, "config")); err != nil {
			return nil
		}
		s, err := (&restic.Repo{Binary: realRestic, Repository: e.repo, Password: e.password}).Snapshots(context.Background(), restic.SnapshotFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Programs, and the paths root writes to, come from root's own
	// environment, except the one tested.
	delete(e.vars, "BACKUP_RESTIC_BIN")
	delete(e.vars, "BACKUP_PG_BIN_DIR")
	written := rootEnvWrittenPaths(e)
	e.extraEnv = append([]string{"BACKUP_RESTIC_BIN=" + realRestic}, written...)

	for _, tc := range []struct {
		name     string
		key, val string
		args     []string
		setup    func(base string) (envPath, atFault, fix string)
	}{
		{"owned by another user", "BACKUP_RESTIC_BIN", wrapper, []string{"backup"}, func(base string) (string, string, string) {
			p := filepath.Join(base, "env")
			os.WriteFile(p, nil, 0o600)
			chown(t, p, nobody)
			return p, p, "chown root:root " + p
		}},
		{"writable by others", "BACKUP_RESTIC_BIN", wrapper, []string{"backup"}, func(base string) (string, string, string) {
			p := filepath.Join(base, "env")
			os.WriteFile(p, nil, 0o600)
			os.Chmod(p, 0o646)
			return p, p, "chmod go-w " + p
		}},
		{"in a directory another user owns", "BACKUP_RESTIC_BIN", wrapper, []string{"backup"}, func(base string) (string, string, string) {
			d := mkdir(t, filepath.Join(base, "timetiles"), 0o755)
			chown(t, d, nobody)
			return filepath.Join(d, "env"), d, "chown root:root " + d
		}},
		{"restore hook", "BACKUP_PRE_RESTORE_COMMAND", hook, []string{"restore", "latest", "--yes"}, func(base string) (string, string, string) {
			p := filepath.Join(base, "env")
			os.WriteFile(p, nil, 0o600)
			chown(t, p, nobody)
			return p, p, "chown root:root " + p
		}},
		{"alert script", "TIMETILES_ALERT_SCRIPT", hook, []string{"alert", "test"}, func(base string) (string, string, string) {
			p := filepath.Join(base, "env")
			os.WriteFile(p, nil, 0o600)
			chown(t, p, nobody)
			return p, p, "chown root:root " + p
		}},
		// Declared Executable by a third-party plugin (the host knows it
		// only from the plugin's Info).
		{"a plugin's own program key", "SYNTH_BEFORE", hook, []string{"backup"}, func(base string) (string, string, string) {
			p := filepath.Join(base, "env")
			os.WriteFile(p, nil, 0o600)
			chown(t, p, nobody)
			return p, p, "chown root:root " + p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(marker)
			envPath, atFault, fix := tc.setup(t.TempDir())
			e.envPath = envPath
			e.vars[tc.key] = tc.val
			defer delete(e.vars, tc.key)
			e.extraEnv = append([]string{"BACKUP_RESTIC_BIN=" + realRestic}, written...)
			if tc.key == "BACKUP_RESTIC_BIN" {
				e.extraEnv = written // the environment would win over the file
			}
			r := e.run(tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, envPath) || !strings.Contains(r.stderr, tc.key) || !strings.Contains(r.stderr, atFault+" ") || !strings.Contains(r.stderr, fix) {
				t.Errorf("%v: exit %d, want 2 naming %s, %s, %s and `%s`\n%s", tc.args, r.code, envPath, tc.key, atFault, fix, r.stderr)
			}
			if ran(marker) {
				t.Errorf("%s from the env file ran", tc.key)
			}
			if n := len(snapshots()); n != 0 {
				t.Errorf("%d snapshots, want 0", n)
			}
		})
	}

	// A file another user owns (TimeTiles' own env file, say) still gives
	// every other value; the program from root's environment runs.
	base := t.TempDir()
	e.envPath = filepath.Join(base, "env")
	os.WriteFile(e.envPath, nil, 0o600)
	chown(t, e.envPath, nobody)
	e.extraEnv = append([]string{"BACKUP_RESTIC_BIN=" + wrapper}, written...)
	os.Remove(marker)
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup with programs from root's environment: exit %d\n%s", r.code, r.stderr)
	}
	if !ran(marker) || len(snapshots()) == 0 {
		t.Errorf("the program from root's environment did not run (%v), or nothing was stored (%d snapshots)", ran(marker), len(snapshots()))
	}
}

// config.ExecutableKeys and config.WrittenPathKeys (checked when the
// configuration is loaded, before any plugin starts) are exactly the keys
// the host and the bundled plugins declare Executable and WrittenPath.
func TestExecutableKeysInSync(t *testing.T) {
	infos := bundledInfos(t)
	for _, list := range []struct {
		name   string
		keys   []string
		marked func(sdk.ConfigKey) bool
	}{
		{"config.ExecutableKeys", config.ExecutableKeys, func(k sdk.ConfigKey) bool { return k.Executable }},
		{"config.WrittenPathKeys", config.WrittenPathKeys, func(k sdk.ConfigKey) bool { return k.WrittenPath }},
	} {
		declared := map[string]bool{}
		for _, k := range config.HostKeys {
			declared[k.Name] = declared[k.Name] || list.marked(k)
		}
		for _, info := range infos {
			for _, k := range info.ConfigKeys {
				declared[k.Name] = declared[k.Name] || list.marked(k)
			}
		}
		listed := map[string]bool{}
		for _, k := range list.keys {
			listed[k] = true
			if !declared[k] {
				t.Errorf("%s lists %s, which neither the host nor a bundled plugin declares so", list.name, k)
			}
		}
		for k, marked := range declared {
			if marked && !listed[k] {
				t.Errorf("%s is declared so but missing from %s", k, list.name)
			}
		}
	}
}

// The run lock treats an unset RESTIC_REPOSITORY as target-restic's default.
func TestDefaultResticRepositoryInSync(t *testing.T) {
	found := false
	for _, info := range bundledInfos(t) {
		for _, k := range info.ConfigKeys {
			if info.Name == config.DefaultTarget && k.Name == "RESTIC_REPOSITORY" {
				found = true
				if k.Default != host.DefaultResticRepository {
					t.Errorf("%s declares RESTIC_REPOSITORY default %q, host.DefaultResticRepository is %q", info.Name, k.Default, host.DefaultResticRepository)
				}
			}
		}
	}
	if !found {
		t.Fatalf("%s declares no RESTIC_REPOSITORY", config.DefaultTarget)
	}
}

// rootEnvWrittenPaths moves the paths root writes to that newEnv puts into
// the env file (config.WrittenPathKeys) into root's environment, for tests of
// an env file that another user owns.
func rootEnvWrittenPaths(e *env) []string { return moveToRootEnv(e, config.WrittenPathKeys) }

// moveToRootEnv moves keys from e's env file into root's environment.
func moveToRootEnv(e *env, keys []string) []string {
	var out []string
	for _, k := range keys {
		if v, ok := e.vars[k]; ok {
			out = append(out, k+"="+v)
			delete(e.vars, k)
		}
	}
	return out
}

// As root, a variable naming a path root writes to (the metrics file, the
// cron file, the state directory, the alert log, a third-party plugin's
// key declared WrittenPath …) is refused from an env
// file that another user owns, before anything is written, with both
// fixes; from root's own environment the same value is used.
func TestRootRefusesWrittenPathsFromEnvFileOthersCanChange(t *testing.T) {
	requireRoot(t)
	e := newEnv(t, false)
	e.vars["BACKUP_SOURCES"] = "synthetic=source-synthetic"
	e.vars["SYNTH_SIZE"] = "1000"
	written := moveToRootEnv(e, append(append([]string(nil), config.WrittenPathKeys...), config.ExecutableKeys...))
	e.envPath = filepath.Join(t.TempDir(), "env")
	os.WriteFile(e.envPath, nil, 0o600)
	chown(t, e.envPath, nobody)
	target := func(name string) string { return filepath.Join(e.dir, "written", name) }
	for _, tc := range []struct {
		key, val string
		args     []string
	}{
		{"BACKUP_METRICS_FILE", target("metrics.prom"), []string{"backup"}},
		{"BACKUP_CRON_FILE", target("cron"), []string{"backup", "auto"}},
		{"BACKUP_LOG_FILE", target("backup.log"), []string{"backup", "auto", "--cron-file", target("cron2")}},
		{"BACKUP_STATE_DIR", target("state"), []string{"backup"}},
		{"BACKUP_ALERT_LOG", target("alerts.log"), []string{"alert", "test"}},
		// Declared WrittenPath by a third-party plugin (the host knows it
		// only from the plugin's Info): refused before Configure.
		{"SYNTH_RESTORE_TO", target("restored"), []string{"backup"}},
	} {
		t.Run(tc.key, func(t *testing.T) {
			e.vars[tc.key] = tc.val
			defer delete(e.vars, tc.key)
			e.extraEnv = nil
			for _, kv := range written {
				if !strings.HasPrefix(kv, tc.key+"=") { // the environment would win over the file
					e.extraEnv = append(e.extraEnv, kv)
				}
			}
			r := e.run(tc.args...)
			fix := "chown root:root " + e.envPath
			if r.code != 2 || !strings.Contains(r.stderr, tc.key+", which names a path that root would write to") || !strings.Contains(r.stderr, fix) ||
				!strings.Contains(r.stderr, "set "+tc.key+" in root's own environment instead") {
				t.Errorf("%v: exit %d, want 2 naming %s and the fixes (`%s`, root's environment)\n%s", tc.args, r.code, tc.key, fix, r.stderr)
			}
			if _, err := os.Stat(filepath.Join(e.dir, "written")); err == nil {
				t.Errorf("%s from the env file was written to", tc.key)
			}
		})
	}
	// From root's own environment the same path is used.
	e.extraEnv = append(append([]string(nil), written...), "BACKUP_METRICS_FILE="+target("metrics.prom"))
	os.MkdirAll(filepath.Join(e.dir, "written"), 0o755)
	if r := e.run("backup"); r.code != 0 {
		t.Fatalf("backup with the metrics file from root's environment: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(target("metrics.prom")); err != nil {
		t.Errorf("the metrics file from root's environment was not written: %v", err)
	}
}
