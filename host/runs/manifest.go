// SPDX-License-Identifier: Apache-2.0

package runs

import (
	"encoding/json"
	"fmt"
	"time"
)

// Manifest is written as the last snapshot of a run, into each repository
// where every component of the run succeeded. A run with a manifest is
// complete; `restore latest` only ever picks complete runs.
type Manifest struct {
	Tool       string                       `json:"tool"`
	Version    string                       `json:"version"`
	RunID      string                       `json:"run_id"`
	Host       string                       `json:"host"`
	Time       time.Time                    `json:"time"`
	Components map[string]ManifestComponent `json:"components"`
	// Tags are the run's extra tags (BackupOptions.Tags), e.g. SafetyTag.
	Tags []string `json:"tags,omitempty"`
	// CopiedFrom names the repository (instance) the run was copied from
	// by the offsite catch-up; empty for a run backed up directly.
	CopiedFrom string `json:"copied_from,omitempty"`
}

// ManifestComponent records one component of a run.
type ManifestComponent struct {
	Snapshot          string `json:"snapshot"`
	Plugin            string `json:"plugin"`
	FileName          string `json:"file_name"`
	MediaType         string `json:"media_type,omitempty"`
	Directory         bool   `json:"directory,omitempty"`
	Size              uint64 `json:"size"`
	ChecksumAlgorithm string `json:"checksum_algorithm,omitempty"`
	Checksum          string `json:"checksum,omitempty"`
	BytesAdded        uint64 `json:"bytes_added"`
}

// ParseManifest decodes a manifest.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("run manifest: %w", err)
	}
	if m.RunID == "" || len(m.Components) == 0 {
		return nil, fmt.Errorf("run manifest: no run ID or components")
	}
	return &m, nil
}
