// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/config"
	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/host/stream"
	"github.com/timetiles/timetiles-backup/sdk"
)

// TransportPath is one way bytes can take from a source to its targets.
type TransportPath struct {
	// Name is what stream.Result.Transport reports, plus "-fanout" for
	// the gRPC path with two targets.
	Name string
	// Transport is plugin.Manager.Transport: "" (fd channel) or "grpc".
	Transport string
	// Sinks is the number of targets (2: local + offsite, fanned out).
	Sinks int
}

// Paths are the data-plane paths, measured side by side.
var Paths = []TransportPath{
	{"pipe", "", 1},
	{"pipe-fanout", "", 2},
	{"grpc", "grpc", 1},
	{"grpc-fanout", "grpc", 2},
}

// TransportRig is a synthetic source and discarding targets, started once.
type TransportRig struct {
	Path    TransportPath
	Size    int64
	manager *plugin.Manager
	src     *plugin.Plugin
	targets []*plugin.Plugin
	sinks   []stream.Sink
}

// BuildTestPlugins builds the synthetic source and the files target into
// dir (go build; the build cache makes repeats cheap).
func BuildTestPlugins(root, dir string) error {
	for _, n := range []string{"source-synthetic", "target-files"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, plugin.BinaryPrefix+n), "./internal/testplugins/"+n)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", n, err, out)
		}
	}
	return nil
}

// StartTransport launches source-synthetic (SYNTH_PATTERN=repeat: it spends
// no CPU making bytes) and Path.Sinks target-files that read and discard.
func StartTransport(ctx context.Context, pluginDir string, p TransportPath, size int64) (*TransportRig, error) {
	m := &plugin.Manager{Logger: hclog.NewNullLogger(), Transport: p.Transport}
	rig := &TransportRig{Path: p, Size: size, manager: m}
	cfg := config.NewConfig(map[string]string{
		"SYNTH_SIZE": strconv.FormatInt(size, 10), "SYNTH_PATTERN": "repeat", "TARGET_DISCARD": "1",
	})
	start := func(name, kind, instance string) (*plugin.Plugin, error) {
		pl, err := m.Launch(ctx, plugin.Candidate{Name: name, Kind: kind, Path: filepath.Join(pluginDir, plugin.BinaryPrefix+name)})
		if err != nil {
			return nil, err
		}
		return pl, m.Configure(ctx, pl, cfg, instance, nil)
	}
	var err error
	if rig.src, err = start("source-synthetic", sdk.KindSource, "synthetic"); err != nil {
		m.Close()
		return nil, err
	}
	for i := 0; i < p.Sinks; i++ {
		name := []string{host.Local, host.Offsite}[i]
		t, err := start("target-files", sdk.KindTarget, name)
		if err != nil {
			m.Close()
			return nil, err
		}
		rig.sinks = append(rig.sinks, stream.Sink{Name: name, Target: t.Endpoint()})
		rig.targets = append(rig.targets, t)
	}
	return rig, nil
}

// Close stops the plugins.
func (r *TransportRig) Close() { r.manager.Close() }

// Pids returns the plugin processes: the source first, then the targets.
func (r *TransportRig) Pids() []int {
	pids := []int{r.src.Pid()}
	for _, t := range r.targets {
		pids = append(pids, t.Pid())
	}
	return pids
}

// Stream moves Size bytes once and checks that every target got them all.
func (r *TransportRig) Stream(ctx context.Context) error {
	res := stream.Backup(ctx, r.src.Endpoint(), r.sinks, stream.Spec{
		Component: "synthetic", RunID: "bench", Host: "bench", Time: time.Now(),
	})
	if res.SourceErr != nil {
		return res.SourceErr
	}
	want := map[string]string{"pipe": "pipe", "pipe-fanout": "pipe-fanout", "grpc": "grpc", "grpc-fanout": "grpc"}[r.Path.Name]
	if res.Transport != want {
		return fmt.Errorf("bytes took %q, want %q", res.Transport, want)
	}
	if got := res.Trailer.Size; got != uint64(r.Size) {
		return fmt.Errorf("trailer says %d bytes, want %d", got, r.Size)
	}
	for _, s := range res.Sinks {
		if s.Err != nil {
			return fmt.Errorf("%s: %w", s.Sink, s.Err)
		}
		if s.Snapshot.Size != uint64(r.Size) {
			return fmt.Errorf("%s read %d bytes, want %d", s.Sink, s.Snapshot.Size, r.Size)
		}
	}
	return nil
}

// Usage is the CPU time and peak memory of the host and each plugin.
type Usage struct {
	Host, Source time.Duration
	Targets      []time.Duration
	// HWM by role: "host", "source", "target" (the largest target).
	HostHWM, SourceHWM, TargetHWM uint64
}

// Total is the CPU time of all processes.
func (u Usage) Total() time.Duration {
	t := u.Host + u.Source
	for _, x := range u.Targets {
		t += x
	}
	return t
}

// TargetCPU is the CPU time of all targets.
func (u Usage) TargetCPU() time.Duration {
	var t time.Duration
	for _, x := range u.Targets {
		t += x
	}
	return t
}

// Sample reads the host's (this process's) and the plugins' CPU and peak RSS.
func (r *TransportRig) Sample() Usage {
	var u Usage
	if p, ok := ReadProc(os.Getpid()); ok {
		u.Host, u.HostHWM = p.CPU, p.HWM
	}
	for i, pid := range r.Pids() {
		p, _ := ReadProc(pid)
		if i == 0 {
			u.Source, u.SourceHWM = p.CPU, p.HWM
			continue
		}
		u.Targets = append(u.Targets, p.CPU)
		u.TargetHWM = max(u.TargetHWM, p.HWM)
	}
	return u
}

// Sub returns the CPU used between two samples (peaks are taken from u).
func (u Usage) Sub(before Usage) Usage {
	d := u
	d.Host -= before.Host
	d.Source -= before.Source
	d.Targets = make([]time.Duration, len(u.Targets))
	for i := range u.Targets {
		d.Targets[i] = u.Targets[i] - before.Targets[i]
	}
	return d
}
