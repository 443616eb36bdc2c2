// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// A plugin logs hclog JSON lines on stderr (Logger). go-plugin would parse
// them itself, but into map[string]interface{}: every number becomes a
// float64 (bytes="8.890163e+06", duration="7.403e+09"), and the lines come
// out under the caller's logger name joined with the binary's
// ("timetiles-backup.source-postgres.timetiles-backup-source-postgres").
// Launch therefore silences go-plugin's copy and re-logs each line here:
// numbers as the plugin wrote them (integers stay integers), under the
// plugin's short name ("source-postgres: database dumped bytes=8890163").

// pluginLogWriter receives a plugin's stderr, line by line, from go-plugin
// (ClientConfig.Stderr) and logs each line on log.
type pluginLogWriter struct {
	log hclog.Logger

	mu      sync.Mutex
	buf     []byte
	inPanic bool
}

func newPluginLogWriter(log hclog.Logger, path string) *pluginLogWriter {
	name := strings.TrimPrefix(filepath.Base(path), "timetiles-backup-")
	return &pluginLogWriter{log: log.ResetNamed(name)}
}

func (w *pluginLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 1<<20 { // a line longer than any log line: pass it on
		w.line(w.buf)
		w.buf = nil
	}
	return len(p), nil
}

// line logs one line of the plugin's stderr.
func (w *pluginLogWriter) line(b []byte) {
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	var raw map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if b[0] != '{' || d.Decode(&raw) != nil {
		w.plain(string(b))
		return
	}
	msg, _ := raw["@message"].(string)
	level := hclog.LevelFromString(stringOf(raw["@level"]))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	// hclog's own fields, and go-plugin's copy of the time: the host's
	// logger writes its own time.
	for _, k := range []string{"@message", "@level", "@timestamp", "@module", "@caller", "timestamp"} {
		delete(raw, k)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k, number(raw[k]))
	}
	w.log.Log(level, msg, args...)
}

// plain logs a line that is not hclog JSON (a panic, a stray print) at the
// level its prefix names, like go-plugin does.
func (w *pluginLogWriter) plain(line string) {
	switch {
	case strings.HasPrefix(line, "[TRACE]"):
		w.log.Trace(line)
	case strings.HasPrefix(line, "[DEBUG]"):
		w.log.Debug(line)
	case strings.HasPrefix(line, "[INFO]"):
		w.log.Info(line)
	case strings.HasPrefix(line, "[WARN]"):
		w.log.Warn(line)
	case strings.HasPrefix(line, "[ERROR]"):
		w.log.Error(line)
	case strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: "):
		w.inPanic = true
		w.log.Error(line)
	case w.inPanic:
		w.log.Error(line)
	default:
		w.log.Debug(line)
	}
}

// number turns a JSON number into an int64 when it is one, else a float64;
// inside objects and arrays too.
func number(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case map[string]any:
		for k, x := range v {
			v[k] = number(x)
		}
	case []any:
		for i, x := range v {
			v[i] = number(x)
		}
	}
	return v
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

// quietStderrLogger is the logger handed to go-plugin: the same, except the
// logger go-plugin names after the binary to re-log the plugin's stderr,
// which is silenced (pluginLogWriter logs those lines).
type quietStderrLogger struct {
	hclog.Logger
	binary string
}

func (l quietStderrLogger) Named(name string) hclog.Logger {
	if name == l.binary {
		return hclog.NewNullLogger()
	}
	return l.Logger.Named(name)
}
