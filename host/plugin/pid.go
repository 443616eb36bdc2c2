// SPDX-License-Identifier: Apache-2.0

package plugin

// Pid returns the plugin's process ID, or 0 when it is not known. The
// benchmarks (bench/) read a plugin's CPU time and peak memory from
// /proc/<pid> with it.
func (p *Plugin) Pid() int {
	if p == nil || p.raw == nil {
		return 0
	}
	if rc := p.raw.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}
