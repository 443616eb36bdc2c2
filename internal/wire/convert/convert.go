// SPDX-License-Identifier: Apache-2.0

// Package convert turns the protocol's messages into the SDK's Go types on
// the host's side: what a plugin reports (Info, snapshots, progress, stream
// headers) and the events the host sends. It sits above package sdk, which
// imports internal/wire and so cannot be imported by it; the plugin's side
// of each conversion is package sdk's own (sdk/server.go, sdk/stream.go,
// sdk/progress.go).
package convert

import (
	"time"

	pb "github.com/timetiles/timetiles-backup/gen/timetiles/backup/v1"
	"github.com/timetiles/timetiles-backup/sdk"
)

// restoreKindFromPB reads a declared kind; an unspecified or unknown one
// (a newer plugin's) is a stream.
func restoreKindFromPB(k pb.RestoreKind) sdk.RestoreKind {
	switch k {
	case pb.RestoreKind_RESTORE_KIND_DATABASE:
		return sdk.RestoreDatabase
	case pb.RestoreKind_RESTORE_KIND_DIRECTORY:
		return sdk.RestoreDirectory
	}
	return sdk.RestoreStream
}

// InfoFromPB converts wire Info.
func InfoFromPB(p *pb.PluginInfo) sdk.Info {
	keys := make([]sdk.ConfigKey, len(p.GetConfigKeys()))
	for n, k := range p.GetConfigKeys() {
		keys[n] = sdk.ConfigKey{Name: k.Name, Secret: k.Secret, Description: k.Description, Default: k.DefaultValue, Executable: k.Executable, WrittenPath: k.WrittenPath}
	}
	var specs []sdk.ComponentSpec
	for _, c := range p.GetComponentSpecs() {
		specs = append(specs, sdk.ComponentSpec{Name: c.GetName(), Restore: restoreKindFromPB(c.GetRestoreKind()), BackupFirst: c.GetBackupFirst()})
	}
	return sdk.Info{Name: p.GetName(), Version: p.GetPluginVersion(), Description: p.GetDescription(),
		APIVersions: p.GetApiVersions(), ConfigKeys: keys, Components: p.GetComponents(), Capabilities: p.GetCapabilities(),
		ComponentSpecs: specs}
}

// SnapshotFromPB converts a wire snapshot.
func SnapshotFromPB(p *pb.Snapshot) sdk.Snapshot {
	return sdk.Snapshot{ID: p.GetId(), Time: time.Unix(p.GetTimeUnix(), 0), Host: p.GetHost(), Tags: p.GetTags(),
		Paths: p.GetPaths(), Component: p.GetComponent(), RunID: p.GetRunId(), Size: p.GetSize(), FileName: p.GetFileName(),
		BytesAdded: p.GetBytesAdded()}
}

// EventToPB converts an event for the wire.
func EventToPB(e sdk.Event) *pb.Event {
	return &pb.Event{Kind: e.Kind, Severity: e.Severity, Subject: e.Subject, Body: e.Body, Component: e.Component,
		RunId: e.RunID, Repository: e.Repository, Error: e.Error, Hostname: e.Hostname, TimeUnix: e.Time.Unix()}
}

// ProgressFromPB converts a wire report.
func ProgressFromPB(p *pb.ProgressResponse) sdk.Progress {
	return sdk.Progress{Component: p.GetComponent(), RunID: p.GetRunId(), BytesDone: p.GetBytesDone(), TotalBytes: p.GetTotalBytes(),
		FilesDone: p.GetFilesDone(), TotalFiles: p.GetTotalFiles(), Elapsed: time.Duration(p.GetSecondsElapsed() * float64(time.Second))}
}

// HeaderFromPB converts a wire header.
func HeaderFromPB(h *pb.StreamHeader) sdk.Header {
	if h == nil {
		return sdk.Header{}
	}
	var t time.Time
	if h.TimeUnix != 0 {
		t = time.Unix(h.TimeUnix, 0)
	}
	return sdk.Header{
		Component: h.Component, FileName: h.FileName, MediaType: h.MediaType,
		Metadata: h.Metadata, LocalPath: h.LocalPath, RunID: h.RunId, Tags: h.Tags,
		Host: h.Host, Time: t,
	}
}

// ConfigToPB converts a plugin's configuration for Configure.
func ConfigToPB(cfg sdk.Config) *pb.PluginConfig {
	return &pb.PluginConfig{Instance: cfg.Instance, Values: cfg.Values, ApiVersion: cfg.APIVersion}
}
