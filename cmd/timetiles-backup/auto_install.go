// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/timetiles/timetiles-backup/host/config"
)

// backup auto: installing and removing the jobs (the cron file, the
// user's crontab block, the systemd units).

func timerNames(job autoJob) []string {
	var out []string
	for _, s := range job.jobs() {
		out = append(out, s.unit+".timer")
	}
	return out
}

// installCronFile writes the /etc/cron.d file (0644, as cron requires:
// not writable by group or others).
func installCronFile(job autoJob, path string) (bool, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); err != nil {
		return false, fmt.Errorf("%s does not exist: is cron installed? Install it (apt install cron) or use --systemd", dir)
	}
	if strings.ContainsAny(filepath.Base(path), ".~") {
		// Debian's cron ignores files in /etc/cron.d whose names hold a dot.
		return false, usageError("cron file name %q holds a dot: cron would ignore it; use a name of letters, digits, - and _", filepath.Base(path))
	}
	return writeIfChanged(path, []byte(job.cronFile()), 0o644)
}

func writeIfChanged(path string, data []byte, perm os.FileMode) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == perm {
			return false, nil
		}
	}
	if err := config.WriteFileAtomic(path, data, perm); err != nil {
		return false, err
	}
	return true, nil
}

// crontab runs crontab(1) with stdin and returns its output.
func crontab(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command("crontab", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", errors.New("crontab is not installed: install cron (apt install cron), run as root, or use --systemd")
		}
		return out.String(), fmt.Errorf("crontab %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func currentCrontab() (string, error) {
	out, err := crontab(nil, "-l")
	if err != nil && strings.Contains(err.Error(), "no crontab for") {
		return "", nil
	}
	return out, err
}

// withoutBlock removes our marked block from a crontab.
func withoutBlock(tab string) (string, bool) {
	var out []string
	in, found := false, false
	for _, l := range strings.SplitAfter(tab, "\n") {
		switch {
		case strings.TrimRight(l, "\n") == cronBegin:
			in, found = true, true
		case in && strings.TrimRight(l, "\n") == cronEnd:
			in = false
		case !in && l != "":
			out = append(out, l)
		}
	}
	return strings.Join(out, ""), found
}

func installCrontab(job autoJob) (bool, error) {
	cur, err := currentCrontab()
	if err != nil {
		return false, err
	}
	rest, _ := withoutBlock(cur)
	if rest != "" && !strings.HasSuffix(rest, "\n") {
		rest += "\n"
	}
	want := rest + job.crontabBlock()
	if want == cur {
		return false, nil
	}
	if _, err := crontab([]byte(want), "-"); err != nil {
		return false, err
	}
	return true, nil
}

// ourUnits lists the units `backup auto --systemd` may have written in dir
// (timetiles-backup*.service and .timer).
func ourUnits(dir string) []string {
	var out []string
	for _, ext := range []string{".timer", ".service"} {
		m, _ := filepath.Glob(filepath.Join(dir, unitName+"*"+ext))
		for _, f := range m {
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "Installed by `timetiles-backup backup auto --systemd`") {
				out = append(out, f)
			}
		}
	}
	return out
}

func (c *AutoCommand) installSystemd(job autoJob, dir string) (bool, error) {
	if _, err := os.Stat(dir); err != nil {
		return false, fmt.Errorf("systemd unit directory %s: %w: set BACKUP_SYSTEMD_DIR or --unit-dir", dir, err)
	}
	changed := false
	want := map[string]bool{}
	for _, s := range job.jobs() {
		for name, content := range map[string]string{s.unit + ".service": job.serviceUnit(s), s.unit + ".timer": job.timerUnit(s)} {
			want[filepath.Join(dir, name)] = true
			ch, err := writeIfChanged(filepath.Join(dir, name), []byte(content), 0o644)
			if err != nil {
				return changed, err
			}
			changed = changed || ch
		}
	}
	// Units of an earlier routine that this one no longer has.
	for _, f := range ourUnits(dir) {
		if !want[f] {
			if strings.HasSuffix(f, ".timer") && systemdRunning(dir) {
				_ = exec.Command("systemctl", "disable", "--now", filepath.Base(f)).Run()
			}
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return changed, err
			}
			changed = true
		}
	}
	if changed && systemdRunning(dir) {
		for _, a := range [][]string{{"daemon-reload"}, append([]string{"enable", "--now"}, timerNames(job)...)} {
			if out, err := exec.Command("systemctl", a...).CombinedOutput(); err != nil {
				return true, fmt.Errorf("systemctl %s: %v: %s", strings.Join(a, " "), err, strings.TrimSpace(string(out)))
			}
		}
	}
	return changed, nil
}

// systemdRunning reports whether units in dir are managed by a running
// systemd (the system unit directory on a systemd host).
func systemdRunning(dir string) bool {
	if filepath.Clean(dir) != config.DefaultSystemdDir {
		return false
	}
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// removeJobs removes the installed jobs of the kinds asked (the cron file
// as root, this user's crontab block, the systemd units) and reports each
// removal; it returns how many kinds it removed.
func (c *AutoCommand) removeJobs(root bool, cronFile, unitDir string, keepCronFile, keepCrontab, keepUnits bool) (int, error) {
	removed := 0
	if root && !keepCronFile {
		if err := os.Remove(cronFile); err == nil {
			c.UI.Output("Removed " + cronFile + ".")
			removed++
		} else if !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
	}
	if _, err := exec.LookPath("crontab"); err == nil && !keepCrontab {
		cur, err := currentCrontab()
		if err != nil {
			return removed, err
		}
		if rest, found := withoutBlock(cur); found {
			var err error
			if strings.TrimSpace(rest) == "" {
				_, err = crontab(nil, "-r")
			} else {
				_, err = crontab([]byte(rest), "-")
			}
			if err != nil {
				return removed, err
			}
			c.UI.Output("Removed the jobs from this user's crontab.")
			removed++
		}
	}
	if units := ourUnits(unitDir); len(units) > 0 && !keepUnits {
		running := systemdRunning(unitDir)
		for _, f := range units {
			if strings.HasSuffix(f, ".timer") && running {
				_ = exec.Command("systemctl", "disable", "--now", filepath.Base(f)).Run()
			}
		}
		for _, f := range units {
			if err := os.Remove(f); errors.Is(err, os.ErrPermission) {
				c.UI.Warn("Warning: cannot remove " + f + " (installed by another user, e.g. root): remove those timers with `sudo timetiles-backup backup auto --disable`.")
				return removed, nil
			} else if err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, err
			}
		}
		if running {
			_ = exec.Command("systemctl", "daemon-reload").Run()
		}
		c.UI.Output("Removed the systemd timers and services from " + unitDir + ".")
		removed++
	}
	return removed, nil
}

func (c *AutoCommand) disable(root bool, cronFile, unitDir string) error {
	removed, err := c.removeJobs(root, cronFile, unitDir, false, false, false)
	if err != nil {
		return c.fail(err, "")
	}
	if removed == 0 {
		c.UI.Output("Unchanged: no scheduled job was installed.")
	}
	return nil
}
