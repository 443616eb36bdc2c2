// SPDX-License-Identifier: Apache-2.0

// Command timetiles-backup-notify-alert is the Notifier plugin that delivers
// backup alerts by TimeTiles' alert script, SMTP email and/or a webhook, and
// appends them to a log file when no channel is configured.
package main

import "github.com/timetiles/timetiles-backup/sdk"

func main() { sdk.ServeNotifier(&notifier{}) }
