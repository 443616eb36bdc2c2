// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

// fanOutRig is a source pipe and n sink pipes, each drained by a reader.
type fanOutRig struct {
	in    *os.File
	sinks []*sink
	got   []*bytes.Buffer
	wg    sync.WaitGroup
}

func newFanOutRig(t *testing.T, n int, src []byte) *fanOutRig {
	t.Helper()
	r, w, err := newPipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = w.Write(src)
		w.Close()
	}()
	rig := &fanOutRig{in: r}
	t.Cleanup(func() { r.Close() })
	for i := 0; i < n; i++ {
		sr, sw, err := newPipe()
		if err != nil {
			t.Fatal(err)
		}
		s := newSink(Sink{Name: "sink" + string(rune('a'+i))})
		s.pipe = sw
		buf := &bytes.Buffer{}
		rig.sinks, rig.got = append(rig.sinks, s), append(rig.got, buf)
		rig.wg.Add(1)
		go func() {
			defer rig.wg.Done()
			defer sr.Close()
			_, _ = io.Copy(buf, sr)
		}()
	}
	return rig
}

// run fans the source out and closes the sinks' pipes, as Backup does.
func (r *fanOutRig) run() (uint64, uint64, error) {
	total, viaHost, err := fanOut(r.in, r.sinks)
	for _, s := range r.sinks {
		s.closePipe()
	}
	r.wg.Wait()
	return total, viaHost, err
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/4096)
	}
	return b
}

// Two sinks (local and offsite): every byte reaches both, none passes
// through the host (tee + splice); three sinks take the copy.
func TestFanOutDeliversEveryByteToEverySink(t *testing.T) {
	src := pattern(5<<20 + 4321)
	for _, n := range []int{2, 3} {
		rig := newFanOutRig(t, n, src)
		total, viaHost, err := rig.run()
		if err != nil || total != uint64(len(src)) {
			t.Fatalf("%d sinks: moved %d, %v; want %d", n, total, err, len(src))
		}
		if n == 2 && viaHost != 0 {
			t.Fatalf("2 sinks: %d bytes passed through the host, want 0 (tee/splice)", viaHost)
		}
		if n == 3 && viaHost != total {
			t.Fatalf("3 sinks: %d of %d bytes copied by the host, want all", viaHost, total)
		}
		for i, g := range rig.got {
			if !bytes.Equal(g.Bytes(), src) {
				t.Fatalf("%d sinks: sink %d got %d bytes that differ from the source's %d", n, i, g.Len(), len(src))
			}
		}
	}
}

// A sink that stops reading (its target failed) is dropped; the other
// still gets every byte.
func TestFanOutGoesOnWithoutAFailedSink(t *testing.T) {
	src := pattern(8 << 20)
	rig := newFanOutRig(t, 2, nil)
	rig.in.Close()
	r, w, err := newPipe()
	if err != nil {
		t.Fatal(err)
	}
	rig.in = r
	go func() {
		_, _ = w.Write(src)
		w.Close()
	}()
	// Sink b's target gives up at once: its reader closes the pipe.
	br, bw, err := newPipe()
	if err != nil {
		t.Fatal(err)
	}
	br.Close()
	rig.sinks[1].pipe.Close()
	rig.sinks[1].pipe = bw
	total, _, err := rig.run()
	if err != nil || total != uint64(len(src)) {
		t.Fatalf("moved %d, %v; want %d", total, err, len(src))
	}
	if !bytes.Equal(rig.got[0].Bytes(), src) {
		t.Fatalf("the live sink got %d bytes that differ from the source's", rig.got[0].Len())
	}
	if err := rig.sinks[1].failed(); err == nil || !errors.Is(err, sdk.ErrAborted) || !rig.sinks[1].stopped {
		t.Fatalf("the failed sink: err %v, stopped %v; want it stopped", err, rig.sinks[1].stopped)
	}
}

// A sink that accepts nothing for its stall timeout is aborted; the other
// goes on.
func TestFanOutAbortsAStalledSink(t *testing.T) {
	src := pattern(8 << 20)
	rig := newFanOutRig(t, 2, src)
	// Sink b's reader never reads.
	br, bw, err := newPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	rig.sinks[1].pipe.Close()
	rig.sinks[1].pipe = bw
	rig.sinks[1].StallTimeout = 200 * time.Millisecond
	total, _, err := rig.run()
	if err != nil || total != uint64(len(src)) {
		t.Fatalf("moved %d, %v; want %d", total, err, len(src))
	}
	if !bytes.Equal(rig.got[0].Bytes(), src) {
		t.Fatal("the live sink did not get every byte")
	}
	if err := rig.sinks[1].failed(); err == nil || !strings.Contains(err.Error(), "accepted no data") {
		t.Fatalf("the stalled sink: %v, want a stall", err)
	}
}
