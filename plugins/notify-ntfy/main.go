// SPDX-License-Identifier: Apache-2.0

// Command timetiles-backup-notify-ntfy is the Notifier plugin that publishes
// backup alerts to an ntfy topic (https://ntfy.sh or a self-hosted server).
package main

import "github.com/timetiles/timetiles-backup/sdk"

func main() { sdk.ServeNotifier(&notifier{}) }
