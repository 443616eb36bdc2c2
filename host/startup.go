// SPDX-License-Identifier: Apache-2.0

package host

import (
	"context"
	"sync"

	"github.com/timetiles/timetiles-backup/host/plugin"
)

// sourceStarts are a run's source plugins, launched and configured
// concurrently with each other and with the targets' start and repository
// check: a plugin start costs 40–100 ms (exec, go-plugin's handshake with
// AutoMTLS), a repository check a restic start-up, and a run should wait
// for the slowest of them, not for their sum (docs/performance.md, P8).
type sourceStarts struct {
	done chan struct{}
	srcs map[string]*plugin.Plugin
	err  error
}

func (r *Runner) startSources(ctx context.Context, comps []string, sources map[string]string) *sourceStarts {
	r.Candidates() // discovery runs once, before the goroutines read its result
	s := &sourceStarts{done: make(chan struct{}), srcs: map[string]*plugin.Plugin{}}
	plugins := make([]*plugin.Plugin, len(comps))
	errs := make([]error, len(comps))
	var wg sync.WaitGroup
	for i, c := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			plugins[i], errs[i] = r.Start(ctx, sources[c], c)
		}()
	}
	go func() {
		defer close(s.done)
		wg.Wait()
		for i, c := range comps {
			if errs[i] != nil && s.err == nil {
				s.err = errs[i] // the first component's error, as a sequential start would report
			}
			s.srcs[c] = plugins[i]
		}
	}()
	return s
}

// wait returns the started sources by component, or the first error.
func (s *sourceStarts) wait() (map[string]*plugin.Plugin, error) {
	<-s.done
	return s.srcs, s.err
}
