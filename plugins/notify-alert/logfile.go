// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// logChannel appends the alert to a file, like the old alert.sh did when no
// SMTP server was configured.
type logChannel struct{ path string }

func (c *logChannel) name() string { return chLog }

func (c *logChannel) deliver(_ context.Context, a alert) error {
	if err := os.MkdirAll(filepath.Dir(c.path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(c.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	// One write: concurrent appenders do not interleave within an entry.
	entry := fmt.Sprintf("[%s] %s\n%s\n\n", a.Time.Format(time.RFC3339), a.Subject, strings.TrimRight(a.Body, "\n"))
	if _, err := f.WriteString(entry); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
