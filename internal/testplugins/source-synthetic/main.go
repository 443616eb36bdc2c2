// SPDX-License-Identifier: Apache-2.0

// Command timetiles-backup-source-synthetic produces deterministic
// pseudo-random bytes, and can fail, exit or hang at a chosen byte, or hold
// at a chosen byte until the test lets it go on (SYNTH_HOLD): the fault
// injector and benchmark source of the host's tests.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

type synth struct {
	size, failAfter int64
	holds           []hold
	mode            string
	component       string
	restoreTo       string
	repeat          bool
	before          string
}

func (s *synth) Info() sdk.Info {
	return sdk.Info{Name: "source-synthetic", Version: "0.0.1", Components: []string{"synthetic"},
		ConfigKeys: []sdk.ConfigKey{
			{Name: "SYNTH_SIZE", Description: "bytes to produce"},
			{Name: "SYNTH_FAIL_AFTER", Description: "fail after this many bytes (-1: never)"},
			{Name: "SYNTH_MODE", Description: "error (report failure), exit (process dies), hang"},
			{Name: "SYNTH_RESTORE_TO", WrittenPath: true, Description: "file restores are written to: a third-party key declared WrittenPath"},
			{Name: "SYNTH_HOLD", Description: "BYTES:FILE[,BYTES:FILE…]: after BYTES bytes, produce nothing more until FILE exists (a test creates it once it has seen what it waits for)"},
			{Name: "SYNTH_BEFORE", Executable: true, Description: "program run (no arguments) before the stream starts: a third-party key declared Executable"},
			{Name: "SYNTH_PATTERN", Description: "random (default: ChaCha8, ~0.9 GB/s a core) or repeat (the first MiB of the random stream over and over: costs no CPU, for transport benchmarks)"},
		}}
}

func (s *synth) Configure(_ context.Context, c sdk.Config) error {
	var err error
	if s.size, err = strconv.ParseInt(c.GetDefault("SYNTH_SIZE", "1048576"), 10, 64); err != nil {
		return fmt.Errorf("SYNTH_SIZE: %w", sdk.ErrInvalidConfig)
	}
	if s.failAfter, err = strconv.ParseInt(c.GetDefault("SYNTH_FAIL_AFTER", "-1"), 10, 64); err != nil {
		return fmt.Errorf("SYNTH_FAIL_AFTER: %w", sdk.ErrInvalidConfig)
	}
	s.mode = c.GetDefault("SYNTH_MODE", "error")
	s.restoreTo = c.Get("SYNTH_RESTORE_TO")
	s.before = c.Get("SYNTH_BEFORE")
	switch c.GetDefault("SYNTH_PATTERN", "random") {
	case "random":
	case "repeat":
		s.repeat = true
	default:
		return fmt.Errorf("SYNTH_PATTERN=%q: use random or repeat: %w", c.Get("SYNTH_PATTERN"), sdk.ErrInvalidConfig)
	}
	if s.holds, err = parseHolds(c.Get("SYNTH_HOLD")); err != nil {
		return fmt.Errorf("SYNTH_HOLD: %v: %w", err, sdk.ErrInvalidConfig)
	}
	s.component = c.Instance
	return nil
}

// hold is a point of the stream where the source waits for a file.
type hold struct {
	at   int64
	file string
}

func parseHolds(v string) ([]hold, error) {
	var hs []hold
	for _, part := range strings.Split(v, ",") {
		if part == "" {
			continue
		}
		n, file, ok := strings.Cut(part, ":")
		at, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil || at < 0 || file == "" {
			return nil, fmt.Errorf("%q: want BYTES:FILE", part)
		}
		if len(hs) > 0 && at < hs[len(hs)-1].at {
			return nil, fmt.Errorf("%q: holds must be in stream order", part)
		}
		hs = append(hs, hold{at, file})
	}
	return hs, nil
}

// copyHolding copies n bytes of src to w (all of it if n < 0), waiting at
// each hold until its file exists.
func (s *synth) copyHolding(ctx context.Context, w io.Writer, src io.Reader, n int64) error {
	var done int64
	for _, h := range s.holds {
		if n >= 0 && h.at > n {
			break
		}
		if h.at > done {
			m, err := io.CopyN(w, src, h.at-done)
			done += m
			if err == io.EOF {
				return nil // the stream is shorter than the hold
			}
			if err != nil {
				return err
			}
		}
		for {
			if _, err := os.Stat(h.file); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	var err error
	if n < 0 {
		_, err = io.Copy(w, src)
	} else {
		_, err = io.CopyN(w, src, n-done)
	}
	return err
}

// Data returns the deterministic stream for a size (also used by tests).
func Data(size int64) io.Reader {
	return io.LimitReader(&prng{r: rand.NewChaCha8([32]byte{1, 2, 3})}, size)
}

type prng struct{ r *rand.ChaCha8 }

// Repeat returns size bytes of the first MiB of Data repeated. Its WriteTo
// hands that block to the writer as it is, so the source spends no CPU on
// making bytes and a transport benchmark measures the transport alone.
func Repeat(size int64) io.Reader {
	block := make([]byte, 1<<20)
	_, _ = io.ReadFull(Data(int64(len(block))), block)
	return &repeat{block: block, left: size}
}

type repeat struct {
	block []byte
	off   int
	left  int64
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.block[r.off:min(len(r.block), r.off+int(min(int64(len(p)), r.left)))])
	r.off = (r.off + n) % len(r.block)
	r.left -= int64(n)
	return n, nil
}

func (r *repeat) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.left > 0 {
		b := r.block[r.off:min(len(r.block), r.off+int(min(int64(len(r.block)), r.left)))]
		n, err := w.Write(b)
		total += int64(n)
		r.left -= int64(n)
		r.off = (r.off + n) % len(r.block)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (p *prng) Read(b []byte) (int, error) { return p.r.Read(b) }

func (s *synth) Backup(ctx context.Context, req sdk.BackupRequest, out sdk.BackupStream) error {
	if s.before != "" {
		if b, err := exec.CommandContext(ctx, s.before).CombinedOutput(); err != nil {
			return fmt.Errorf("SYNTH_BEFORE: %v: %s", err, b)
		}
	}
	w, err := out.Start(sdk.Header{Component: req.Component, FileName: "synthetic.bin", MediaType: "application/octet-stream"})
	if err != nil {
		return err
	}
	src := Data(s.size)
	if s.repeat {
		src = Repeat(s.size)
	}
	if s.failAfter >= 0 {
		if err := s.copyHolding(ctx, w, src, s.failAfter); err != nil {
			return err
		}
		switch s.mode {
		case "exit":
			os.Exit(3)
		case "hang":
			<-ctx.Done()
			return ctx.Err()
		}
		return errors.New("synthetic failure after " + strconv.FormatInt(s.failAfter, 10) + " bytes")
	}
	return s.copyHolding(ctx, w, src, -1)
}

func (s *synth) Restore(ctx context.Context, req sdk.RestoreRequest, r io.Reader) error {
	f, err := os.Create(s.restoreTo + ".part")
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), s.restoreTo)
}

func main() { sdk.ServeSource(&synth{}) }
