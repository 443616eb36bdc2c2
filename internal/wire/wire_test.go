// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestFDChannelPassesPipes(t *testing.T) {
	host, child, err := NewFDChannelPair()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	// The plugin side, as OpenInbox would build it from the inherited fd.
	t.Setenv(EnvFDChannel, strconv.Itoa(int(child.Fd())))
	in := OpenInbox()
	if in == nil {
		t.Fatal("no inbox")
	}
	r, w, _ := os.Pipe()
	if err := host.Send("tok1", r, w); err != nil {
		t.Fatal(err)
	}
	r.Close()
	files, err := in.Take(context.Background(), "tok1", 2)
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.Write([]byte("through the pipe")); w.Close() }()
	files[1].Close() // the guard
	b, _ := io.ReadAll(files[0])
	if string(b) != "through the pipe" {
		t.Fatalf("read %q", b)
	}
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := in.Take(short, "tok1", 2); err == nil {
		t.Fatal("token taken twice")
	}
}

func TestErrorKindsCrossTheWire(t *testing.T) {
	for _, sentinel := range []error{ErrPermissionDenied, ErrNotFound, ErrAborted, ErrInvalidConfig, ErrLocked, ErrUnauthenticated} {
		err := FromStatus(ToStatus(errors.Join(errors.New("restic: Access Denied"), sentinel)))
		if !errors.Is(err, sentinel) {
			t.Errorf("%v did not survive the wire: %v", sentinel, err)
		}
	}
}
