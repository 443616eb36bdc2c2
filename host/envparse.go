package host

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/joho/godotenv"
)

// envParseProblem explains why godotenv could not parse an env file without
// repeating godotenv's own message, which quotes the file's text — secrets
// included ("unterminated quoted value <the rest of the password line>").
// It names the first line that makes the file unparsable and, when that
// line is an assignment, its variable name (names are not secret).
func envParseProblem(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "it cannot be read"
	}
	return envParseProblemIn(data)
}

var envKeyRE = regexp.MustCompile(`^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=`)

// envParseProblemIn names the line after the longest prefix of lines that
// godotenv accepts: that line opened the problem (an unterminated quote
// fails every prefix from its opening line on, while a valid multi-line
// value only fails the prefixes that end inside it).
func envParseProblemIn(data []byte) string {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 5000 {
		return "it cannot be parsed"
	}
	good, n := 0, 0
	var firstErr error
	for i := range lines {
		n += len(lines[i])
		if _, err := godotenv.UnmarshalBytes(data[:n]); err == nil {
			good = i + 1
		} else if i+1 == len(lines) {
			firstErr = err
		}
	}
	if firstErr == nil || good >= len(lines) {
		return "it cannot be parsed"
	}
	what := "cannot be parsed"
	switch msg := firstErr.Error(); {
	case strings.HasPrefix(msg, "unterminated quoted value"):
		what = "has a quote that is never closed"
	case strings.HasPrefix(msg, "unexpected character"):
		what = "is not NAME=value (a variable name may hold only letters, digits, _ and .)"
	}
	where := "line " + strconv.Itoa(good+1)
	if m := envKeyRE.FindSubmatch(lines[good]); m != nil {
		where += " (" + string(m[1]) + ")"
	}
	return where + " " + what
}
