// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"time"
)

// The --json outputs are contracts: each has a JSON Schema in docs/json/
// (<command>.schema.json), carries schema_version, uses snake_case keys,
// durations in seconds (duration_seconds) and timestamps in RFC 3339 UTC.
// A change that removes or renames a key, or changes a type, raises
// jsonSchemaVersion; adding a key does not. TestJSONContracts validates real
// outputs against the schemas.
const jsonSchemaVersion = 1

// jsonTime is a timestamp as every --json output writes it: RFC 3339, UTC.
func jsonTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// jsonSeconds is a duration as every --json output writes it: seconds,
// to the millisecond.
func jsonSeconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// outputJSON prints v, indented.
func (m *Meta) outputJSON(v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	m.UI.Output(string(b))
}
