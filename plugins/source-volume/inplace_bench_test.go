// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/timetiles/timetiles-backup/internal/restic"
	"github.com/timetiles/timetiles-backup/internal/testenv"
	"github.com/timetiles/timetiles-backup/sdk"
)

var (
	benchFiles  = flag.Int("uploads-files", 2000, "files in BenchmarkInPlaceUploadsRestore's tree")
	benchFileKB = flag.Int("uploads-file-kib", 128, "size of each file, KiB")
)

// BenchmarkInPlaceUploadsRestore measures, side by side in one run on the
// same snapshot, an in-place uploads restore the way it was done before
// (`restic restore --delete` straight into the live directory) and the way
// it is done now (restic restores into a staging directory beside it, which
// is swapped in with renameat2(RENAME_EXCHANGE); the old tree is removed
// after the swap), alternating the order, after the same change to the live
// tree each time (1 % of the files rewritten, 1 % removed, 20 added). It
// reports the medians, their ratio and the extra disk the new way needs at
// its peak (the staging directory, measured before the swap):
//
//	go test -run '^$' -bench InPlaceUploadsRestore -benchtime 1x ./plugins/source-volume/ [-args -uploads-files 2000 -uploads-file-kib 128]
func BenchmarkInPlaceUploadsRestore(b *testing.B) {
	tmp := b.TempDir()
	live := filepath.Join(tmp, "uploads")
	buf := make([]byte, *benchFileKB<<10)
	for i := 0; i < *benchFiles; i++ {
		p := filepath.Join(live, fmt.Sprintf("%03d", i/100), fmt.Sprintf("file-%05d.bin", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		rand.Read(buf)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	repo := &restic.Repo{Binary: testenv.Tool(b, "restic"), Repository: filepath.Join(tmp, "repo"), Password: "bench"}
	ctx := context.Background()
	if _, err := repo.Init(ctx); err != nil {
		b.Fatal(err)
	}
	sum, err := repo.BackupPaths(ctx, restic.BackupOptions{}, live)
	if err != nil {
		b.Fatal(err)
	}
	snap := sum.SnapshotID
	want := filepath.Join(tmp, "want")
	os.Mkdir(want, 0o755)
	copyTree(b, live, want)

	s, _ := hostSourceB(b, live)
	damage := func(rep int) {
		for i := 0; i < *benchFiles; i += 100 {
			p := filepath.Join(live, fmt.Sprintf("%03d", i/100), fmt.Sprintf("file-%05d.bin", i))
			os.WriteFile(p, []byte("changed"), 0o644)
			os.Remove(filepath.Join(live, fmt.Sprintf("%03d", (i+1)/100), fmt.Sprintf("file-%05d.bin", i+1)))
		}
		for i := 0; i < 20; i++ {
			os.WriteFile(filepath.Join(live, fmt.Sprintf("new-%d-%d.bin", rep, i)), buf[:4096], 0o644)
		}
	}
	var stagePeak int64
	old := func() error { return repo.Restore(ctx, snap, "", live, restic.RestoreOptions{Delete: true}) }
	now := func() error {
		req := sdk.RestoreRequest{Component: "uploads"}
		stage, err := s.StageRestorePath(ctx, req)
		if err != nil {
			return err
		}
		rerr := repo.Restore(ctx, snap, "", stage, restic.RestoreOptions{Delete: true})
		if rerr == nil {
			stagePeak = duBytes(b, stage)
		}
		if err := s.FinishRestorePath(ctx, req, stage, rerr == nil); err != nil {
			return err
		}
		return rerr
	}
	// The alternative considered: the stage seeded with hard links of the
	// live files, so that restic only replaces what changed (it never
	// writes into a file with more than one link) — measured, not used.
	linked := func() error {
		req := sdk.RestoreRequest{Component: "uploads"}
		stage, err := s.StageRestorePath(ctx, req)
		if err != nil {
			return err
		}
		if out, err := exec.Command("cp", "-al", live+"/.", stage).CombinedOutput(); err != nil {
			return fmt.Errorf("cp -al: %v %s", err, out)
		}
		rerr := repo.Restore(ctx, snap, "", stage, restic.RestoreOptions{Delete: true})
		if err := s.FinishRestorePath(ctx, req, stage, rerr == nil); err != nil {
			return err
		}
		return rerr
	}
	var olds, news, links []time.Duration
	for i := 0; i < max(b.N, 3); i++ {
		sides := []struct {
			name string
			f    func() error
			out  *[]time.Duration
		}{{"before", old, &olds}, {"now", now, &news}, {"linked", linked, &links}}
		if i%2 == 1 {
			slices.Reverse(sides)
		}
		for _, side := range sides {
			damage(i)
			start := time.Now()
			if err := side.f(); err != nil {
				b.Fatalf("%s: %v", side.name, err)
			}
			*side.out = append(*side.out, time.Since(start))
			testenv.CompareTrees(b, want, live)
		}
	}
	mo, mn, ml := median(olds), median(news), median(links)
	b.ReportMetric(ml.Seconds(), "linked-s")
	total := duBytes(b, want)
	b.ReportMetric(mo.Seconds(), "before-s")
	b.ReportMetric(mn.Seconds(), "now-s")
	b.ReportMetric(mn.Seconds()/mo.Seconds(), "now/before")
	b.ReportMetric(float64(stagePeak)/(1<<20), "extra-MiB")
	b.Logf("in-place restore of %d files, %d MiB, medians of %d: before %.2f s, now %.2f s, ratio %.3f; extra disk at the peak (staging directory): %d MiB (before: none); stage seeded with hard links (not used): %.2f s, ratio %.3f",
		*benchFiles, total>>20, len(olds), mo.Seconds(), mn.Seconds(), mn.Seconds()/mo.Seconds(), stagePeak>>20, ml.Seconds(), ml.Seconds()/mo.Seconds())
}

func hostSourceB(b *testing.B, dir string) (*volumeSource, *recLog) {
	l := &recLog{}
	s := &volumeSource{log: l}
	if err := s.Configure(context.Background(), sdk.Config{Values: map[string]string{"UPLOAD_HOST_DIR": dir}, APIVersion: sdk.APIVersion}); err != nil {
		b.Fatal(err)
	}
	return s, l
}

// duBytes is the disk used by the files below dir (allocated blocks).
func duBytes(b *testing.B, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
