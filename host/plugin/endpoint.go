// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"github.com/timetiles/timetiles-backup/host/stream"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Endpoint is what host/stream needs of the plugin to move a stream's
// bytes.
func (p *Plugin) Endpoint() *stream.Endpoint {
	e := &stream.Endpoint{Name: p.Name, Path: p.Has(sdk.CapPath), Source: p.Client.Source, Target: p.Client.Target}
	if p.Client.FD != nil {
		e.FD = p.Client.FD
	}
	return e
}
