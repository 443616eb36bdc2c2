// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"context"
	"sync"
)

// RestoreNote tells the operator something they must know or do after the
// restore that ctx belongs to — for instance that the previous database is
// kept under another name, and how to drop it. Call it from Source.Restore;
// the host prints every note of a restore that succeeded in its summary
// (RestoreResponse.notes). Outside a restore it does nothing.
func RestoreNote(ctx context.Context, note string) {
	if n, ok := ctx.Value(notesKey{}).(*notes); ok {
		n.mu.Lock()
		n.list = append(n.list, note)
		n.mu.Unlock()
	}
}

type notesKey struct{}

type notes struct {
	mu   sync.Mutex
	list []string
}

// withNotes gives a restore's context a place for its notes.
func withNotes(ctx context.Context) (context.Context, func() []string) {
	n := &notes{}
	return context.WithValue(ctx, notesKey{}, n), func() []string {
		n.mu.Lock()
		defer n.mu.Unlock()
		return append([]string(nil), n.list...)
	}
}
