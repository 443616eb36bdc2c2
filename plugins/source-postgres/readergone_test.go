// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"testing"
)

// TestReaderGone: the one-transaction restore tells "psql stopped reading
// (it failed: wait for its message)" from "psql still reads (kill it)" by
// whether the pipe into psql still has a reader.
func TestReaderGone(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if readerGone(w) {
		t.Fatal("readerGone with the read end open")
	}
	r.Close()
	if !readerGone(w) {
		t.Fatal("not readerGone after the read end was closed")
	}
}
