// SPDX-License-Identifier: Apache-2.0

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/joho/godotenv"
)

// EnvFileModeWarning returns a warning when an env file (which holds
// secrets) may be read by its group or by others, or "" when it is private.
func EnvFileModeWarning(path string) string {
	if path == "" {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return ""
	}
	who := "others"
	switch {
	case perm&0o070 != 0 && perm&0o007 != 0:
		who = "its group and others"
	case perm&0o070 != 0:
		who = "its group"
	}
	return fmt.Sprintf("env file %s holds secrets but may be read by %s (mode %04o): run chmod 600 %s", path, who, perm, path)
}

// envLine matches an assignment line of a docker-compose style env file:
// optional "export", the key, "=", the rest of the line.
var envLine = regexp.MustCompile(`^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_.]*)(\s*=\s*)(.*?)(\r?)$`)

// emptyValue reports whether the text after "=" leaves the value empty:
// nothing, or a pair of empty quotes optionally followed by a comment.
func emptyValue(rest string) bool {
	v := strings.TrimSpace(rest)
	for _, q := range []string{`""`, `''`} {
		if strings.HasPrefix(v, q) {
			v = strings.TrimSpace(v[len(q):])
			break
		}
	}
	return v == "" || strings.HasPrefix(v, "#")
}

// trailingComment returns the " # comment" part after an empty value.
func trailingComment(rest string) string {
	if i := strings.Index(rest, "#"); i >= 0 {
		return "  " + rest[i:]
	}
	return ""
}

// SetEnvIfEmpty sets key to value in an env file when the file holds no
// value for it, and never otherwise: an existing non-empty value is kept
// (changed=false). It edits the file line by line, so every other line,
// comment and blank stays as it was; the key's line is replaced where it is
// (the last one, which is the one that counts) or appended. The file is
// replaced atomically, keeps its owner and is left 0600. A missing file is
// created (0600). value must not need quoting beyond double quotes.
func SetEnvIfEmpty(path, key, value string) (changed bool, err error) {
	if strings.ContainsAny(value, "\"\\$`\n\r'") {
		return false, fmt.Errorf("value for %s contains characters that would need escaping", key)
	}
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p // replace the file a link points at, not the link
	}
	data, err := os.ReadFile(path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	// A UTF-8 byte order mark is kept where it is, outside the lines.
	bom := bytes.HasPrefix(data, utf8BOM)
	data = stripBOM(data)
	if exists {
		cur, err := godotenv.UnmarshalBytes(data)
		if err != nil {
			// Not godotenv's message: it quotes the file, secrets included.
			return false, fmt.Errorf("env file %s cannot be parsed: fix it before running this again (`timetiles-backup config` names the line)", path)
		}
		if cur[key] != "" {
			return false, nil
		}
	}
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	last := -1
	for i, l := range lines {
		m := envLine.FindStringSubmatch(strings.TrimSuffix(l, "\n"))
		if m != nil && m[2] == key {
			last = i
		}
	}
	assign := fmt.Sprintf("%s=%q", key, value)
	if last >= 0 {
		l := lines[last]
		nl := ""
		if strings.HasSuffix(l, "\n") {
			nl = "\n"
		}
		m := envLine.FindStringSubmatch(strings.TrimSuffix(l, "\n"))
		if !emptyValue(m[4]) {
			// godotenv read the value as empty but the line is not plainly
			// empty (e.g. a ${VAR} reference): do not guess.
			return false, fmt.Errorf("env file %s: %s has a value that is empty only after expansion (%q): set it by hand", path, key, strings.TrimSpace(m[4]))
		}
		lines[last] = m[1] + assign + trailingComment(m[4]) + m[5] + nl
	} else {
		if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") {
			lines[n-1] += "\n"
		}
		lines = append(lines, assign+"\n")
	}
	var out bytes.Buffer
	if bom {
		out.Write(utf8BOM)
	}
	for _, l := range lines {
		out.WriteString(l)
	}
	return true, writeFileAtomic(path, out.Bytes(), 0o600)
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it over path, keeping path's owner when it exists.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // after a successful rename this removes nothing
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			_ = tmp.Chown(int(st.Uid), int(st.Gid))
		}
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// WriteFileAtomic writes a file so that readers see the old or the new
// content, never a part (metrics files, cron files, units).
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeFileAtomic(path, data, perm)
}
