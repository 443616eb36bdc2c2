// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"context"
	"fmt"
)

// Severity says how bad a Finding is.
type Severity int

const (
	// SeverityOK: verified, nothing to do.
	SeverityOK Severity = iota
	// SeverityWarning: works, but not as it should (e.g. no alert channel
	// configured).
	SeverityWarning
	// SeverityError: backups or restores fail until it is fixed.
	SeverityError
)

// String names the severity as `timetiles-backup init` prints it.
func (s Severity) String() string {
	switch s {
	case SeverityWarning:
		return "warning"
	case SeverityError:
		return "error"
	}
	return "ok"
}

// Finding is one thing a plugin checked about itself.
type Finding struct {
	// Name is a short name of what was checked, e.g. "pg_dump",
	// "connection", "repository".
	Name     string
	Severity Severity
	// Detail says what was verified ("pg_dump (PostgreSQL) 15.8 reaches
	// database timetiles as user timetiles_user"), or for a problem what
	// was looked at.
	Detail string
	// Problem says what is wrong (warnings and errors).
	Problem string
	// Fix says how the operator fixes it. Every error has one.
	Fix string
}

// Verified is a finding that name checked out: detail says what was
// verified.
func Verified(name, detail string) Finding {
	return Finding{Name: name, Severity: SeverityOK, Detail: detail}
}

// Problem is an error finding: what is wrong with name and how to fix it.
func Problem(name, problem, fix string) Finding {
	return Finding{Name: name, Severity: SeverityError, Problem: problem, Fix: fix}
}

// Warning is a warning finding: name works, but not as it should.
func Warning(name, problem, fix string) Finding {
	return Finding{Name: name, Severity: SeverityWarning, Problem: problem, Fix: fix}
}

// String is the finding on one line, e.g. "pg_dump: ok: …" or
// "connection: error: … (fix: …)".
func (f Finding) String() string {
	if f.Severity == SeverityOK {
		return fmt.Sprintf("%s: ok: %s", f.Name, f.Detail)
	}
	s := fmt.Sprintf("%s: %s: %s", f.Name, f.Severity, f.Problem)
	if f.Fix != "" {
		s += " (fix: " + f.Fix + ")"
	}
	return s
}

// Checker is a plugin that checks itself: `timetiles-backup init` calls
// Check after Configure and shows the findings to the operator. Optional:
// for a plugin without it init says that the plugin cannot check itself.
//
// Check verifies what the plugin needs to work — its tools and their
// versions, that what it is configured to reach exists and answers, its
// permissions — and changes nothing: it creates no repository or database
// and sends no message. It reports every problem it finds, each with its
// fix, rather than stopping at the first; it returns an error only when
// it could not check at all. It should answer within 30 seconds
// (sdk/conformance checks it).
type Checker interface {
	Check(ctx context.Context) ([]Finding, error)
}
