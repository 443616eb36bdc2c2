// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/timetiles/timetiles-backup/host/plugin"
	"github.com/timetiles/timetiles-backup/host/runs"
	"github.com/timetiles/timetiles-backup/host/stream"
	"github.com/timetiles/timetiles-backup/sdk"
)

// runManifests is the run manifest of one backup run in each of its
// repositories, from the start of the run to its end:
//
//   - begin opens every sink's manifest write before the components stream
//     (stream.Pending): the target starts on it at once (target-restic:
//     restic starts, derives the key, takes its lock) and waits, so the
//     manifest adds no restic start-up at the end of the run;
//   - add records each component a sink stored, fail the first that
//     failed there (the sink takes no further component: live);
//   - end commits the manifest of every sink where every component
//     succeeded and discards the others'; abort discards them early (a
//     failed source aborts every sink's at once, an interrupted run all
//     of them when Backup returns).
type runManifests struct {
	log     func(msg string, args ...any)
	sinks   []stream.Sink
	byName  map[string]*runs.Manifest
	pending map[string]*stream.Pending
	failed  map[string]error // the first failure, by sink
}

// beginManifests starts the run manifest m in every sink. A sink whose
// write does not open gets none: its manifest is then written whole at the
// end.
func (r *Runner) beginManifests(ctx context.Context, sinks []stream.Sink, m runs.Manifest) *runManifests {
	rm := &runManifests{log: r.Log.Debug, sinks: sinks, byName: map[string]*runs.Manifest{}, pending: map[string]*stream.Pending{},
		failed: map[string]error{}}
	for _, s := range sinks {
		mm := m
		mm.Components = map[string]runs.ManifestComponent{}
		rm.byName[s.Name] = &mm
		p, err := stream.BeginWrite(ctx, s.Target, manifestHeader(&mm))
		if err != nil {
			rm.log("run manifest write not opened early", "target", s.Name, "error", err)
			continue
		}
		rm.pending[s.Name] = p
	}
	return rm
}

// add records in sink's manifest the component c that res stored there,
// streamed by source plugin plugin, and returns the record.
func (rm *runManifests) add(sink, c, plugin string, res *stream.Result) runs.ManifestComponent {
	sr := res.Sink(sink)
	mc := runs.ManifestComponent{Snapshot: sr.Snapshot.ID, Plugin: plugin, FileName: res.Header.FileName,
		MediaType: res.Header.MediaType, Directory: res.Header.LocalPath != "",
		Size: res.Size(sr), BytesAdded: sr.BytesAdded}
	if !mc.Directory {
		mc.ChecksumAlgorithm = res.Trailer.ChecksumAlgorithm
		mc.Checksum = hex.EncodeToString(res.Trailer.Checksum)
	}
	rm.byName[sink].Components[c] = mc
	return mc
}

// live returns the sinks where no component failed so far.
func (rm *runManifests) live() []stream.Sink {
	var out []stream.Sink
	for _, s := range rm.sinks {
		if rm.failed[s.Name] == nil {
			out = append(out, s)
		}
	}
	return out
}

// fail records that component c failed in sink: the run is incomplete
// there, and its manifest will be discarded naming this failure.
func (rm *runManifests) fail(sink, c string, err error) {
	if rm.failed[sink] == nil {
		rm.failed[sink] = fmt.Errorf("%s: %w", c, err)
	}
}

// end commits, one sink after the other, the manifest of every sink where
// every component succeeded (each within the sink's stall timeout) and
// discards the others'. It returns the IDs of the manifests it committed
// (an empty ID when the commit failed) and each sink's error.
func (rm *runManifests) end(ctx context.Context) (ids map[string]string, errs map[string]error) {
	ids, errs = map[string]string{}, map[string]error{}
	for _, s := range rm.sinks {
		if err := rm.failed[s.Name]; err != nil {
			rm.abort(ctx, s.Name, err)
			errs[s.Name] = err
			continue
		}
		mctx, cancel := withTimeout(ctx, s.StallTimeout)
		ids[s.Name], errs[s.Name] = rm.commit(mctx, s)
		cancel()
	}
	return ids, errs
}

// commit stores sink's manifest — through its pending write, or with a
// write of its own when there is none — and returns its snapshot ID. ctx
// bounds the wait.
func (rm *runManifests) commit(ctx context.Context, s stream.Sink) (string, error) {
	m := rm.byName[s.Name]
	var id string
	var err error
	if p, ok := rm.pending[s.Name]; ok {
		var b []byte
		if b, err = json.MarshalIndent(m, "", "  "); err != nil {
			return "", err
		}
		var snap sdk.Snapshot
		snap, err = p.Commit(ctx, b)
		id = snap.ID
	} else {
		id, err = writeManifest(ctx, s.Target, m)
	}
	if err != nil {
		return "", fmt.Errorf("writing the run manifest: %w", err)
	}
	return id, nil
}

// abort discards sink's manifest write (every sink's when sink is ""),
// waiting for each target at most its stall timeout (a minute without
// one). A committed write stays committed.
func (rm *runManifests) abort(ctx context.Context, sink string, why error) {
	var wg sync.WaitGroup
	for _, s := range rm.sinks {
		p, ok := rm.pending[s.Name]
		if !ok || (sink != "" && s.Name != sink) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Even an interrupted run tells its targets to discard; a
			// target that does not answer is cancelled after a while.
			d := s.StallTimeout
			if d <= 0 {
				d = time.Minute
			}
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
			defer cancel()
			p.Abort(actx, why)
		}()
	}
	wg.Wait()
}

// writeManifest stores a run manifest in one write.
func writeManifest(ctx context.Context, t *stream.Endpoint, m *runs.Manifest) (string, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	snap, err := stream.WriteBytes(ctx, t, manifestHeader(m), b)
	return snap.ID, err
}

// manifestHeader is the stream header of a run's manifest snapshot.
func manifestHeader(m *runs.Manifest) sdk.Header {
	return sdk.Header{
		Component: runs.ManifestName, FileName: "manifest.json", MediaType: "application/json",
		RunID: m.RunID, Host: m.Host, Time: m.Time,
		Tags: append([]string{runs.ToolTag, runs.ManifestTag, runs.RunTagPrefix + m.RunID}, m.Tags...),
	}
}

// ReadManifest fetches and decodes a run's manifest.
func ReadManifest(ctx context.Context, t *plugin.Plugin, run *runs.Run) (*runs.Manifest, error) {
	if run.Manifest == nil {
		return nil, nil
	}
	b, err := stream.ReadBytes(ctx, t.Endpoint(), run.Manifest.ID, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("reading manifest of run %s: %w", run.ID, err)
	}
	return runs.ParseManifest(b)
}
