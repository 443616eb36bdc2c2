// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"github.com/timetiles/timetiles-backup/sdk"
)

// Every kind's client asks its plugin to check itself (`timetiles-backup
// init`).
var (
	_ sdk.Checker = (*Source)(nil)
	_ sdk.Checker = (*Target)(nil)
	_ sdk.Checker = (*Notifier)(nil)
)
