// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"os"
	"testing"
)

type fdStub struct{}

func (fdStub) Send(string, ...*os.File) error { return nil }

// The transport follows from what every party declares, decided in one
// place.
func TestChooseTransport(t *testing.T) {
	fd := &Endpoint{FD: fdStub{}}
	both := &Endpoint{FD: fdStub{}, Path: true}
	plain := &Endpoint{}
	for _, tc := range []struct {
		name    string
		writer  *Endpoint
		readers []*Endpoint
		dir     bool
		want    string
	}{
		{"every party takes a directory", both, []*Endpoint{both, both}, true, TransportPath},
		{"a directory is not an option (restore)", both, []*Endpoint{both}, false, TransportPipe},
		{"one reader lacks the path capability", both, []*Endpoint{both, fd}, true, TransportFanOut},
		{"one reader, fd channels", fd, []*Endpoint{fd}, true, TransportPipe},
		{"the host reads", fd, nil, false, TransportPipe},
		{"two readers, fd channels", fd, []*Endpoint{fd, fd}, true, TransportFanOut},
		{"a reader without an fd channel", fd, []*Endpoint{fd, plain}, true, TransportChunks},
		{"a writer without an fd channel", plain, []*Endpoint{fd}, true, TransportChunks},
	} {
		if got := choose(tc.writer, tc.readers, tc.dir).Name(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
