// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Transport micro-benchmarks: a synthetic source → this process as host →
// discarding targets, across real plugin processes, every data-plane path
// side by side in one run:
//
//	go test ./bench -run '^$' -bench Transport -benchtime 20x -count 5 [-args -size 1073741824]
//
// Besides MB/s they report CPU-s/GiB of all processes (host + plugins, from
// /proc/<pid>/stat) and of each, and each process's peak RSS (VmHWM).
var streamSize = flag.Int64("size", 256<<20, "bytes streamed per benchmark operation")

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func testPlugins(b *testing.B) string {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "bench-plugins-")
		if buildErr == nil {
			buildErr = BuildTestPlugins(testenv.RepoRoot(), buildDir)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return buildDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func BenchmarkTransport(b *testing.B) {
	for _, p := range Paths {
		b.Run(p.Name, func(b *testing.B) {
			ctx := context.Background()
			rig, err := StartTransport(ctx, testPlugins(b), p, *streamSize)
			if err != nil {
				b.Fatal(err)
			}
			defer rig.Close()
			if err := rig.Stream(ctx); err != nil { // warm up: page in, grow buffers
				b.Fatal(err)
			}
			b.SetBytes(*streamSize)
			before := rig.Sample()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := rig.Stream(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			u := rig.Sample().Sub(before)
			moved := int64(b.N) * *streamSize
			b.ReportMetric(PerGiB(u.Total(), moved), "CPU-s/GiB")
			b.ReportMetric(PerGiB(u.Host, moved), "host-CPU-s/GiB")
			b.ReportMetric(PerGiB(u.Source, moved), "src-CPU-s/GiB")
			b.ReportMetric(PerGiB(u.TargetCPU(), moved), "tgts-CPU-s/GiB")
			b.ReportMetric(float64(u.SourceHWM)/MiB, "src-peak-MiB")
			b.ReportMetric(float64(u.TargetHWM)/MiB, "tgt-peak-MiB")
		})
	}
}

// BenchmarkPluginStart launches a plugin process, completes go-plugin's
// handshake (AutoMTLS), asks its Info and stops it: the host's share of a
// command's start-up per plugin (P8).
func BenchmarkPluginStart(b *testing.B) {
	dir := testPlugins(b)
	var launch, stop time.Duration
	for i := 0; i < b.N; i++ {
		m := &plugin.Manager{Logger: hclog.NewNullLogger()}
		t0 := time.Now()
		if _, err := m.Launch(context.Background(), plugin.Candidate{Name: "target-files", Kind: sdk.KindTarget,
			Path: filepath.Join(dir, plugin.BinaryPrefix+"target-files")}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		m.Close()
		launch, stop = launch+t1.Sub(t0), stop+time.Since(t1)
	}
	b.ReportMetric(float64(launch.Milliseconds())/float64(b.N), "launch-ms")
	b.ReportMetric(float64(stop.Milliseconds())/float64(b.N), "stop-ms")
}
