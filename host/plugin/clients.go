// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"context"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// The typed clients speak the SDK's Go types and hide the protocol, the way
// go-plugin's examples wrap a gRPC client in the plugin's own interface:
// a Notifier implements sdk.Notifier, a Target every call of sdk.Target and
// sdk.CopyTarget that carries no stream bytes, a Source sdk.Plugin; each
// implements sdk.Checker. Errors
// come back as the SDK's sentinels (errors.Is(err, sdk.ErrNotFound)).
// Moving bytes (Backup, Restore, Write, Read) is host/stream's job.

// client is what every kind answers: Info (as the plugin reported it when
// it started) and Configure.
type client struct {
	info sdk.Info
	w    *wire.Client
}

// Info returns what the plugin reported about itself when it started.
func (c client) Info() sdk.Info { return c.info }

// Configure sends the plugin its configuration.
func (c client) Configure(ctx context.Context, cfg sdk.Config) error {
	return c.w.Configure(ctx, convert.ConfigToPB(cfg))
}

// Check asks the plugin to check itself (sdk.Checker). A plugin that
// cannot — one without sdk.Checker, or one built before the call existed —
// answers sdk.ErrUnimplemented.
func (c client) Check(ctx context.Context) ([]sdk.Finding, error) {
	fs, err := c.w.Check(ctx)
	if err != nil {
		return nil, err
	}
	return convert.FindingsFromPB(fs), nil
}

// Source is the host's client of a source plugin's calls that carry no
// stream bytes.
type Source struct{ client }

// NewSource wraps the raw client of a source plugin that reported info.
func NewSource(w *wire.Client, info sdk.Info) *Source { return &Source{client{info: info, w: w}} }

// NewTarget wraps the raw client of a target plugin that reported info.
func NewTarget(w *wire.Client, info sdk.Info) *Target { return &Target{client{info: info, w: w}} }

// NewNotifier wraps the raw client of a notifier plugin that reported info.
func NewNotifier(w *wire.Client, info sdk.Info) *Notifier { return &Notifier{client{info: info, w: w}} }

// Notifier is the host's client of a notifier plugin.
type Notifier struct{ client }

var (
	_ sdk.Notifier = (*Notifier)(nil)
	_ sdk.Checker  = (*Source)(nil)
	_ sdk.Checker  = (*Target)(nil)
)

// Notify delivers an event and returns the channels that took it; a
// partial delivery returns both.
func (n *Notifier) Notify(ctx context.Context, e sdk.Event) ([]string, error) {
	return n.w.Notify(ctx, convert.EventToPB(e))
}

// Target is the host's client of a target plugin's calls that carry no
// stream bytes.
type Target struct{ client }

// Init creates the repository if it does not exist; the context's marks
// (sdk.WithInitOpensNext, sdk.WithInitParamsFrom) travel with the call.
func (t *Target) Init(ctx context.Context) (bool, error) {
	resp, err := t.w.Target.Init(ctx, &pb.InitRequest{OpensNext: sdk.InitOpensNext(ctx), ParamsFrom: sdk.InitParamsFrom(ctx)})
	if err != nil {
		return false, wire.FromStatus(err)
	}
	return resp.GetCreated(), nil
}

// List returns the repository's snapshots carrying all of tags.
func (t *Target) List(ctx context.Context, tags []string) ([]sdk.Snapshot, error) {
	resp, err := t.w.Target.List(ctx, &pb.ListRequest{Tags: tags})
	if err != nil {
		return nil, wire.FromStatus(err)
	}
	return snapshots(resp.GetSnapshots()), nil
}

// Prune applies a retention policy, or forgets req.Forget.
func (t *Target) Prune(ctx context.Context, req sdk.PruneRequest) (sdk.PruneResult, error) {
	resp, err := t.w.Target.Prune(ctx, &pb.PruneRequest{
		Keep:   &pb.KeepPolicy{Daily: uint32(req.Keep.Daily), Weekly: uint32(req.Keep.Weekly), Monthly: uint32(req.Keep.Monthly)},
		DryRun: req.DryRun, Host: req.Host, Tags: req.Tags, Forget: req.Forget,
	})
	if err != nil {
		return sdk.PruneResult{}, wire.FromStatus(err)
	}
	return sdk.PruneResult{Kept: snapshots(resp.GetKept()), Removed: snapshots(resp.GetRemoved())}, nil
}

// Verify checks the repository and returns the plugin's summary.
func (t *Target) Verify(ctx context.Context, req sdk.VerifyRequest) (string, error) {
	resp, err := t.w.Target.Verify(ctx, &pb.VerifyRequest{ReadDataSubset: req.ReadDataSubset})
	if err != nil {
		return "", wire.FromStatus(err)
	}
	return resp.GetSummary(), nil
}

// Copy copies snapshots from another instance's repository into this one
// (sdk.CopyTarget); a target without it answers sdk.ErrUnimplemented.
func (t *Target) Copy(ctx context.Context, req sdk.CopyRequest) (sdk.CopyResult, error) {
	resp, err := t.w.Target.Copy(ctx, &pb.CopyRequest{FromInstance: req.FromInstance, SnapshotIds: req.SnapshotIDs})
	if err != nil {
		return sdk.CopyResult{}, wire.FromStatus(err)
	}
	res := sdk.CopyResult{Copied: map[string]sdk.Snapshot{}, Warning: resp.GetWarning()}
	for _, c := range resp.GetCopied() {
		res.Copied[c.GetFromId()] = convert.SnapshotFromPB(c.GetSnapshot())
	}
	return res, nil
}

// WatchProgress passes the target's progress reports (sdk.ReportProgress
// in the plugin) to fn, from a goroutine, until ctx ends. It returns an
// error when the call cannot start; a plugin built before the Progress
// call answers sdk.ErrUnimplemented.
func (t *Target) WatchProgress(ctx context.Context, fn func(sdk.Progress)) error {
	st, err := t.w.Target.Progress(ctx, &pb.ProgressRequest{})
	if err != nil {
		return wire.FromStatus(err)
	}
	go func() {
		for {
			m, err := st.Recv()
			if err != nil {
				return
			}
			fn(convert.ProgressFromPB(m))
		}
	}()
	return nil
}

func snapshots(ps []*pb.Snapshot) []sdk.Snapshot {
	var out []sdk.Snapshot
	for _, p := range ps {
		out = append(out, convert.SnapshotFromPB(p))
	}
	return out
}
