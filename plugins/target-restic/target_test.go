// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

func configure(t *testing.T, instance string, vals map[string]string) (*Target, error) {
	t.Helper()
	tg := &Target{}
	return tg, tg.Configure(context.Background(), sdk.Config{Instance: instance, Values: vals})
}

func TestRefusesResticBelowFloor(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "restic")
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'restic 0.14.0 compiled with go1.19 on linux/amd64'\n"), 0o755)
	_, err := configure(t, "local", map[string]string{"RESTIC_PASSWORD": "x", "BACKUP_RESTIC_BIN": fake})
	if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), "0.14.0") || !strings.Contains(err.Error(), "0.16") {
		t.Fatalf("err = %v, want a refusal naming 0.14.0 and the 0.16 floor", err)
	}
}

func TestConfigurationErrors(t *testing.T) {
	restic := testenv.Tool(t, "restic")
	for _, tc := range []struct {
		instance string
		vals     map[string]string
		want     string
	}{
		{"local", map[string]string{"BACKUP_RESTIC_BIN": restic}, "RESTIC_PASSWORD is empty"},
		{"offsite", map[string]string{"BACKUP_RESTIC_BIN": restic, "RESTIC_PASSWORD": "x"}, "RESTIC_OFFSITE_REPOSITORY is not set"},
		{"offsite", map[string]string{"BACKUP_RESTIC_BIN": restic, "RESTIC_PASSWORD": "x", "RESTIC_OFFSITE_REPOSITORY": "s3:s3.amazonaws.com/b/p"}, "AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is empty"},
		{"local", map[string]string{"BACKUP_RESTIC_BIN": restic, "RESTIC_PASSWORD": "x", "BACKUP_RESTIC_RETRY_LOCK": "soon"}, "BACKUP_RESTIC_RETRY_LOCK"},
		{"local", map[string]string{"BACKUP_RESTIC_BIN": "/nonexistent/restic", "RESTIC_PASSWORD": "x"}, "cannot run restic"},
	} {
		_, err := configure(t, tc.instance, tc.vals)
		if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: err = %v, want %q", tc.instance, tc.vals, err, tc.want)
		}
	}
}

func TestOffsiteEndpointBecomesRepositoryURL(t *testing.T) {
	tg, err := configure(t, "offsite", map[string]string{
		"BACKUP_RESTIC_BIN": testenv.Tool(t, "restic"), "RESTIC_PASSWORD": "x",
		"RESTIC_OFFSITE_REPOSITORY": "s3:s3.amazonaws.com/bucket/timetiles",
		"AWS_ENDPOINT_URL":          "https://s3.us-west-000.backblazeb2.com",
		"AWS_ACCESS_KEY_ID":         "k", "AWS_SECRET_ACCESS_KEY": "s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if tg.repo.Repository != "s3:https://s3.us-west-000.backblazeb2.com/bucket/timetiles" {
		t.Fatalf("repository = %s", tg.repo.Repository)
	}
}

func TestInitIsPreciseAndIdempotent(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	bin := testenv.Tool(t, "restic")
	tg, err := configure(t, "local", map[string]string{"BACKUP_RESTIC_BIN": bin, "RESTIC_PASSWORD": "pw1", "RESTIC_REPOSITORY": repo})
	if err != nil {
		t.Fatal(err)
	}
	if created, err := tg.Init(context.Background()); err != nil || !created {
		t.Fatalf("first init: created=%v err=%v", created, err)
	}
	if created, err := tg.Init(context.Background()); err != nil || created {
		t.Fatalf("second init: created=%v err=%v", created, err)
	}
	// A wrong password is not "missing": it must be reported as such.
	wrong, _ := configure(t, "local", map[string]string{"BACKUP_RESTIC_BIN": bin, "RESTIC_PASSWORD": "other", "RESTIC_REPOSITORY": repo})
	if _, err := wrong.List(context.Background(), nil); !errors.Is(err, sdk.ErrUnauthenticated) {
		t.Fatalf("wrong password: err = %v, want ErrUnauthenticated", err)
	}
	if _, err := wrong.Init(context.Background()); err == nil {
		t.Fatal("Init with a wrong password succeeded")
	}
	// Before a backup (InitOpensNext) the existing repository is not
	// opened: no key derivation; the backup that follows reports the
	// wrong password in the same words.
	if created, err := wrong.Init(sdk.WithInitOpensNext(context.Background())); err != nil || created {
		t.Fatalf("Init before a backup: created=%v err=%v; want false, nil (no open check)", created, err)
	}
	_, err = wrong.Write(context.Background(), sdk.Header{Component: "db", FileName: "x", Tags: []string{"db"}, Host: "h"}, strings.NewReader("x"))
	if !errors.Is(err, sdk.ErrUnauthenticated) {
		t.Fatalf("backup with a wrong password: err = %v, want ErrUnauthenticated", err)
	}
	// A missing repository is still created.
	fresh, _ := configure(t, "local", map[string]string{"BACKUP_RESTIC_BIN": bin, "RESTIC_PASSWORD": "pw1", "RESTIC_REPOSITORY": repo + "-2"})
	if created, err := fresh.Init(sdk.WithInitOpensNext(context.Background())); err != nil || !created {
		t.Fatalf("Init before a backup of a missing repository: created=%v err=%v", created, err)
	}
}
