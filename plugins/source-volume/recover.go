// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// recoverLeftovers puts right what an interrupted restore into dest left
// behind, so that dest holds exactly its old contents or exactly the
// restored ones and no staging directory is left:
//   - beside dest: a stage (".<name>.restore-*") is removed; the old
//     contents moved aside (".<name>.before-restore-*") are moved back
//     when dest is missing (interrupted between the two renames), else
//     removed (the restore had succeeded);
//   - inside dest: a stage not yet committed (".timetiles-restore-*") is
//     removed and the old entries moved aside with it are moved back; a
//     committed one (".timetiles-restored-*") is completed.
func recoverLeftovers(dest string, log logger) error {
	parent, base := filepath.Dir(dest), filepath.Base(dest)
	beside, err := sortedNames(parent)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("looking for leftovers of an interrupted restore beside %s: %w", dest, err)
	}
	for _, n := range beside {
		p := filepath.Join(parent, n)
		switch {
		case strings.HasPrefix(n, "."+base+siblingAside):
			if _, err := os.Lstat(dest); errors.Is(err, os.ErrNotExist) {
				if err := os.Rename(p, dest); err != nil {
					return fmt.Errorf("moving the uploads back from %s, where an interrupted restore left them: %w", p, err)
				}
				log.Warn("an interrupted restore had moved the uploads aside: moved them back", "path", dest, "from", p)
				continue
			}
			fallthrough
		case strings.HasPrefix(n, "."+base+siblingStaging):
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("removing %s, left by an interrupted restore: %w", p, err)
			}
			log.Warn("removed what an interrupted restore left beside the uploads", "path", p)
		}
	}
	inside, err := sortedNames(dest)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("looking for leftovers of an interrupted restore in %s: %w", dest, err)
	}
	for _, n := range inside {
		var suffix string
		var committed bool
		switch {
		case strings.HasPrefix(n, stagingPrefix):
			suffix = strings.TrimPrefix(n, stagingPrefix)
		case strings.HasPrefix(n, committedPrefix):
			suffix, committed = strings.TrimPrefix(n, committedPrefix), true
		default:
			continue
		}
		p, aside := filepath.Join(dest, n), filepath.Join(dest, asidePrefix+suffix)
		if committed {
			if err := finishInPlace(dest, p, aside, log); err != nil {
				return fmt.Errorf("completing a committed restore interrupted in %s: %w", dest, err)
			}
			log.Warn("completed a restore that was interrupted after its commit point", "path", dest)
			continue
		}
		old, err := sortedNames(aside)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		for _, o := range old {
			if err := os.Rename(filepath.Join(aside, o), filepath.Join(dest, o)); err != nil {
				return fmt.Errorf("moving %s back from %s, where an interrupted restore left it: %w", o, aside, err)
			}
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing %s, left by an interrupted restore: %w", p, err)
		}
		os.Remove(aside)
		log.Warn("rolled back a restore that was interrupted before its commit point", "path", dest, "entries_moved_back", len(old))
	}
	// An aside directory whose stage is gone: the restore had succeeded
	// and was removing the old entries.
	for _, n := range inside {
		if strings.HasPrefix(n, asidePrefix) {
			suffix := strings.TrimPrefix(n, asidePrefix)
			if _, err := os.Lstat(filepath.Join(dest, stagingPrefix+suffix)); err == nil {
				continue
			}
			if _, err := os.Lstat(filepath.Join(dest, committedPrefix+suffix)); err == nil {
				continue
			}
			if err := os.RemoveAll(filepath.Join(dest, n)); err == nil {
				log.Warn("removed the old entries an interrupted restore left", "path", filepath.Join(dest, n))
			}
		}
	}
	return nil
}
