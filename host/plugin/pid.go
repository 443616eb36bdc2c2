// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"

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

// processEnded reports whether process pid has ended: it is gone or a
// zombie not yet reaped (go-plugin reaps it a moment later). Linux: the
// state in /proc/PID/stat.
func processEnded(pid int) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	// "PID (comm) S ...": the state follows the last ')' (comm may hold any byte).
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X')
}
