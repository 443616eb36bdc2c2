// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/timetiles/timetiles-backup/sdk"
)

// Check is what `timetiles-backup init` shows for the alerts (sdk.Checker):
// each configured channel and where it delivers. Configure has refused an
// incomplete channel already; Check sends no message (`timetiles-backup
// alert test` does).
func (n *notifier) Check(context.Context) ([]sdk.Finding, error) {
	var fs []sdk.Finding
	for _, ch := range n.channels {
		switch c := ch.(type) {
		case *scriptChannel:
			how := "executable"
			if len(c.argv) > 1 {
				how = "not executable: run with /bin/sh"
			}
			fs = append(fs, sdk.Verified(chScript, fmt.Sprintf("%s (%s)", c.path, how)))
		case *emailChannel:
			fs = append(fs, sdk.Verified(chEmail, fmt.Sprintf("SMTP %s:%d (%s) to %s", c.host, c.port, c.mode, strings.Join(c.to, ", "))))
		case *webhookChannel:
			fs = append(fs, sdk.Verified(chWebhook, "JSON POST to "+c.display))
		case *logChannel:
			fs = append(fs, sdk.Verified(chLog, "appends to "+c.path))
		}
	}
	if len(n.channels) == 0 {
		fs = append(fs, sdk.Warning("channels", "no alert channel is configured: a failed backup is only appended to "+n.fallback.path,
			fmt.Sprintf("set %s and %s for email, %s for a webhook, or %s for TimeTiles' alert script; then `timetiles-backup alert test`",
				keySMTPHost, keyAlertEmail, keyWebhookURL, keyScript)))
	}
	if n.success {
		fs = append(fs, sdk.Verified("success events", keyNotifySuccess+"=true: successful backups are delivered too"))
	}
	return fs, nil
}
