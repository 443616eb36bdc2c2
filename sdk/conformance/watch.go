// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

// An in-process plugin is wrapped so that the kit sees whether a cancelled
// call has returned; a plugin process is watched through its pipes and
// child processes instead.

type watched interface{ inFlight() int32 }

type counter struct{ n atomic.Int32 }

func (c *counter) inFlight() int32 { return c.n.Load() }
func (c *counter) enter() func()   { c.n.Add(1); return func() { c.n.Add(-1) } }

type watchedSource struct {
	sdk.Source
	counter
}

func (w *watchedSource) Backup(ctx context.Context, req sdk.BackupRequest, out sdk.BackupStream) error {
	defer w.enter()()
	return w.Source.Backup(ctx, req, out)
}

func (w *watchedSource) Restore(ctx context.Context, req sdk.RestoreRequest, r io.Reader) error {
	defer w.enter()()
	return w.Source.Restore(ctx, req, r)
}

// Check passes Check through to a plugin that implements it (sdk.Checker);
// for one that does not, the server answers as it would for the plugin
// itself: not implemented.
func (w *watchedSource) Check(ctx context.Context) ([]sdk.Finding, error) {
	return check(ctx, w.Source)
}

func (w *watchedTarget) Check(ctx context.Context) ([]sdk.Finding, error) {
	return check(ctx, w.Target)
}

func check(ctx context.Context, p sdk.Plugin) ([]sdk.Finding, error) {
	if c, ok := p.(sdk.Checker); ok {
		return c.Check(ctx)
	}
	return nil, fmt.Errorf("this plugin cannot check itself: %w", sdk.ErrUnimplemented)
}

type watchedPathSource struct {
	*watchedSource
	ps sdk.PathSource
}

func (w watchedPathSource) RestorePath(ctx context.Context, req sdk.RestoreRequest) (string, error) {
	return w.ps.RestorePath(ctx, req)
}

func watchSource(s sdk.Source) sdk.Plugin {
	w := &watchedSource{Source: s}
	if ps, ok := s.(sdk.PathSource); ok {
		return watchedPathSource{watchedSource: w, ps: ps}
	}
	return w
}

type watchedTarget struct {
	sdk.Target
	counter
}

func (w *watchedTarget) Write(ctx context.Context, h sdk.Header, r io.Reader) (sdk.WriteResult, error) {
	defer w.enter()()
	return w.Target.Write(ctx, h, r)
}

// settle waits, after a cancellation, until the plugin has stopped the
// cancelled work: the in-process call returned, the pipe w's read end was
// released, and no child started since before is left. A plugin process
// on the gRPC path gives no such sign beyond its children; it gets a short
// grace period. settle reports false when the plugin did not stop within
// stopTimeout.
func (in *instance) settle(before map[int]string, w *os.File) bool {
	ok := waitUntil(stopTimeout, func() bool {
		if wi, isW := in.impl.(watched); isW && wi.inFlight() > 0 {
			return false
		}
		if w != nil && !readersGone(w) {
			return false
		}
		return len(newSince(before, descendants(in.pid))) == 0
	})
	if ok && in.impl == nil && w == nil {
		time.Sleep(200 * time.Millisecond)
	}
	return ok
}
