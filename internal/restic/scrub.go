// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
)

// scrubber replaces secrets (and their URL/JSON-escaped forms) by "[redacted]".
type scrubber struct{ secrets []string }

const redacted = "[redacted]"

var secretKeyRE = regexp.MustCompile(`(?i)SECRET|PASSW|TOKEN|KEY|CREDENTIAL|SESSION|AUTH`)

// add scrubs v (and its escaped forms) when it is at least minLen long.
func (s *scrubber) add(v string, minLen int) {
	if len(v) < minLen {
		return
	}
	s.secrets = append(s.secrets, v)
	for _, alt := range []string{url.QueryEscape(v), url.PathEscape(v), jsonEscape(v)} {
		if alt != v {
			s.secrets = append(s.secrets, alt)
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
}

func (r *Repo) scrubber() *scrubber {
	s := &scrubber{}
	add := s.add
	add(r.Password, 1)
	if r.PasswordFile != "" {
		if b, err := os.ReadFile(r.PasswordFile); err == nil {
			add(strings.TrimRight(string(b), "\r\n"), 1)
		}
	}
	for _, kv := range r.Env {
		k, v, _ := strings.Cut(kv, "=")
		if secretKeyRE.MatchString(k) {
			add(v, 1)
		} else {
			add(v, 4) // short non-secret values ("1", "off") would garble messages
		}
	}
	if u, err := url.Parse(strings.TrimPrefix(strings.TrimPrefix(r.Repository, "rest:"), "s3:")); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			add(pw, 1)
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
	return s
}

func jsonEscape(v string) string {
	b, _ := json.Marshal(v)
	return string(b[1 : len(b)-1])
}

func (s *scrubber) scrub(str string) string {
	for _, sec := range s.secrets {
		if strings.Contains(str, sec) {
			str = strings.ReplaceAll(str, sec, redacted)
		}
	}
	return str
}

func (s *scrubber) scrubAll(a []string) []string {
	out := make([]string, len(a))
	for i, v := range a {
		out[i] = s.scrub(v)
	}
	return out
}
