// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/timetiles/timetiles-backup/host/plugin"

	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/lipgloss"
	"github.com/dustin/go-humanize"
	"github.com/muesli/termenv"
	"golang.org/x/term"

	"github.com/timetiles/timetiles-backup/host"
	"github.com/timetiles/timetiles-backup/host/runs"
)

// The interactive prompts use charmbracelet/huh: a maintained terminal
// form library (arrow keys, filtering, an accessible plain-text mode for
// screen readers and dumb terminals) built on bubbletea, instead of
// hand-written raw-mode terminal handling.

// pickerLimit is how many restore points the picker offers (newest first).
const pickerLimit = 30

// runSizes returns each run's component sizes: from the snapshot list when
// the target recorded them (restic ≥ 0.17), else from the run manifest.
func runSizes(ctx context.Context, t *plugin.Plugin, all []*runs.Run) []map[string]uint64 {
	out := make([]map[string]uint64, len(all))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, run := range all {
		sizes := map[string]uint64{}
		missing := false
		for name, s := range run.Components {
			sizes[name] = s.Size
			missing = missing || s.Size == 0
		}
		out[i] = sizes
		if !missing || run.Manifest == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			m, err := host.ReadManifest(ctx, t, run)
			if err != nil || m == nil {
				return
			}
			for name, mc := range m.Components {
				if _, ok := out[i][name]; ok {
					out[i][name] = mc.Size
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// runLabel is one line of the picker: time, run, components with sizes,
// state, repository.
func runLabel(run *runs.Run, sizes map[string]uint64, repo string) string {
	var comps []string
	var total uint64
	for _, n := range run.ComponentNames() {
		s := sizes[n]
		total += s
		if s > 0 {
			comps = append(comps, n+" "+humanize.IBytes(s))
		} else {
			comps = append(comps, n)
		}
	}
	state := ""
	switch {
	case run.Legacy:
		state = "  (shell tool)"
	case !run.Complete:
		state = "  INCOMPLETE"
	case run.Purpose() != "":
		state = "  (" + run.Purpose() + " run)"
	}
	return fmt.Sprintf("%s  %-24s %s%s  [%s]", listTime(run.Time), displayID(run), strings.Join(comps, ", "), state, repo)
}

// accessible selects huh's plain line-by-line prompts for terminals that
// cannot draw (TERM=dumb) or when the operator asks for them.
func accessible() bool {
	return os.Getenv("TERM") == "dumb" || os.Getenv("ACCESSIBLE") != ""
}

var askTerminalOnce sync.Once

// askTerminal lets the prompts' styles follow the terminal they are drawn
// on (stderr): its colour profile and whether its background is dark. The
// prompts are the one place that asks the terminal, once per process (the
// picker and the confirmation share the answer), and only a terminal that
// answers a cheap probe within termProbeTimeout (terminalAnswers); one that
// does not gets the colour profile its environment names and the default
// (dark background) styles. Nothing else asks, not even at start-up
// (internal/quietterm). TestPickerOnSilentTerminal holds this to account.
func askTerminal() {
	if accessible() {
		return
	}
	askTerminalOnce.Do(func() {
		out := termenv.NewOutput(os.Stderr)
		lipgloss.SetColorProfile(out.EnvColorProfile())
		if terminalAnswers(os.Stderr, termProbeTimeout) {
			lipgloss.SetHasDarkBackground(out.HasDarkBackground())
		}
	})
}

// pickRun asks the operator to choose a restore point.
func (c *RestoreCommand) pickRun(all []*runs.Run, t *plugin.Plugin, repo string) (*runs.Run, error) {
	if len(all) > pickerLimit {
		all = all[:pickerLimit]
	}
	all = backupsFirst(all)
	sizes := runSizes(c.Ctx, t, all)
	opts := make([]huh.Option[int], len(all))
	for i, run := range all {
		opts[i] = huh.NewOption(runLabel(run, sizes[i], repo), i)
	}
	// The default (the first line) is the newest real backup, as for
	// `restore latest`: a safety or drill run is chosen only by moving to it.
	choice := 0
	askTerminal()
	form := huh.NewForm(huh.NewGroup(
		huh.NewSelect[int]().
			Title("Choose a restore point (" + repo + " repository, newest first; safety and drill runs last)").
			Description("↑/↓ to move, / to filter, enter to choose, ctrl+c to cancel").
			Options(opts...).
			Height(min(len(opts)+2, 14)).
			Value(&choice),
	)).WithInput(c.Stdin).WithOutput(c.promptOutput()).WithAccessible(accessible()).WithWidth(termWidth())
	if err := form.RunWithContext(c.Ctx); err != nil {
		return nil, err
	}
	return all[choice], nil
}

// confirm asks for a yes before overwriting; default no.
func (c *RestoreCommand) confirm(title, description string) (bool, error) {
	ok := false
	askTerminal()
	form := huh.NewForm(huh.NewGroup(
		huh.NewConfirm().Title(title).Description(description).
			Affirmative("Restore").Negative("Cancel").Value(&ok),
	)).WithInput(c.Stdin).WithOutput(c.promptOutput()).WithAccessible(accessible()).WithWidth(termWidth())
	if err := form.RunWithContext(c.Ctx); err != nil {
		return false, err
	}
	return ok, nil
}

// promptOutput is the terminal the prompts are drawn on: stderr itself, so
// that the form library sees a terminal (size, colours).
func (c *RestoreCommand) promptOutput() io.Writer {
	if sw, ok := c.Stderr.(*switchWriter); ok {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		return sw.w
	}
	return c.Stderr
}

// termWidth is the terminal's width (the prompts are drawn on stderr), so
// that a restore point's line is not cut before the first resize event.
func termWidth() int {
	if w, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil && w >= 40 {
		return w
	}
	return 100
}

// cancelled reports whether a prompt ended because the operator left it.
func cancelled(err error) bool {
	return errors.Is(err, huh.ErrUserAborted) || errors.Is(err, context.Canceled)
}

// backupsFirst orders the picker's runs: the backups (newest first), then
// safety and drill runs (newest first), so that the preselected first line
// is the newest real backup. (Preselecting a later line would scroll the
// lines above it out of huh's view.)
func backupsFirst(all []*runs.Run) []*runs.Run {
	out := make([]*runs.Run, 0, len(all))
	for _, r := range all {
		if r.Purpose() == "" {
			out = append(out, r)
		}
	}
	for _, r := range all {
		if r.Purpose() != "" {
			out = append(out, r)
		}
	}
	return out
}
