// Command timetiles-backup-source-synthetic produces deterministic
// pseudo-random bytes, and can fail, exit or hang at a chosen byte: the
// fault injector and benchmark source of the host's tests.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/timetiles/timetiles-backup/sdk"
)

type synth struct {
	size, failAfter int64
	mode            string
	component       string
	restoreTo       string
}

func (s *synth) Info() sdk.Info {
	return sdk.Info{Name: "source-synthetic", Version: "0.0.1", Components: []string{"synthetic"},
		ConfigKeys: []sdk.ConfigKey{
			{Name: "SYNTH_SIZE", Description: "bytes to produce"},
			{Name: "SYNTH_FAIL_AFTER", Description: "fail after this many bytes (-1: never)"},
			{Name: "SYNTH_MODE", Description: "error (report failure), exit (process dies), hang"},
			{Name: "SYNTH_RESTORE_TO", Description: "file restores are written to"},
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
	s.component = c.Instance
	return nil
}

// Data returns the deterministic stream for a size (also used by tests).
func Data(size int64) io.Reader {
	return io.LimitReader(&prng{r: rand.NewChaCha8([32]byte{1, 2, 3})}, size)
}

type prng struct{ r *rand.ChaCha8 }

func (p *prng) Read(b []byte) (int, error) { return p.r.Read(b) }

func (s *synth) Backup(ctx context.Context, req sdk.BackupRequest, out sdk.BackupStream) error {
	w, err := out.Start(sdk.Header{Component: req.Component, FileName: "synthetic.bin", MediaType: "application/octet-stream"})
	if err != nil {
		return err
	}
	src := Data(s.size)
	if s.failAfter >= 0 {
		if _, err := io.CopyN(w, src, s.failAfter); err != nil {
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
	_, err = io.Copy(w, src)
	return err
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

var _ = time.Second

func main() { sdk.ServeSource(&synth{}) }
