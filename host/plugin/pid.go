// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	goplugin "github.com/hashicorp/go-plugin"
)

// Pid returns the plugin's process ID, or 0 when it is not known. The
// benchmarks (bench/) read a plugin's CPU time and peak memory from
// /proc/<pid> with it.
func (p *Plugin) Pid() int {
	if p == nil {
		return 0
	}
	return pidOf(p.raw)
}

func pidOf(raw *goplugin.Client) int {
	if raw == nil {
		return 0
	}
	if rc := raw.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// processEnded reports whether process pid has ended or is ending: it is
// gone, a zombie not yet reaped (go-plugin reaps it a moment later), or
// exiting (the kernel's PF_EXITING flag, set before it closes the
// process's files: a plugin's connection seen closed by its death is seen
// with the flag set). Linux: /proc/PID/stat.
func processEnded(pid int) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		// No entry: gone, if the kernel agrees (/proc may be missing or
		// hide other users' processes).
		return errors.Is(err, fs.ErrNotExist) && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}
	// "PID (comm) STATE PPID PGRP SESSION TTY TPGID FLAGS ...": comm may
	// hold any byte, so the fields are counted from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 7 {
		return false
	}
	if f[0] == "Z" || f[0] == "X" {
		return true
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	return err == nil && flags&pfExiting != 0
}

// pfExiting is the kernel's PF_EXITING task flag (include/linux/sched.h).
const pfExiting = 0x4
