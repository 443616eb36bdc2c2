// SPDX-License-Identifier: Apache-2.0

package config

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Secrets returns the non-empty values of keys that are secret, so that
// they can be scrubbed from any text shown to the operator (Scrub). A
// short value is returned too: Scrub removes it where it stands as a whole
// word, so that it never passes while ordinary words stay readable.
func (c *Config) Secrets(isSecret func(string) bool) []string {
	var out []string
	for k, v := range c.values {
		if v != "" && isSecret(k) {
			out = append(out, v)
		}
	}
	return out
}

// IsSecretKey reports whether a variable name denotes a secret.
func IsSecretKey(k string) bool {
	u := strings.ToUpper(k)
	for _, s := range []string{"PASSWORD", "SECRET", "_PASS", "TOKEN", "DATABASE_URL", "PRIVATE"} {
		if strings.Contains(u, s) {
			return true
		}
	}
	return false
}

// MinSubstringSecret is the length (in characters) from which Scrub
// removes a secret wherever it occurs, even inside a longer word. The
// bundled alert notifier uses the same length for its own scrubbing
// (plugins/notify-alert/notifier.go).
const MinSubstringSecret = 6

// Scrub replaces every secret in s with "***".
//
// A secret of MinSubstringSecret characters or more is replaced wherever it
// occurs. A shorter one is replaced only where it occurs whole: not glued
// to a letter or digit on a side where the secret itself begins or ends
// with a letter or digit. A password "ab" is removed from "user:ab@db",
// "password ab" or "ab" alone, but "table" stays "table". This is the safe
// choice, not only the readable one: every occurrence of the secret that
// stands as a token of its own is removed, and the occurrences left are
// inside ordinary words, which say nothing about the secret — while
// "t***le" in place of "table" would tell a reader the password. What
// passes is a short secret printed glued to other letters or digits
// ("xab1" for "ab"), where the reader cannot tell it from an ordinary
// word either.
//
// Secrets are replaced longest first, so that a secret containing another
// is removed whole, not leaving its other characters behind.
func Scrub(s string, secrets []string) string {
	secrets = slices.Clone(secrets)
	slices.SortStableFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range secrets {
		switch {
		case sec == "":
		case utf8.RuneCountInString(sec) >= MinSubstringSecret:
			s = strings.ReplaceAll(s, sec, "***")
		default:
			s = replaceWhole(s, sec)
		}
	}
	return s
}

// replaceWhole replaces with "***" the occurrences of sec in s that are
// not glued to a letter or digit (see Scrub).
func replaceWhole(s, sec string) string {
	first, _ := utf8.DecodeRuneInString(sec)
	last, _ := utf8.DecodeLastRuneInString(sec)
	needLeft, needRight := isWordRune(first), isWordRune(last)
	var b strings.Builder
	from := 0 // s[:from] is written or skipped
	for i := 0; i <= len(s)-len(sec); {
		j := strings.Index(s[i:], sec)
		if j < 0 {
			break
		}
		at, end := i+j, i+j+len(sec)
		before, _ := utf8.DecodeLastRuneInString(s[:at])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if (needLeft && at > 0 && isWordRune(before)) || (needRight && end < len(s) && isWordRune(after)) {
			_, size := utf8.DecodeRuneInString(s[at:])
			i = at + size
			continue
		}
		b.WriteString(s[from:at])
		b.WriteString("***")
		from, i = end, end
	}
	if from == 0 {
		return s
	}
	b.WriteString(s[from:])
	return b.String()
}

// isWordRune reports whether r is a letter or a digit: a character that
// makes a short secret part of a longer word.
func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
