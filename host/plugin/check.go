// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"context"

	"github.com/timetiles/timetiles-backup/internal/wire/convert"
	"github.com/timetiles/timetiles-backup/sdk"
)

// Every kind's client asks its plugin to check itself (`timetiles-backup
// init`).
var (
	_ sdk.Checker = (*Source)(nil)
	_ sdk.Checker = (*Target)(nil)
	_ sdk.Checker = (*Notifier)(nil)
)

// Check asks the configured plugin to check itself (sdk.Checker). A plugin
// that cannot — one without sdk.Checker, or one built before the call
// existed — returns an error matching sdk.ErrUnimplemented.
func (c client) Check(ctx context.Context) ([]sdk.Finding, error) {
	fs, err := c.w.Check(ctx)
	if err != nil {
		return nil, err
	}
	return convert.FindingsFromPB(fs), nil
}
