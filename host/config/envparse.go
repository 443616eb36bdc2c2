// SPDX-License-Identifier: Apache-2.0

package config

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/joho/godotenv"
)

// utf8BOM is the byte order mark some editors (Notepad, some web panels)
// put at the start of a UTF-8 file. godotenv reads it as part of the first
// variable's name and fails, so it is dropped before parsing.
var utf8BOM = []byte("\xef\xbb\xbf")

// stripBOM returns data without a leading UTF-8 byte order mark.
func stripBOM(data []byte) []byte { return bytes.TrimPrefix(data, utf8BOM) }

// parseEnv parses an env file's content with godotenv, a leading UTF-8 BOM
// accepted.
func parseEnv(data []byte) (map[string]string, error) {
	return godotenv.UnmarshalBytes(stripBOM(data))
}

var envKeyRE = regexp.MustCompile(`^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=`)

// envParseProblemIn explains why godotenv could not parse an env file
// without repeating godotenv's own message, which quotes the file's text —
// secrets included ("unterminated quoted value <the rest of the password
// line>"). It names the line that makes the file unparsable and, when that
// line is an assignment, its variable name (names are not secret).
//
// godotenv parses statement after statement, each ending at a line end (an
// unquoted value) or at its closing quote (a quoted one, which may span
// lines), and reports no position. So the file is walked statement by
// statement: from a line where a statement starts, the one line is parsed
// alone (the common case, linear in the file). When it does not parse, the
// statement spans lines or is broken; "the statement is complete in the
// first e lines" only grows with e, so the end is found by galloping and
// bisection over e — O(length · log length) per multi-line value — and a
// statement that never completes is the bad one. Parsing every prefix of
// the file instead, as this did before, took ~2 minutes for 5,000 lines
// (BenchmarkEnvParseProblem).
func envParseProblemIn(data []byte) string {
	data = stripBOM(data)
	// starts[i] is the offset of line i; starts[n] == len(data).
	starts := []int{0}
	for i, b := range data {
		if b == '\n' && i+1 < len(data) {
			starts = append(starts, i+1)
		}
	}
	starts = append(starts, len(data))
	n := len(starts) - 1
	parse := func(a, b int) (map[string]string, error) {
		return godotenv.UnmarshalBytes(data[starts[a]:starts[b]])
	}
	line := func(i int) []byte { return data[starts[i]:starts[i+1]] }
	for s := 0; s < n; {
		m, err := parse(s, s+1)
		if err == nil {
			s++
			continue
		}
		if len(m) > 0 {
			// A statement ended on this line and what follows it on the
			// same line does not parse.
			return describeEnvProblem(s, line(s), err)
		}
		// complete(e): the statement starting on line s ends within lines
		// s..e-1. False for e = s+1.
		lastErr := err
		complete := func(e int) bool {
			m, err := parse(s, e)
			if err != nil {
				lastErr = err
			}
			return err == nil || len(m) > 0
		}
		lo, hi := s+1, -1
		for step := 1; ; step *= 2 {
			e := min(s+1+step, n)
			if complete(e) {
				hi = e
				break
			}
			lo = e
			if e == n {
				break
			}
		}
		if hi < 0 {
			// The statement never ends (an unterminated quote) or its name
			// is not a name: this line is the problem.
			return describeEnvProblem(s, line(s), lastErr)
		}
		for hi-lo > 1 {
			if mid := (lo + hi) / 2; complete(mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
		if _, err := parse(s, hi); err != nil {
			// The quote opened on line s closes on line hi-1 and what
			// follows it there does not parse: most often a quote left
			// open on line s, closed by the next value's opening quote.
			where := describeEnvProblem(s, line(s), errors.New("unterminated quoted value"))
			return strings.TrimSuffix(where, " has a quote that is never closed") +
				" opens a quote that is closed only on line " + strconv.Itoa(hi) +
				", where the rest of the line is not NAME=value; close the quote on line " + strconv.Itoa(s+1)
		}
		s = hi
	}
	return "it cannot be parsed"
}

// describeEnvProblem words godotenv's error for line i (0-based) without
// quoting the line.
func describeEnvProblem(i int, text []byte, err error) string {
	what := "cannot be parsed"
	switch msg := err.Error(); {
	case strings.HasPrefix(msg, "unterminated quoted value"):
		what = "has a quote that is never closed"
	case strings.HasPrefix(msg, "unexpected character"):
		what = "is not NAME=value (a variable name may hold only letters, digits, _ and .)"
	}
	where := "line " + strconv.Itoa(i+1)
	if m := envKeyRE.FindSubmatch(text); m != nil {
		where += " (" + string(m[1]) + ")"
	}
	return where + " " + what
}
