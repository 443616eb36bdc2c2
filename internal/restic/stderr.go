// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

const maxStderr = 256 << 10 // bytes of stderr lines kept (the tail)

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// stderrCapture collects restic's stderr: scrubbed lines (bounded, the tail
// is kept), the exit_error message of restic ≥ 0.18 (`{"message_type":
// "exit_error","code":N,"message":…}`) and backup's per-item error messages
// (`{"message_type":"error","error":{"message":…},"during":…,"item":…}`).
type stderrCapture struct {
	mu        sync.Mutex
	sc        *scrubber
	log       hclog.Logger
	partial   []byte
	lines     []string
	size      int
	dropped   int
	exitError string
	items     []string
	onLine    func(line string) // called with every scrubbed line (giveUpOnRetry)
}

// ErrRetrying: a command run with giveUpOnRetry was stopped when restic
// began retrying a failing request to the repository.
var ErrRetrying = errors.New("restic began retrying a failing request to the repository")

var retryRE = regexp.MustCompile(`returned error, retrying after`)

// giveUpAfterRetries: the retry line of restic's that stops a
// giveUpOnRetry command (about 15 s after the first failure).
const giveUpAfterRetries = 4

func newStderrCapture(sc *scrubber, log hclog.Logger) *stderrCapture {
	return &stderrCapture{sc: sc, log: log}
}

func (c *stderrCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.handle(string(c.partial[:i]))
		c.partial = c.partial[i+1:]
	}
	if len(c.partial) > 64<<10 { // a very long line: handle it in pieces
		c.handle(string(c.partial))
		c.partial = nil
	}
	return len(p), nil
}

func (c *stderrCapture) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.partial) > 0 {
		c.handle(string(c.partial))
		c.partial = nil
	}
}

func (c *stderrCapture) handle(line string) {
	line = ansiRE.ReplaceAllString(strings.TrimRight(line, "\r"), "")
	line = c.sc.scrub(line)
	if strings.TrimSpace(line) == "" {
		return
	}
	if c.onLine != nil {
		c.onLine(line)
	}
	if strings.HasPrefix(line, "{") {
		var m struct {
			MessageType string          `json:"message_type"`
			Message     string          `json:"message"`
			Error       json.RawMessage `json:"error"`
			During      string          `json:"during"`
			Item        string          `json:"item"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.MessageType != "" {
			switch m.MessageType {
			case "exit_error":
				// Scrub again: JSON escapes could have hidden a secret.
				c.exitError = c.sc.scrub(strings.TrimSpace(m.Message))
				return
			case "error":
				var eo struct {
					Message string `json:"message"`
				}
				_ = json.Unmarshal(m.Error, &eo) // 0.16 marshals the error as {}
				msg := c.sc.scrub(strings.TrimSpace(fmt.Sprintf("%s %s: %s", m.During, m.Item, eo.Message)))
				c.log.Warn("restic reported an error", "message", msg)
				if len(c.items) < 100 {
					c.items = append(c.items, msg)
				}
				return
			}
		}
	}
	c.log.Debug("restic stderr", "line", line)
	c.lines = append(c.lines, line)
	c.size += len(line)
	for c.size > maxStderr && len(c.lines) > 1 {
		c.size -= len(c.lines[0])
		c.lines = c.lines[1:]
		c.dropped++
	}
}

// text is everything kept, for classification.
func (c *stderrCapture) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	parts := append([]string{}, c.lines...)
	parts = append(parts, c.items...)
	if c.exitError != "" {
		parts = append(parts, c.exitError)
	}
	return strings.Join(parts, "\n")
}

var (
	// Go stack frames of 0.16's "%+v" error output: a symbol line followed
	// by a tab-indented file:line.
	frameFileRE = regexp.MustCompile(`^\t`)
	// Noise that precedes the real message.
	noiseRE = regexp.MustCompile(`returned error, retrying after|^signal \S+ received, cleaning up|repo already locked, waiting up to|^using temporary cache in|^(created|create) (new cache|exclusive lock)`)
)

// meaningful returns the stderr lines without stack frames and noise.
func (c *stderrCapture) meaningful() []string {
	var out []string
	for i := 0; i < len(c.lines); i++ {
		l := c.lines[i]
		if frameFileRE.MatchString(l) {
			continue
		}
		if i+1 < len(c.lines) && frameFileRE.MatchString(c.lines[i+1]) && !strings.Contains(l, " ") {
			continue // symbol line of a stack frame
		}
		if noiseRE.MatchString(l) {
			continue
		}
		if len(out) > 0 && out[len(out)-1] == l {
			continue
		}
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

// message is restic's explanation of its failure, one line.
func (c *stderrCapture) message() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exitError != "" {
		return oneLine(c.exitError)
	}
	lines := c.meaningful()
	if len(lines) == 0 && len(c.items) > 0 {
		lines = c.items
	}
	lines = limitLines(lines, 12)
	return truncate(oneLine(strings.Join(lines, "\n")), 4000)
}

// warnings are the meaningful stderr lines of a successful run (e.g.
// "Remove(<lock/…>) failed: Access Denied" on a write-only bucket).
func (c *stderrCapture) warnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append(c.meaningful(), c.items...)
}

func limitLines(lines []string, n int) []string {
	if len(lines) > n {
		return append([]string{fmt.Sprintf("(%d earlier lines omitted)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return lines
}

func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
