// SPDX-License-Identifier: Apache-2.0

// Command timetiles-backup-source-minidb is a third-party source the host
// knows nothing about: component "ledger", a database declared as one
// (sdk.RestoreDatabase, BackupFirst), whose databases are files
// MINIDB_DIR/NAME.db of one row a line. Each row names a file of an uploads
// directory. Built with the SDK alone, it shows that the host restores and
// orders a component by what its source declares, not by its name.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

const component = "ledger"

type minidb struct {
	dir, name string
	// app, when set, is an uploads directory the simulated application
	// writes to while a backup runs: first a file, then the row naming it.
	app string
}

func (m *minidb) Info() sdk.Info {
	return sdk.Info{Name: "source-minidb", Version: "0.0.1", Components: []string{component},
		Description:    "test database of one row a line (component ledger)",
		ComponentSpecs: []sdk.ComponentSpec{{Name: component, Restore: sdk.RestoreDatabase, BackupFirst: true}},
		ConfigKeys: []sdk.ConfigKey{
			{Name: "MINIDB_DIR", Description: "directory holding the databases, one file NAME.db each"},
			{Name: "MINIDB_NAME", Default: "app", Description: "the production database"},
			{Name: "MINIDB_APP_UPLOADS", Description: "uploads directory the simulated application writes a file to (and then a row naming it) when a backup starts"},
		}}
}

func (m *minidb) Configure(_ context.Context, c sdk.Config) error {
	m.dir, m.name, m.app = c.Get("MINIDB_DIR"), c.GetDefault("MINIDB_NAME", "app"), c.Get("MINIDB_APP_UPLOADS")
	if m.dir == "" {
		return fmt.Errorf("MINIDB_DIR is not set: %w", sdk.ErrInvalidConfig)
	}
	return nil
}

func (m *minidb) path(name string) string { return filepath.Join(m.dir, name+".db") }

func (m *minidb) check(c string) error {
	if c != "" && c != component {
		return fmt.Errorf("source-minidb has no component %q (only %q): %w", c, component, sdk.ErrInvalidConfig)
	}
	return nil
}

func (m *minidb) Backup(ctx context.Context, req sdk.BackupRequest, out sdk.BackupStream) error {
	if err := m.check(req.Component); err != nil {
		return err
	}
	if m.app != "" {
		// The application stores an upload, then the row that names it:
		// a run holds every file its rows name only if the uploads are
		// snapshotted after this dump.
		f := "upload-" + strconv.FormatInt(time.Now().UnixNano(), 10) + ".txt"
		if err := os.WriteFile(filepath.Join(m.app, f), []byte(f), 0o644); err != nil {
			return err
		}
		db, err := os.OpenFile(m.path(m.name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, err = db.WriteString(f + "\n")
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	b, err := os.ReadFile(m.path(m.name))
	if err != nil {
		return err
	}
	w, err := out.Start(sdk.Header{Component: component, FileName: "ledger.db", MediaType: "text/plain"})
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

var dbName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func (m *minidb) Restore(ctx context.Context, req sdk.RestoreRequest, r io.Reader) error {
	if err := m.check(req.Component); err != nil {
		return err
	}
	target := m.name
	if req.ToDatabase != "" {
		switch {
		case !dbName.MatchString(req.ToDatabase):
			return fmt.Errorf("--to-database %q: use lower-case letters, digits and _: %w", req.ToDatabase, sdk.ErrInvalidConfig)
		case req.ToDatabase == m.name:
			return fmt.Errorf("--to-database %q is the production database: leave --to-database out to restore it in place: %w", req.ToDatabase, sdk.ErrInvalidConfig)
		}
		if b, err := os.ReadFile(m.path(req.ToDatabase)); err == nil && len(bytes.TrimSpace(b)) > 0 && !req.ReplaceDatabase {
			return fmt.Errorf("database %q holds data: name a new one, or pass --replace-database: %w", req.ToDatabase, sdk.ErrInvalidConfig)
		}
		target = req.ToDatabase
	}
	tmp, err := os.CreateTemp(m.dir, ".restore-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), m.path(target))
}

func main() { sdk.ServeSource(&minidb{}) }
