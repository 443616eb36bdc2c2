// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"

	"github.com/timetiles/timetiles-backup/sdk"
)

// Check is what `timetiles-backup init` shows for ntfy (sdk.Checker): the
// server the topic is on (never the topic: on a public server it is the
// password). Configure has refused an incomplete configuration already;
// Check publishes nothing (`timetiles-backup alert test` does).
func (n *notifier) Check(context.Context) ([]sdk.Finding, error) {
	auth := "no access token"
	if n.token != "" {
		auth = "with an access token"
	}
	fs := []sdk.Finding{sdk.Verified("topic", "publishes to a topic on "+n.display+" ("+auth+")")}
	if n.success {
		fs = append(fs, sdk.Verified("success events", keyNotifySuccess+"=true: successful backups are published too"))
	}
	return fs, nil
}
