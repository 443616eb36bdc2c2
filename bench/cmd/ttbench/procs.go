package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/timetiles/timetiles-backup/internal/pipes"
	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// S3 root credentials of the throwaway versitygw.
const (
	s3Key    = "ttbenchroot"
	s3Secret = "ttbenchsecret123"
)

func freePort(tb *runTB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("%v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startVersityGW serves an S3 API on loopback from dir (versitygw's posix
// backend) until exit, and returns the restic repository URL of a bucket on
// it.
func startVersityGW(tb *runTB, dir string, port int) string {
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatalf("%v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(testenv.Tool(tb, "versitygw"), "--port", addr, "posix", dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s3Key, "ROOT_SECRET_KEY="+s3Secret)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log, _ := os.Create(dir + ".log")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("versitygw: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
		os.RemoveAll(dir)
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("versitygw did not listen on %s (log %s.log)", addr, dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Sprintf("s3:http://%s/ttbench/offsite", addr)
}

// The raw pipe floor of P3: two processes (this program re-executed), one
// writing size bytes in 1 MiB writes into a 1 MiB pipe, one reading them in
// 1 MiB reads — what any source and target pair costs at the least.
const (
	pipeRoleEnv = "TTBENCH_PIPE_ROLE"
	pipeSizeEnv = "TTBENCH_PIPE_BYTES"
)

func pipeFloor(size int64) (wall, cpu time.Duration, err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	pipes.GrowFile(w)
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	mk := func(role string, f *os.File) *exec.Cmd {
		c := exec.Command(exe)
		c.Env = append(os.Environ(), pipeRoleEnv+"="+role, pipeSizeEnv+"="+strconv.FormatInt(size, 10), "GOMAXPROCS=2")
		c.ExtraFiles = []*os.File{f}
		c.Stderr = os.Stderr
		return c
	}
	cw, cr := mk("write", w), mk("read", r)
	start := time.Now()
	if err := cw.Start(); err != nil {
		return 0, 0, err
	}
	if err := cr.Start(); err != nil {
		return 0, 0, err
	}
	r.Close()
	w.Close()
	werr, rerr := cw.Wait(), cr.Wait()
	wall = time.Since(start)
	if werr != nil || rerr != nil {
		return 0, 0, fmt.Errorf("pipe floor: writer %v, reader %v", werr, rerr)
	}
	for _, c := range []*exec.Cmd{cw, cr} {
		cpu += c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	}
	return wall, cpu, nil
}

func pipeChild(role string) {
	f := os.NewFile(3, "pipe")
	size, _ := strconv.ParseInt(os.Getenv(pipeSizeEnv), 10, 64)
	buf := make([]byte, 1<<20)
	switch role {
	case "write":
		_, _ = io.ReadFull(rand.NewChaCha8([32]byte{1, 2, 3}), buf)
		for size > 0 {
			n, err := f.Write(buf[:min(int64(len(buf)), size)])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			size -= int64(n)
		}
	default:
		var got int64
		for {
			n, err := f.Read(buf)
			got += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		if got != size {
			fmt.Fprintf(os.Stderr, "read %d bytes, want %d\n", got, size)
			os.Exit(1)
		}
	}
}
