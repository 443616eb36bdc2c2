// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strings"

	"github.com/timetiles/timetiles-backup/host"
)

// AlertCommand is `timetiles-backup alert`: only its subcommand exists.
type AlertCommand struct {
	*Meta
}

func (c *AlertCommand) Synopsis() string { return "Alerting: send a test alert" }

func (c *AlertCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup alert test [options]

  Sends a test alert through every configured notifier plugin
  (BACKUP_NOTIFIERS, default notify-alert) and every channel each one has
  (notify-alert: the alert script, email, webhook, or its log file), and
  reports each one.
`)
}

func (c *AlertCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *AlertCommand) run(args []string) error {
	if len(args) == 0 {
		c.UI.Output(c.Help())
		return reported(usageError("alert takes a subcommand: alert test"))
	}
	return c.fail(usageError("unknown alert subcommand %q: use `timetiles-backup alert test`", args[0]), c.Help())
}

// AlertTestCommand is `timetiles-backup alert test`.
type AlertTestCommand struct {
	*Meta
}

func (c *AlertTestCommand) Synopsis() string {
	return "Send a test alert through every configured channel"
}

func (c *AlertTestCommand) Help() string {
	return strings.TrimSpace(`
Usage: timetiles-backup alert test [options]

  Sends a test event (subject "Test Alert", severity info) through every
  notifier plugin BACKUP_NOTIFIERS names (default notify-alert) and reports,
  per plugin, the channels that delivered it and those that failed. Use it
  after changing TIMETILES_ALERT_SCRIPT, the EMAIL_SMTP_* settings,
  ALERT_EMAIL or BACKUP_ALERT_WEBHOOK_URL.

  Exits 1 when any notifier or channel failed, or when no notifier is
  configured (BACKUP_NOTIFIERS=none).

` + commonFlagsHelp + "\n\n" + exitCodesHelp)
}

func (c *AlertTestCommand) Run(args []string) int { return c.exit(c.run(args), c.Help()) }

func (c *AlertTestCommand) run(args []string) error {
	fs := c.FlagSet("alert test")
	r, err := c.start(fs, args, c.Help())
	if err != nil {
		return err
	}
	defer r.Close()
	if len(r.Notifiers()) == 0 {
		c.UI.Error("No notifier is configured (BACKUP_NOTIFIERS=none): failures would not be alerted. Set BACKUP_NOTIFIERS (default notify-alert).")
		return errFailed
	}
	e := r.NewEvent(host.EventTest, "", "", nil)
	failed := false
	for _, res := range r.NotifyEach(c.Ctx, e) {
		for _, ch := range res.Delivered {
			c.UI.Output(fmt.Sprintf("  ok      %s: %s", res.Notifier, ch))
		}
		if res.Err != nil {
			failed = true
			c.UI.Output(fmt.Sprintf("  FAILED  %s: %s", res.Notifier, res.Err))
		}
		if res.Err == nil && len(res.Delivered) == 0 {
			failed = true
			c.UI.Output(fmt.Sprintf("  FAILED  %s: delivered through no channel", res.Notifier))
		}
	}
	if failed {
		c.UI.Error("Error: the test alert was not delivered everywhere (see FAILED above)")
		return errFailed
	}
	c.UI.Output("Test alert delivered through every configured channel.")
	return nil
}
