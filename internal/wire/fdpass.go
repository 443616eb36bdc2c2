// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The fd channel: the host starts every plugin with one end of a unix
// SOCK_SEQPACKET socket pair as an extra file and names its descriptor in
// EnvFDChannel. Before a streaming call the host sends, over that socket, a
// token and the OS pipe ends (SCM_RIGHTS) the call uses; the call carries
// the token. Bytes then move through the pipe with no copy through the host
// or gRPC (see docs/architecture.md for the measured costs).

// EnvFDChannel names the descriptor of the fd channel in a plugin's
// environment. Unset means the plugin streams bytes over gRPC.
const EnvFDChannel = "TIMETILES_BACKUP_FD_CHANNEL"

const maxToken = 64

// FDChannel is the host's end of a plugin's fd channel.
type FDChannel struct {
	mu   sync.Mutex
	conn *net.UnixConn
}

// NewFDChannelPair returns the host's end and the file to give the plugin
// (exec.Cmd.ExtraFiles); close the plugin's file after the plugin started.
func NewFDChannelPair() (*FDChannel, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("fd channel: %w", err)
	}
	host := os.NewFile(uintptr(fds[0]), "fd-channel-host")
	child := os.NewFile(uintptr(fds[1]), "fd-channel-plugin")
	c, err := net.FileConn(host)
	host.Close()
	if err != nil {
		child.Close()
		return nil, nil, fmt.Errorf("fd channel: %w", err)
	}
	return &FDChannel{conn: c.(*net.UnixConn)}, child, nil
}

// Send passes files to the plugin under token. The caller keeps its own
// descriptors and closes them when it no longer needs them.
func (c *FDChannel) Send(token string, files ...*os.File) error {
	if len(token) == 0 || len(token) > maxToken {
		return fmt.Errorf("fd channel: bad token length %d", len(token))
	}
	// SyscallConn, not Fd: Fd would switch the shared open file
	// description to blocking mode and break deadlines on it.
	fds := make([]int, len(files))
	for i, f := range files {
		rc, err := f.SyscallConn()
		if err != nil {
			return fmt.Errorf("fd channel: %w", err)
		}
		if err := rc.Control(func(fd uintptr) { fds[i] = int(fd) }); err != nil {
			return fmt.Errorf("fd channel: %w", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _, err := c.conn.WriteMsgUnix([]byte(token), syscall.UnixRights(fds...), nil)
	for _, f := range files {
		runtimeKeepAlive(f)
	}
	if err != nil {
		return fmt.Errorf("fd channel: send: %w", err)
	}
	return nil
}

// Close closes the host's end.
func (c *FDChannel) Close() error { return c.conn.Close() }

// Inbox is the plugin's end of the fd channel: files received, by token.
type Inbox struct {
	mu      sync.Mutex
	files   map[string][]*os.File
	waiters map[string]chan struct{}
	err     error
}

// OpenInbox starts the inbox on the fd channel named by EnvFDChannel, or
// returns nil when the plugin has none (bytes then travel over gRPC).
func OpenInbox() *Inbox {
	v := os.Getenv(EnvFDChannel)
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil
	}
	return InboxFrom(os.NewFile(uintptr(n), "fd-channel"))
}

// InboxFrom starts an inbox on the plugin's end of an fd channel; it takes
// ownership of f.
func InboxFrom(f *os.File) *Inbox {
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil
	}
	in := &Inbox{files: map[string][]*os.File{}, waiters: map[string]chan struct{}{}}
	go in.loop(c.(*net.UnixConn))
	return in
}

func (in *Inbox) loop(c *net.UnixConn) {
	buf := make([]byte, maxToken)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			in.mu.Lock()
			in.err = fmt.Errorf("fd channel closed: %w", err)
			for _, w := range in.waiters {
				close(w)
			}
			in.waiters = map[string]chan struct{}{}
			in.mu.Unlock()
			return
		}
		var files []*os.File
		if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				fds, err := syscall.ParseUnixRights(&m)
				if err != nil {
					continue
				}
				for _, fd := range fds {
					syscall.CloseOnExec(fd)
					files = append(files, os.NewFile(uintptr(fd), "stream-pipe"))
				}
			}
		}
		token := string(buf[:n])
		in.mu.Lock()
		in.files[token] = files
		// Descriptors for a call that never comes (the host failed between
		// sending them and calling) are closed after a while, so a pipe's
		// other end sees it gone instead of blocking forever.
		time.AfterFunc(2*time.Minute, func() { in.expire(token, files) })
		if w, ok := in.waiters[token]; ok {
			close(w)
			delete(in.waiters, token)
		}
		in.mu.Unlock()
	}
}

func (in *Inbox) expire(token string, files []*os.File) {
	in.mu.Lock()
	cur, ok := in.files[token]
	if ok && len(cur) > 0 && len(files) > 0 && cur[0] == files[0] {
		delete(in.files, token)
	} else {
		ok = false
	}
	in.mu.Unlock()
	if ok {
		closeFiles(files)
	}
}

// Take returns the files sent under token, waiting for them briefly.
func (in *Inbox) Take(ctx context.Context, token string, want int) ([]*os.File, error) {
	if in == nil {
		return nil, fmt.Errorf("stream asks for fd token %q but this plugin has no fd channel", token)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		in.mu.Lock()
		if files, ok := in.files[token]; ok {
			delete(in.files, token)
			in.mu.Unlock()
			if len(files) != want {
				closeFiles(files)
				return nil, fmt.Errorf("fd token %q: got %d descriptors, want %d", token, len(files), want)
			}
			return files, nil
		}
		if in.err != nil {
			in.mu.Unlock()
			return nil, in.err
		}
		w, ok := in.waiters[token]
		if !ok {
			w = make(chan struct{})
			in.waiters[token] = w
		}
		in.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return nil, fmt.Errorf("fd token %q never arrived: %w", token, ctx.Err())
		}
	}
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

func runtimeKeepAlive(f *os.File) { runtime.KeepAlive(f) }
