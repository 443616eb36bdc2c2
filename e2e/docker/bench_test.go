// SPDX-License-Identifier: Apache-2.0

package dockere2e

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	benchDBSize = flag.Int("dbsize", 256, "BenchmarkBackupDBContainerVsDirect: MiB of table data to add to the seeded database")
	benchReps   = flag.Int("reps", 5, "BenchmarkBackupDBContainerVsDirect: measured runs of each mode (interleaved)")
)

// BenchmarkBackupDBContainerVsDirect measures what docker exec costs:
// `backup db` of the same database (the PostGIS container of a compose
// site, seeded plus -dbsize MiB) in container mode (pg_dump inside the
// container, its output through docker exec) and in direct mode (the
// host's pg_dump 15 through the port compose publishes on 127.0.0.1),
// interleaved run by run into the same repository after one warm-up run
// of each, so restic's side is the same (deduplicated) work. Prints wall
// and CPU seconds (the CLI, its plugins and the tools they run on the host;
// the server is the same in both) per mode, their medians and the ratio.
//
//	go test -run '^$' -bench BackupDBContainerVsDirect -benchtime 1x ./e2e/docker -args -dbsize 256 -reps 5
func BenchmarkBackupDBContainerVsDirect(b *testing.B) {
	s := newSite(b, siteOptions{})
	s.setEnv("RESTIC_PASSWORD", "bench-"+strconv.Itoa(os.Getpid()))
	s.must(0, "init")
	mb := *benchDBSize
	s.pg.Psql(b, dbName, fmt.Sprintf(
		"CREATE TABLE bench AS SELECT i, repeat(md5(i::text), 16) AS pad FROM generate_series(1, %d) AS i", mb*1024*1024/560))
	size, _ := strconv.ParseFloat(s.pg.Psql(b, dbName, "SELECT pg_database_size(current_database())"), 64)
	direct := []string{"PGHOST=127.0.0.1", "PGPORT=" + s.port(b), "BACKUP_PG_BIN_DIR=/usr/lib/postgresql/15/bin"}

	id := strings.TrimSpace(s.d.Run(b, "inspect", "-f", "{{.Id}}", s.project+"-postgres"))

	// cpu: the CLI's process tree (rusage: it, its plugins, restic, and
	// pg_dump or the docker client), the database container's cgroup (the
	// server, and pg_dump in container mode) and the engine's processes
	// that carry the exec stream or the published port.
	type sample struct{ wall, cpu, tree, ctr, engine float64 }
	runs := map[string][]sample{}
	one := func(mode string) sample {
		var extra []string
		if mode == "direct" {
			extra = direct
		}
		c0, e0 := cgroupCPU(id), engineCPU()
		start := time.Now()
		r := s.cliEnv(extra, nil, "backup", "db")
		wall := time.Since(start).Seconds()
		if r.code != 0 {
			b.Fatalf("%s: backup db: %s", mode, r)
		}
		ru := r.state.SysUsage().(*syscall.Rusage)
		tree := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		ctr, eng := cgroupCPU(id)-c0, engineCPU()-e0
		return sample{wall, tree + ctr + eng, tree, ctr, eng}
	}
	for i := 0; i < b.N; i++ {
		one("container") // warm-up: the first backup stores the data
		one("direct")
		for rep := 0; rep < *benchReps; rep++ {
			for _, mode := range []string{"container", "direct"} {
				runs[mode] = append(runs[mode], one(mode))
			}
		}
	}
	b.StopTimer()
	med := func(xs []sample, f func(sample) float64) float64 {
		v := make([]float64, len(xs))
		for i, x := range xs {
			v[i] = f(x)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	wall := func(x sample) float64 { return x.wall }
	cpu := func(x sample) float64 { return x.cpu }
	cw, dw := med(runs["container"], wall), med(runs["direct"], wall)
	cc, dc := med(runs["container"], cpu), med(runs["direct"], cpu)
	fmt.Printf("backup db of a %.0f MiB database (pg_database_size), %d interleaved runs per mode, medians:\n", size/(1<<20), len(runs["direct"]))
	fmt.Printf("  %-10s wall %6.2f s   CPU (CLI tree + DB container + engine) %6.2f s\n", "container", cw, cc)
	fmt.Printf("  %-10s wall %6.2f s   CPU (CLI tree + DB container + engine) %6.2f s\n", "direct", dw, dc)
	fmt.Printf("  container/direct: wall %.2fx, CPU %.2fx\n", cw/dw, cc/dc)
	for _, mode := range []string{"container", "direct"} {
		fmt.Printf("  %-10s CPU medians by part: CLI tree %.2f s, DB container %.2f s, engine (dockerd, containerd, shims, docker-proxy) %.2f s\n", mode,
			med(runs[mode], func(x sample) float64 { return x.tree }), med(runs[mode], func(x sample) float64 { return x.ctr }),
			med(runs[mode], func(x sample) float64 { return x.engine }))
	}
	for _, mode := range []string{"container", "direct"} {
		var parts []string
		for _, x := range runs[mode] {
			parts = append(parts, fmt.Sprintf("%.2f/%.2f", x.wall, x.cpu))
		}
		fmt.Printf("  %s runs (wall/CPU s): %s\n", mode, strings.Join(parts, " "))
	}
	b.ReportMetric(cw, "container-wall-s")
	b.ReportMetric(dw, "direct-wall-s")
	b.ReportMetric(cw/dw, "wall-ratio")
}

// cgroupCPU is the CPU seconds a container's cgroup used so far (cgroup v1
// cpuacct, or v2 cpu.stat).
func cgroupCPU(id string) float64 {
	for _, p := range []string{"/sys/fs/cgroup/cpuacct/docker/" + id + "/cpuacct.usage", "/sys/fs/cgroup/cpu,cpuacct/docker/" + id + "/cpuacct.usage"} {
		if b, err := os.ReadFile(p); err == nil {
			ns, _ := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
			return ns / 1e9
		}
	}
	for _, p := range []string{"/sys/fs/cgroup/system.slice/docker-" + id + ".scope/cpu.stat", "/sys/fs/cgroup/docker/" + id + "/cpu.stat"} {
		if b, err := os.ReadFile(p); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "usage_usec "); ok {
					us, _ := strconv.ParseFloat(v, 64)
					return us / 1e6
				}
			}
		}
	}
	return 0
}

// engineCPU is the CPU seconds used so far by the engine's processes
// (dockerd, containerd, the containers' shims, docker-proxy).
func engineCPU() float64 {
	ents, _ := os.ReadDir("/proc")
	var ticks float64
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		open, closing := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if open < 0 || closing < open {
			continue
		}
		switch comm := string(b[open+1 : closing]); {
		case comm == "dockerd", comm == "containerd", strings.HasPrefix(comm, "containerd-shim"), comm == "docker-proxy":
			f := strings.Fields(string(b[closing+1:]))
			if len(f) > 12 {
				u, _ := strconv.ParseFloat(f[11], 64) // utime, field 14
				st, _ := strconv.ParseFloat(f[12], 64)
				ticks += u + st
			}
		}
	}
	return ticks / 100 // USER_HZ
}
