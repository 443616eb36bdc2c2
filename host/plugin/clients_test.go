// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

// fakeTarget answers the calls that carry no stream bytes and records what
// Init saw of the context's marks.
type fakeTarget struct {
	opensNext  bool
	paramsFrom string
	pruned     sdk.PruneRequest
}

func (*fakeTarget) Info() sdk.Info {
	return sdk.Info{Name: "target-fake", Version: "1.2.3", Components: []string{"db"}}
}
func (*fakeTarget) Configure(_ context.Context, cfg sdk.Config) error {
	if cfg.Get("FAKE_REPO") == "" {
		return fmt.Errorf("FAKE_REPO is not set: %w", sdk.ErrInvalidConfig)
	}
	return nil
}
func (f *fakeTarget) Init(ctx context.Context) (bool, error) {
	f.opensNext, f.paramsFrom = sdk.InitOpensNext(ctx), sdk.InitParamsFrom(ctx)
	return true, nil
}
func (*fakeTarget) Write(context.Context, sdk.Header, io.Reader) (sdk.WriteResult, error) {
	return sdk.WriteResult{}, sdk.ErrUnimplemented
}
func (*fakeTarget) List(_ context.Context, tags []string) ([]sdk.Snapshot, error) {
	if len(tags) > 0 && tags[0] == "missing" {
		return nil, fmt.Errorf("no repository at /x: %w", sdk.ErrNotFound)
	}
	return []sdk.Snapshot{{ID: "abc", Time: time.Unix(1700000000, 0), Component: "db", RunID: "r1", Size: 42, Tags: tags}}, nil
}
func (*fakeTarget) Read(context.Context, sdk.ReadRequest, sdk.ReadStream) error {
	return sdk.ErrUnimplemented
}
func (f *fakeTarget) Prune(_ context.Context, req sdk.PruneRequest) (sdk.PruneResult, error) {
	f.pruned = req
	return sdk.PruneResult{Removed: []sdk.Snapshot{{ID: req.Forget[0]}}}, nil
}
func (*fakeTarget) Verify(_ context.Context, req sdk.VerifyRequest) (string, error) {
	if req.ReadDataSubset == "100%" {
		return "", fmt.Errorf("key may not read: %w", sdk.ErrPermissionDenied)
	}
	return "no errors were found (" + req.ReadDataSubset + ")", nil
}

// TestTargetClientSpeaksSDKTypes: the typed target client carries the SDK's
// values both ways (the Init marks of the context, a prune request, the
// snapshots listed) and gives a plugin's errors back as the SDK's
// sentinels; a target without Copy or Check answers sdk.ErrUnimplemented.
func TestTargetClientSpeaksSDKTypes(t *testing.T) {
	fake := &fakeTarget{}
	w, stop, err := ServeInProcess(sdk.KindTarget, fake, false)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	tc := NewTarget(w, fake.Info())
	if err := tc.Configure(ctx, sdk.Config{Values: map[string]string{}}); !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Errorf("Configure without the key = %v, want sdk.ErrInvalidConfig", err)
	}
	created, err := tc.Init(sdk.WithInitParamsFrom(sdk.WithInitOpensNext(ctx), "local"))
	if err != nil || !created || !fake.opensNext || fake.paramsFrom != "local" {
		t.Errorf("Init = %v, %v; the plugin saw opens-next %v, params-from %q", created, err, fake.opensNext, fake.paramsFrom)
	}
	snaps, err := tc.List(ctx, []string{"timetiles-backup"})
	if err != nil || len(snaps) != 1 || snaps[0].ID != "abc" || snaps[0].Size != 42 || snaps[0].RunID != "r1" ||
		!snaps[0].Time.Equal(time.Unix(1700000000, 0)) || snaps[0].Tags[0] != "timetiles-backup" {
		t.Errorf("List = %+v, %v", snaps, err)
	}
	if _, err := tc.List(ctx, []string{"missing"}); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("List of a missing repository = %v, want sdk.ErrNotFound", err)
	}
	res, err := tc.Prune(ctx, sdk.PruneRequest{Keep: sdk.KeepPolicy{Daily: 7, Weekly: 4, Monthly: 6}, Host: "h", Forget: []string{"old"}})
	if err != nil || len(res.Removed) != 1 || res.Removed[0].ID != "old" || fake.pruned.Keep.Weekly != 4 || fake.pruned.Host != "h" {
		t.Errorf("Prune = %+v, %v; the plugin got %+v", res, err, fake.pruned)
	}
	if sum, err := tc.Verify(ctx, sdk.VerifyRequest{ReadDataSubset: "5%"}); err != nil || sum != "no errors were found (5%)" {
		t.Errorf("Verify = %q, %v", sum, err)
	}
	if _, err := tc.Verify(ctx, sdk.VerifyRequest{ReadDataSubset: "100%"}); !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Errorf("Verify denied = %v, want sdk.ErrPermissionDenied", err)
	}
	if _, err := tc.Copy(ctx, sdk.CopyRequest{FromInstance: "local", SnapshotIDs: []string{"abc"}}); !errors.Is(err, sdk.ErrUnimplemented) {
		t.Errorf("Copy on a target without it = %v, want sdk.ErrUnimplemented", err)
	}
	if fs, err := tc.Check(ctx); !errors.Is(err, sdk.ErrUnimplemented) || fs != nil {
		t.Errorf("Check on a target without sdk.Checker = %v, %v; want sdk.ErrUnimplemented", fs, err)
	}
}

type fakeNotifier struct{ got sdk.Event }

func (*fakeNotifier) Info() sdk.Info                              { return sdk.Info{Name: "notify-fake"} }
func (*fakeNotifier) Configure(context.Context, sdk.Config) error { return nil }
func (n *fakeNotifier) Notify(_ context.Context, e sdk.Event) ([]string, error) {
	n.got = e
	if e.Kind == "test" {
		return []string{"log"}, errors.New("webhook: 502")
	}
	return []string{"log", "webhook"}, nil
}

// TestNotifierClientIsAnSDKNotifier: an event goes through whole, and a
// partial delivery comes back as the channels that took it and the error.
func TestNotifierClientIsAnSDKNotifier(t *testing.T) {
	fake := &fakeNotifier{}
	w, stop, err := ServeInProcess(sdk.KindNotifier, fake, false)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var n sdk.Notifier = NewNotifier(w, fake.Info())
	at := time.Unix(1700000000, 0)
	got, err := n.Notify(context.Background(), sdk.Event{Kind: "backup_failed", Subject: "s", RunID: "r1", Time: at})
	if err != nil || len(got) != 2 || fake.got.Subject != "s" || fake.got.RunID != "r1" || !fake.got.Time.Equal(at) {
		t.Errorf("Notify = %v, %v; the plugin got %+v", got, err, fake.got)
	}
	got, err = n.Notify(context.Background(), sdk.Event{Kind: "test"})
	if err == nil || err.Error() != "webhook: 502" || len(got) != 1 || got[0] != "log" {
		t.Errorf("partial delivery = %v, %v; want [log] and the webhook's error", got, err)
	}
}
